import type { Envelope } from '../envelope';

/** What the transport knows about the request, apart from the body. */
export interface RequestContext {
  datasetId: string;
  eventId: string;
  receivedAt: number;
  /** The Idempotency-Key header, when the producer sent one. */
  idempotencyKey?: string | undefined;
}

type Identity = 'schema_version' | 'event_id' | 'dataset_id' | 'source' | 'raw';

/**
 * An envelope from what one dialect said: the request's identity and times, the fields every
 * dialect fills as they are when it says nothing of them, then the dialect's own fields (which may
 * override insert_id and occurred_at), then the body as raw. One literal and Object.assign, not
 * object spreads: 0.18 against 0.49 µs an envelope (microbenchmark), the same keys in the same order.
 */
export function envelopeOf(source: Envelope['source'], context: RequestContext, fields: Omit<Envelope, Identity | 'insert_id' | 'occurred_at' | 'received_at'> & Partial<Pick<Envelope, 'insert_id' | 'occurred_at'>>, raw: unknown): Envelope {
  const envelope = {
    schema_version: 1 as const,
    event_id: context.eventId,
    insert_id: context.idempotencyKey ?? context.eventId,
    dataset_id: context.datasetId,
    source,
    occurred_at: context.receivedAt,
    received_at: context.receivedAt,
    user_id: null,
    organization_id: null,
    request_id: null,
    request_type: null,
    position: null,
    query: null,
    page: null,
    items: [],
    is_conversion: null,
    revenue: null,
    properties: null,
  };
  return Object.assign(envelope, fields, { raw });
}

/** Producers' metadata is any JSON; the envelope's properties is an object, so other values are wrapped. */
export function asProperties(metadata: unknown): Record<string, unknown> | null {
  if (metadata === undefined || metadata === null) return null;
  return isPlainObject(metadata) ? metadata : { value: metadata };
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
