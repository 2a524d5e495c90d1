import { validateEnvelope, type Envelope } from '../envelope';
import { formatIssues, loadSchema } from '../validation';
import type { RequestContext } from './common';
import { normaliseTrieveEvent, trieveEventSchemaFile, validateTrieveEvent, type TrieveEvent } from './trieve-events';
import { validationProbe } from './probe.test-support';

type EventType = TrieveEvent['event_type'];
type Body = Record<string, unknown>;

const eventTypes = ['view', 'add_to_cart', 'click', 'purchase', 'filter_clicked', 'search', 'rag', 'recommendation'] as const satisfies readonly EventType[];

const chunkId = '3c90c3cc-0d44-4b50-8888-8dd25736052a';
const requestId = '9b2d1c5e-7a41-4f0e-b3d2-1a6c0e8f4b7d';
const searchId = 'e1c3a7b9-2d4f-4e6a-8b0c-5d7f9a1b3c5e';
const topicId = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';

const context: RequestContext = {
  datasetId: '5a7c3a4e-2f1b-4c55-9b0e-6f7d8e9a0b1c',
  eventId: '1f0e4a52-8d1c-4b8e-9a4e-2f6f5c1d9b10',
  receivedAt: 1715644800123,
};

/** One valid body per event type, shaped like the examples on Trieve's API page. */
const validBodies: Record<EventType, Body> = {
  view: {
    event_type: 'view',
    event_name: 'product_viewed',
    items: ['sku-1', 'sku-2'],
    location: '/products/shoes',
    user_id: 'user-1',
    request: { request_id: requestId, request_type: 'search' },
    metadata: { campaign: 'spring' },
  },
  add_to_cart: {
    event_type: 'add_to_cart',
    event_name: 'added_to_cart',
    items: ['sku-3'],
    is_conversion: true,
    location: '/cart',
    user_id: 'user-2',
    request: { request_id: requestId, request_type: 'recommendation' },
  },
  click: {
    event_type: 'click',
    event_name: 'Click',
    clicked_items: { chunk_id: chunkId, position: 3 },
    request: { request_id: requestId, request_type: 'search' },
    is_conversion: false,
    user_id: 'user-3',
  },
  purchase: {
    event_type: 'purchase',
    event_name: 'order_completed',
    items: [
      { tracking_id: 'sku-1', revenue: 19.5 },
      { tracking_id: 'sku-2', revenue: 5.25 },
    ],
    is_conversion: true,
    request: { request_id: requestId, request_type: 'rag' },
    metadata: { order: 'A-7781' },
  },
  filter_clicked: {
    event_type: 'filter_clicked',
    event_name: 'filter_clicked',
    items: { 'search::category': 'shoes', 'search::color': 'red' },
    location: '/search',
  },
  search: {
    event_type: 'search',
    query: 'running shoes',
    tokens: 12,
    search_type: 'search',
    latency: 0.12,
    top_score: 0.93,
    results: [],
    user_id: 'user-4',
    metadata: 'ab-test-b',
  },
  rag: {
    event_type: 'rag',
    user_message: 'How do I return shoes?',
    tokens: 250,
    rag_type: 'chosen_chunks',
    llm_response: 'Send them back within 30 days.',
    search_id: searchId,
    topic_id: topicId,
    hallucination_score: 0.1,
    detected_hallucinations: [],
  },
  recommendation: { event_type: 'recommendation' },
};

/** Every field the normaliser fills for any event, before the per-type mapping. */
function baseEnvelope(eventType: EventType, body: Body): Envelope {
  return {
    schema_version: 1,
    event_id: context.eventId,
    insert_id: context.eventId,
    dataset_id: context.datasetId,
    source: 'trieve',
    event_type: eventType,
    event_name: eventType,
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
    raw: body,
  };
}

