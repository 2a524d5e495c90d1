import type { Envelope } from '../envelope';
import { createValidator, type Validator } from '../validation';

/** A Trieve EventTypes body as schemas/dialects/trieve-event.json accepts it. */
export interface TrieveEvent {
  event_type: 'view' | 'add_to_cart' | 'click' | 'purchase' | 'filter_clicked' | 'search' | 'rag' | 'recommendation';
  event_name?: string;
  items?: string[] | { tracking_id: string; revenue: number }[] | Record<string, string>;
  clicked_items?: { chunk_id: string; position: number } | null;
  request?: { request_id: string; request_type: 'search' | 'rag' | 'recommendation' } | null;
  is_conversion?: boolean | null;
  location?: string | null;
  metadata?: unknown;
  user_id?: string | null;
  query?: string;
  user_message?: string;
  search_id?: string | null;
  positive_tracking_ids?: string[] | null;
  positive_ids?: string[] | null;
}

export const trieveEventSchemaFile = 'dialects/trieve-event.json';

let validator: Validator<TrieveEvent> | undefined;
export function validateTrieveEvent(value: unknown): ReturnType<Validator<TrieveEvent>> {
  validator ??= createValidator<TrieveEvent>(trieveEventSchemaFile);
  return validator(value);
}

/** What the transport knows about the request, apart from the body. */
export interface RequestContext {
  datasetId: string;
  eventId: string;
  receivedAt: number;
  /** The Idempotency-Key header, when the producer sent one. */
  idempotencyKey?: string | undefined;
}

type DialectFields = Omit<Envelope, 'schema_version' | 'event_id' | 'insert_id' | 'dataset_id' | 'source' | 'occurred_at' | 'received_at' | 'raw'>;

/**
 * Per-type mapping, kept as data: each entry says where the envelope's fields come from
 * for one Trieve event_type. Trieve sends no event time, so occurred_at is the receive time.
 */
const trieveMappings: Record<TrieveEvent['event_type'], (event: TrieveEvent) => Partial<DialectFields>> = {
  view: (e) => ({ items: stringItems(e.items) }),
  add_to_cart: (e) => ({ items: stringItems(e.items) }),
  click: (e) => ({
    items: e.clicked_items ? [e.clicked_items.chunk_id] : [],
    position: e.clicked_items?.position ?? null,
  }),
  purchase: (e) => {
    const items = purchaseItems(e.items);
    return { items: items.map((i) => i.tracking_id), revenue: items.reduce((sum, i) => sum + i.revenue, 0) };
  },
  filter_clicked: (e) => ({ items: filterItems(e.items) }),
  search: (e) => ({ query: e.query ?? null, request_type: 'search' }),
  rag: (e) => ({ query: e.user_message ?? null, request_type: 'rag', request_id: e.search_id ?? null }),
  recommendation: (e) => ({ items: e.positive_tracking_ids ?? e.positive_ids ?? [], request_type: 'recommendation' }),
};

export function normaliseTrieveEvent(event: TrieveEvent, context: RequestContext): Envelope {
  const mapped = trieveMappings[event.event_type](event);
  return {
    schema_version: 1,
    event_id: context.eventId,
    insert_id: context.idempotencyKey ?? context.eventId,
    dataset_id: context.datasetId,
    source: 'trieve',
    event_type: event.event_type,
    event_name: event.event_name ?? event.event_type,
    occurred_at: context.receivedAt,
    received_at: context.receivedAt,
    user_id: event.user_id ?? null,
    organization_id: null,
    request_id: event.request?.request_id ?? null,
    request_type: event.request?.request_type ?? null,
    position: null,
    query: null,
    page: event.location ?? null,
    items: [],
    is_conversion: event.is_conversion ?? null,
    revenue: null,
    properties: isPlainObject(event.metadata) ? event.metadata : event.metadata === undefined || event.metadata === null ? null : { value: event.metadata },
    ...mapped,
    raw: event,
  };
}

function stringItems(items: TrieveEvent['items']): string[] {
  return Array.isArray(items) ? items.filter((i): i is string => typeof i === 'string') : [];
}

function purchaseItems(items: TrieveEvent['items']): { tracking_id: string; revenue: number }[] {
  return Array.isArray(items) ? items.filter((i): i is { tracking_id: string; revenue: number } => typeof i === 'object') : [];
}

/** filter_clicked items are {filter_type::field_name: value}; we keep them as "name=value". */
function filterItems(items: TrieveEvent['items']): string[] {
  return items !== undefined && !Array.isArray(items) ? Object.entries(items).map(([name, value]) => `${name}=${value}`) : [];
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
