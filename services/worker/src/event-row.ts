import type { ConsumedMessage } from '@sluice/core';
import type { Envelope } from '@sluice/envelope';

/** One row of the events table: the envelope's fields under their own names, plus lineage. */
export interface EventRow {
  event_id: string;
  insert_id: string;
  dataset_id: string;
  source: string;
  event_type: string;
  event_name: string;
  occurred_at: number;
  received_at: number;
  user_id: string | null;
  organization_id: string | null;
  request_id: string | null;
  request_type: string | null;
  position: number | null;
  query: string | null;
  page: string | null;
  items: string[];
  is_conversion: boolean | null;
  revenue: number | null;
  value: string | null;
  value_type: string | null;
  influence: string | null;
  quality_score: number | null;
  geo_lat: number | null;
  geo_long: number | null;
  geo_region: string | null;
  sample_rate: number;
  force_sample: boolean;
  properties: string;
  raw: string;
  schema_version: number;
  kafka_topic: string;
  kafka_partition: number;
  kafka_offset: string;
}

/** The row of an envelope; `sampleRate` is the sampling step's, which replaces the producer's own. */
export function toEventRow(envelope: Envelope, message: Pick<ConsumedMessage, 'topic' | 'partition' | 'offset'>, sampleRate = envelope.sample_rate ?? 1): EventRow {
  return {
    event_id: envelope.event_id,
    insert_id: envelope.insert_id,
    dataset_id: envelope.dataset_id,
    source: envelope.source,
    event_type: envelope.event_type,
    event_name: envelope.event_name,
    occurred_at: envelope.occurred_at,
    received_at: envelope.received_at,
    user_id: envelope.user_id ?? null,
    organization_id: envelope.organization_id ?? null,
    request_id: envelope.request_id ?? null,
    request_type: envelope.request_type ?? null,
    position: envelope.position ?? null,
    query: envelope.query ?? null,
    page: envelope.page ?? null,
    items: envelope.items ?? [],
    is_conversion: envelope.is_conversion ?? null,
    revenue: envelope.revenue === undefined || envelope.revenue === null ? null : toMicros(envelope.revenue),
    value: envelope.value ?? null,
    value_type: envelope.value_type ?? null,
    influence: envelope.influence ?? null,
    quality_score: envelope.quality_score ?? null,
    geo_lat: envelope.geo?.lat ?? null,
    geo_long: envelope.geo?.long ?? null,
    geo_region: envelope.geo?.region ?? null,
    sample_rate: sampleRate,
    force_sample: envelope.force_sample ?? false,
    properties: JSON.stringify(envelope.properties ?? {}),
    raw: JSON.stringify(envelope.raw ?? null),
    schema_version: envelope.schema_version,
    kafka_topic: message.topic,
    kafka_partition: message.partition,
    kafka_offset: message.offset,
  };
}

/**
 * Revenue to the column's 6 decimals, rounded. ClickHouse truncates extra digits when it parses a
 * Decimal, so a float sum such as 0.7 + 0.1 (0.7999999999999999) would be stored as 0.799999.
 */
function toMicros(amount: number): number {
  return Math.round(amount * 1e6) / 1e6;
}