const expectedFields: Record<EventType, Partial<Envelope>> = {
  view: {
    event_name: 'product_viewed',
    items: ['sku-1', 'sku-2'],
    page: '/products/shoes',
    user_id: 'user-1',
    request_id: requestId,
    request_type: 'search',
    properties: { campaign: 'spring' },
  },
  add_to_cart: {
    event_name: 'added_to_cart',
    items: ['sku-3'],
    is_conversion: true,
    page: '/cart',
    user_id: 'user-2',
    request_id: requestId,
    request_type: 'recommendation',
  },
  click: {
    event_name: 'Click',
    items: [chunkId],
    position: 3,
    request_id: requestId,
    request_type: 'search',
    is_conversion: false,
    user_id: 'user-3',
  },
  purchase: {
    event_name: 'order_completed',
    items: ['sku-1', 'sku-2'],
    revenue: 24.75,
    is_conversion: true,
    request_id: requestId,
    request_type: 'rag',
    properties: { order: 'A-7781' },
  },
  filter_clicked: {
    event_name: 'filter_clicked',
    items: ['search::category=shoes', 'search::color=red'],
    page: '/search',
  },
  search: { query: 'running shoes', request_type: 'search', request_id: context.eventId, user_id: 'user-4', properties: { value: 'ab-test-b' } },
  rag: { query: 'How do I return shoes?', request_type: 'rag', request_id: context.eventId },
  recommendation: { request_type: 'recommendation', request_id: context.eventId },
};

function bodyOf(eventType: EventType, patch: Body = {}): Body {
  return { ...structuredClone(validBodies[eventType]), ...patch };
}

/** The oneOf branch of the Trieve schema for one event type. */
function schemaBranch(eventType: EventType): { required: string[]; properties: Record<string, unknown> } {
  const schema = loadSchema(trieveEventSchemaFile);
  const branches = schema.oneOf as { required: string[]; properties: Record<string, { const?: unknown }> }[];
  const branch = branches.find((b) => b.properties.event_type?.const === eventType);
  if (branch === undefined) throw new Error(`no schema branch for ${eventType}`);
  return branch;
}

const { accepted, rejected, expectRejectedAt } = validationProbe(validateTrieveEvent);

