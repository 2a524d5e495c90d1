import type { Envelope } from '../envelope';

/** What the transport knows about the request, apart from the body. */
export interface RequestContext {
  datasetId: string;
  eventId: string;
  receivedAt: number;
  /** The Idempotency-Key header, when the producer sent one. */
  idempotencyKey?: string | undefined;
}

/** The envelope fields every dialect fills, as they are when the dialect says nothing of them. */
const unsaid = {
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
} satisfies Partial<Envelope>;

type Identity = 'schema_version' | 'event_id' | 'dataset_id' | 'source' | 'raw';

/**
 * An envelope from what one dialect said: the request's identity and times, `unsaid` for what it
 * left out, then the dialect's own fields (which may override insert_id and occurred_at).
 */
export function envelopeOf(source: Envelope['source'], context: RequestContext, fields: Omit<Envelope, Identity | 'insert_id' | 'occurred_at' | 'received_at'> & Partial<Pick<Envelope, 'insert_id' | 'occurred_at'>>, raw: unknown): Envelope {
  return {
    schema_version: 1,
    event_id: context.eventId,
    insert_id: context.idempotencyKey ?? context.eventId,
    dataset_id: context.datasetId,
    source,
    occurred_at: context.receivedAt,
    received_at: context.receivedAt,
    ...unsaid,
    ...fields,
    raw,
  };
}

/** Producers' metadata is any JSON; the envelope's properties is an object, so other values are wrapped. */
export function asProperties(metadata: unknown): Record<string, unknown> | null {
  if (metadata === undefined || metadata === null) return null;
  return isPlainObject(metadata) ? metadata : { value: metadata };
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
