import { createValidator, type Validator } from './validation';

export const envelopeSchemaFile = 'envelope.v1.json';
export const envelopeContentType = 'application/vnd.sluice.envelope.v1+json';

export type Source = 'trieve' | 'trieve_ctr' | 'neuralens' | 'greenflash' | 'native';
export type ValueType = 'currency' | 'numeric' | 'text' | 'boolean';
export type Influence = 'positive' | 'negative' | 'neutral';

export interface Geo {
  lat?: number | null;
  long?: number | null;
  region?: string | null;
}

/** schemas/envelope.v1.json as a type; a unit test keeps the two in step. */
export interface Envelope {
  schema_version: 1;
  event_id: string;
  insert_id: string;
  dataset_id: string;
  source: Source;
  event_type: string;
  event_name: string;
  occurred_at: number;
  received_at: number;
  user_id?: string | null;
  organization_id?: string | null;
  request_id?: string | null;
  request_type?: string | null;
  position?: number | null;
  query?: string | null;
  page?: string | null;
  items?: string[];
  is_conversion?: boolean | null;
  revenue?: number | null;
  value?: string | null;
  value_type?: ValueType | null;
  influence?: Influence | null;
  quality_score?: number | null;
  geo?: Geo | null;
  sample_rate?: number;
  force_sample?: boolean;
  properties?: Record<string, unknown> | null;
  raw?: unknown;
}

let envelopeValidator: Validator<Envelope> | undefined;

/** Validates (and fills the schema's defaults into) an envelope; compiled on first use. */
export function validateEnvelope(value: unknown): ReturnType<Validator<Envelope>> {
  envelopeValidator ??= createValidator<Envelope>(envelopeSchemaFile);
  return envelopeValidator(value);
}

/**
 * The Kafka message key. Kafka hashes the key to pick the partition, so every copy of
 * one insert_id in one dataset lands on the same partition, in order.
 */
export function envelopeKey(envelope: Pick<Envelope, 'dataset_id' | 'insert_id'>): string {
  return `${envelope.dataset_id}/${envelope.insert_id}`;
}