describe('valid Trieve events', () => {
  test.each(eventTypes)('%s is accepted and normalised to the exact envelope', (eventType) => {
    const body = bodyOf(eventType);
    const original = structuredClone(body);
    const envelope = normaliseTrieveEvent(accepted(body), context);
    expect(envelope).toEqual({ ...baseEnvelope(eventType, original), ...expectedFields[eventType] });
    // The original body travels unchanged as raw.
    expect(envelope.raw).toEqual(original);
    expect(body).toEqual(original);
  });

  test.each(eventTypes)('the normalised %s envelope passes validateEnvelope', (eventType) => {
    const envelope = normaliseTrieveEvent(accepted(bodyOf(eventType)), context);
    const result = validateEnvelope(structuredClone(envelope));
    expect(result.ok ? [] : formatIssues(result.issues)).toEqual([]);
  });

  test.each(eventTypes)('%s: the Idempotency-Key becomes insert_id; event_id stays the gateway id', (eventType) => {
    const envelope = normaliseTrieveEvent(accepted(bodyOf(eventType)), { ...context, idempotencyKey: 'order-7781' });
    expect(envelope.insert_id).toBe('order-7781');
    expect(envelope.event_id).toBe(context.eventId);
  });

  test.each(eventTypes)('%s: without an Idempotency-Key, insert_id is the event id', (eventType) => {
    expect(normaliseTrieveEvent(accepted(bodyOf(eventType)), context).insert_id).toBe(context.eventId);
    expect(normaliseTrieveEvent(accepted(bodyOf(eventType)), { ...context, idempotencyKey: undefined }).insert_id).toBe(context.eventId);
  });

  test.each([
    ['two items', [19.5, 5.25], 24.75],
    ['one item', [42], 42],
    ['no items', [], 0],
    ['a negative (refunded) item', [10, -2.5], 7.5],
    ['three items', [0.1, 0.2, 0.3], 0.6],
  ])('purchase revenue is the sum of the item revenues: %s', (_name, revenues, total) => {
    const items = revenues.map((revenue, i) => ({ tracking_id: `sku-${i}`, revenue }));
    const envelope = normaliseTrieveEvent(accepted(bodyOf('purchase', { items })), context);
    expect(envelope.revenue).toBeCloseTo(total, 10);
    expect(envelope.items).toEqual(items.map((i) => i.tracking_id));
  });

  test.each(['search', 'rag', 'recommendation'] as const)('%s: request_id is metadata.request_id, else the Idempotency-Key, else the event id', (eventType) => {
    const named = normaliseTrieveEvent(accepted(bodyOf(eventType, { metadata: { request_id: 'req-7' } })), { ...context, idempotencyKey: 'key-1' });
    expect(named.request_id).toBe('req-7');
    const keyed = normaliseTrieveEvent(accepted(bodyOf(eventType, { metadata: { request_id: 7 } })), { ...context, idempotencyKey: 'key-1' });
    expect(keyed.request_id).toBe('key-1');
    expect(normaliseTrieveEvent(accepted(bodyOf(eventType)), context).request_id).toBe(context.eventId);
  });

  test('a click without clicked_items has no items and no position', () => {
    const envelope = normaliseTrieveEvent(accepted({ event_type: 'click', event_name: 'Click' }), context);
    expect(envelope).toMatchObject({ items: [], position: null, request_id: null, request_type: null });
  });

  test('recommendation ids: positive_tracking_ids, else positive_ids', () => {
    expect(normaliseTrieveEvent(accepted(bodyOf('recommendation', { positive_tracking_ids: ['sku-9'] })), context).items).toEqual(['sku-9']);
    expect(normaliseTrieveEvent(accepted(bodyOf('recommendation', { positive_ids: [chunkId] })), context).items).toEqual([chunkId]);
  });

  test.each(eventTypes)('%s: unknown properties are ignored, as Trieve does, and kept in raw', (eventType) => {
    const body = bodyOf(eventType, { utm_source: 'newsletter' });
    expect(normaliseTrieveEvent(accepted(body), context).raw).toEqual(body);
  });

  test.each([
    ['an array', [1, 2], { value: [1, 2] }],
    ['a number', 7, { value: 7 }],
    ['an object', { a: 1 }, { a: 1 }],
    ['null', null, null],
  ])('metadata given as %s becomes properties', (_name, metadata, properties) => {
    expect(normaliseTrieveEvent(accepted(bodyOf('view', { metadata })), context).properties).toEqual(properties);
  });
});

describe('rejected Trieve events', () => {
  /** The required fields of each type besides event_type (checked against the schema below). */
  const requiredFields: Record<EventType, string[]> = {
    view: ['event_name', 'items'],
    add_to_cart: ['event_name', 'items'],
    click: ['event_name'],
    purchase: ['event_name', 'items'],
    filter_clicked: ['event_name', 'items'],
    search: ['query', 'tokens'],
    rag: ['user_message', 'tokens'],
    recommendation: [],
  };

  test.each(eventTypes)('the required-field table for %s matches the schema', (eventType) => {
    expect([...schemaBranch(eventType).required].sort()).toEqual([...requiredFields[eventType], 'event_type'].sort());
  });

  const missingTopLevel = eventTypes.flatMap((eventType) => requiredFields[eventType].map((field) => [eventType, field] as const));

  test.each(missingTopLevel)('%s without %s is rejected, naming the field', (eventType, field) => {
    const body = bodyOf(eventType);
    delete body[field];
    expectRejectedAt(body, `/${field}`, 'is required');
  });

  test.each(eventTypes)('%s without event_type is rejected, naming /event_type', (eventType) => {
    const body = bodyOf(eventType);
    delete body.event_type;
    expectRejectedAt(body, '/event_type', 'is required');
  });

  const missingNested: [string, Body, string][] = [
    ['clicked_items.chunk_id', bodyOf('click', { clicked_items: { position: 1 } }), '/clicked_items/chunk_id'],
    ['clicked_items.position', bodyOf('click', { clicked_items: { chunk_id: chunkId } }), '/clicked_items/position'],
    ['request.request_id', bodyOf('view', { request: { request_type: 'search' } }), '/request/request_id'],
    ['request.request_type', bodyOf('click', { request: { request_id: requestId } }), '/request/request_type'],
    ['items[].tracking_id', bodyOf('purchase', { items: [{ revenue: 1 }] }), '/items/0/tracking_id'],
    ['items[].revenue', bodyOf('purchase', { items: [{ tracking_id: 'sku-1' }] }), '/items/0/revenue'],
    ['query_rating.rating', bodyOf('search', { query_rating: { note: 'meh' } }), '/query_rating/rating'],
  ];

  test.each(missingNested)('a missing nested %s is rejected, naming the field', (_name, body, path) => {
    expectRejectedAt(body, path, 'is required');
  });

  test.each(missingNested.filter(([name]) => name.startsWith('items')))('a missing nested %s is the only issue reported', (_name, body, path) => {
    expect(rejected(body).paths).toEqual([path]);
  });

  // Every nullable object in Trieve's schema is a union, the object or null. When the object is
  // there but lacks a required field, the answer should name that field only; today it also adds
  // "must be null" on the parent (see the report on describeIssues).
  test.each(missingNested.filter(([name]) => name.startsWith('clicked_items') || name.startsWith('request') || name.startsWith('query_rating')))(
    'a missing nested %s is the only issue reported',
    (_name, body, path) => {
      expect(rejected(body).paths).toEqual([path]);
    },
  );

  const wrongTypes: [string, Body, string, string][] = [
    ['view items as a string', bodyOf('view', { items: 'sku-1' }), '/items', 'must be array'],
    ['view items holding a number', bodyOf('view', { items: ['sku-1', 2] }), '/items/1', 'must be string'],
    ['add_to_cart items as a string', bodyOf('add_to_cart', { items: 'sku-3' }), '/items', 'must be array'],
    ['purchase items as strings', bodyOf('purchase', { items: ['sku-1'] }), '/items/0', 'must be object'],
    ['purchase revenue as a string', bodyOf('purchase', { items: [{ tracking_id: 'sku-1', revenue: '19.50' }] }), '/items/0/revenue', 'must be number'],
    ['purchase tracking_id as a number', bodyOf('purchase', { items: [{ tracking_id: 1, revenue: 1 }] }), '/items/0/tracking_id', 'must be string'],
    ['filter_clicked items as an array', bodyOf('filter_clicked', { items: ['shoes'] }), '/items', 'must be object'],
    ['filter_clicked item value as a number', bodyOf('filter_clicked', { items: { 'search::size': 42 } }), '/items/search::size', 'must be string'],
    ['clicked_items as a string', bodyOf('click', { clicked_items: chunkId }), '/clicked_items', 'must be object or null'],
    ['position as a string', bodyOf('click', { clicked_items: { chunk_id: chunkId, position: '3' } }), '/clicked_items/position', 'must be integer'],
    ['position not an integer', bodyOf('click', { clicked_items: { chunk_id: chunkId, position: 1.5 } }), '/clicked_items/position', 'must be integer'],
    ['position beyond int32', bodyOf('click', { clicked_items: { chunk_id: chunkId, position: 2147483648 } }), '/clicked_items/position', 'must be <= 2147483647'],
    ['request as a string', bodyOf('view', { request: requestId }), '/request', 'must be object or null'],
    ['search tokens negative', bodyOf('search', { tokens: -1 }), '/tokens', 'must be >= 0'],
    ['search tokens not an integer', bodyOf('search', { tokens: 1.5 }), '/tokens', 'must be integer'],
    ['search tokens as a string', bodyOf('search', { tokens: '12' }), '/tokens', 'must be integer'],
    ['rag tokens negative', bodyOf('rag', { tokens: -5 }), '/tokens', 'must be >= 0'],
    ['rag tokens not an integer', bodyOf('rag', { tokens: 2.5 }), '/tokens', 'must be integer'],
    ['search query as a number', bodyOf('search', { query: 42 }), '/query', 'must be string'],
    ['rag user_message as null', bodyOf('rag', { user_message: null }), '/user_message', 'must be string'],
    ['search latency as a string', bodyOf('search', { latency: 'fast' }), '/latency', 'must be number or null'],
    ['query_rating.rating as a string', bodyOf('rag', { query_rating: { rating: 'good' } }), '/query_rating/rating', 'must be integer'],
    ['recommendation positive_tracking_ids as a string', bodyOf('recommendation', { positive_tracking_ids: 'sku-1' }), '/positive_tracking_ids', 'must be array or null'],
    ['view event_name as a number', bodyOf('view', { event_name: 5 }), '/event_name', 'must be string'],
    ['click location as a number', bodyOf('click', { location: 5 }), '/location', 'must be string or null'],
    ['purchase is_conversion as a string', bodyOf('purchase', { is_conversion: 'yes' }), '/is_conversion', 'must be boolean or null'],
    ...eventTypes.map((t): [string, Body, string, string] => [`${t} user_id as a number`, bodyOf(t, { user_id: 42 }), '/user_id', 'must be string or null']),
  ];

  test.each(wrongTypes)('%s is rejected, naming the field', (_name, body, path, message) => {
    expectRejectedAt(body, path, message);
  });

  const enumViolations: [string, Body, string][] = [
    ['request_type "foo"', bodyOf('click', { request: { request_id: requestId, request_type: 'foo' } }), '/request/request_type'],
    ['search_type "bogus"', bodyOf('search', { search_type: 'bogus' }), '/search_type'],
    ['rag_type "some_chunks"', bodyOf('rag', { rag_type: 'some_chunks' }), '/rag_type'],
    ['recommendation_type "chunk" (the enum is case-sensitive)', bodyOf('recommendation', { recommendation_type: 'chunk' }), '/recommendation_type'],
  ];

  test.each(enumViolations)('%s is rejected, naming the field and the allowed values', (_name, body, path) => {
    expectRejectedAt(body, path, 'must be one of ');
  });

  test('the allowed values are listed in the message', () => {
    expect(rejected(bodyOf('search', { search_type: 'bogus' })).message).toBe(
      'Invalid field "/search_type": must be one of "search", "search_over_groups", "autocomplete", "rag", null',
    );
  });

  test.each([
    ['an unknown event_type', { event_type: 'signup', event_name: 'x', items: [] }, 'must be one of "view", "add_to_cart", "click", "purchase"'],
    ['an event_type of the wrong case', { event_type: 'View', event_name: 'x', items: [] }, 'must be one of "view"'],
    ['a numeric event_type', { event_type: 1 }, 'must be one of "view"'],
    ['no event_type at all', {}, 'is required'],
  ])('%s names /event_type', (_name, body, message) => {
    expectRejectedAt(body, '/event_type', message);
  });

  test.each([
    ['null', null],
    ['an array', [validBodies.view]],
    ['a string', 'view'],
    ['a number', 1],
  ])('a body that is %s is rejected as a whole', (_name, body) => {
    expect(rejected(body)).toEqual({ paths: [''], message: 'Invalid body: must be object' });
  });

  const badUuid = 'not-a-uuid';
  test.each([
    ['clicked_items.chunk_id', bodyOf('click', { clicked_items: { chunk_id: badUuid, position: 1 } }), '/clicked_items/chunk_id'],
    ['request.request_id', bodyOf('view', { request: { request_id: badUuid, request_type: 'search' } }), '/request/request_id'],
    ['request.request_id (uuid with a missing digit)', bodyOf('purchase', { request: { request_id: requestId.slice(1), request_type: 'search' } }), '/request/request_id'],
    ['search_id', bodyOf('rag', { search_id: badUuid }), '/search_id'],
    ['topic_id', bodyOf('rag', { topic_id: '12345' }), '/topic_id'],
    ['positive_ids[]', bodyOf('recommendation', { positive_ids: [chunkId, badUuid] }), '/positive_ids/1'],
    ['negative_ids[]', bodyOf('recommendation', { negative_ids: [badUuid] }), '/negative_ids/0'],
  ])('an invalid uuid in %s is rejected, naming the field', (_name, body, path) => {
    expectRejectedAt(body, path, 'must match format "uuid"');
  });

  test('every problem is reported at once', () => {
    const { paths } = rejected({ event_type: 'search', query: 1, tokens: -1, user_id: 2 });
    expect(paths.sort()).toEqual(['/query', '/tokens', '/user_id']);
  });
});

describe('nullable Trieve fields', () => {
  /** Each nullable field, and the envelope fields it feeds, which are then null (or empty). */
  const nullable: Record<string, Partial<Envelope>> = {
    location: { page: null },
    user_id: { user_id: null },
    request: { request_id: null, request_type: null },
    clicked_items: { items: [], position: null },
    is_conversion: { is_conversion: null },
    metadata: { properties: null },
    search_id: {},
    search_type: {},
    rag_type: {},
    recommendation_type: {},
    positive_ids: { items: [] },
    positive_tracking_ids: { items: [] },
    results: {},
    query_rating: {},
    topic_id: {},
    latency: {},
    top_score: {},
    llm_response: {},
  };

  const cases = eventTypes.flatMap((eventType) =>
    Object.keys(nullable)
      .filter((field) => field in schemaBranch(eventType).properties)
      .map((field) => [eventType, field] as const),
  );

  test('every type has nullable fields to test', () => {
    expect(new Set(cases.map(([t]) => t))).toEqual(new Set(eventTypes));
  });

  test.each(cases)('%s accepts %s: null', (eventType, field) => {
    const body = bodyOf(eventType, { [field]: null });
    const envelope = normaliseTrieveEvent(accepted(body), context);
    expect(envelope).toMatchObject(nullable[field] ?? {});
    const result = validateEnvelope(structuredClone(envelope));
    expect(result.ok ? [] : formatIssues(result.issues)).toEqual([]);
  });
});

/**
 * A body Trieve's schema accepts normalises to an envelope the envelope schema accepts: fields a
 * type does not declare are ignored, and free text has no limit of its own beyond the body's.
 */
describe('Trieve-valid bodies normalise to valid envelopes', () => {
  test.each([
    ['search with an undeclared event_name of another type', bodyOf('search', { event_name: 5 })],
    ['search with an undeclared location of another type', bodyOf('search', { location: 5 })],
    ['rag with an undeclared is_conversion of another type', bodyOf('rag', { is_conversion: 'yes' })],
    ['view with an undeclared is_conversion of another type', bodyOf('view', { is_conversion: 'yes' })],
    ['recommendation with an undeclared request of another shape', bodyOf('recommendation', { request: { request_id: 5 } })],
    ['view with an event_name over 1024 characters', bodyOf('view', { event_name: 'x'.repeat(1025) })],
    ['view with an item over 1024 characters', bodyOf('view', { items: ['x'.repeat(1025)] })],
    ['view with more than 10000 items', bodyOf('view', { items: Array.from({ length: 10_001 }, (_, i) => `sku-${i}`) })],
    ['click with a location over 1024 characters', bodyOf('click', { location: 'x'.repeat(1025) })],
    ['search with a query over 65536 characters', bodyOf('search', { query: 'x'.repeat(65_537) })],
  ])('%s', (_name, body) => {
    const envelope = normaliseTrieveEvent(accepted(body), context);
    const result = validateEnvelope(structuredClone(envelope));
    expect(result.ok ? [] : formatIssues(result.issues)).toEqual([]);
  });

  test('purchase revenues that sum beyond the largest double make an envelope the gateway refuses', () => {
    const body = bodyOf('purchase', { items: [{ tracking_id: 'a', revenue: 1e308 }, { tracking_id: 'b', revenue: 1e308 }] });
    const result = validateEnvelope(normaliseTrieveEvent(accepted(body), context));
    expect(result.ok ? '' : formatIssues(result.issues)).toBe('Invalid field "/revenue": must be number or null');
  });
});
