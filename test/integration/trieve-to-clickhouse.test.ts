/**
 * The walking skeleton: real HTTP requests to the gateway, through the real Kafka broker, into
 * real ClickHouse rows, read back field by field.
 */
import { fetchRetrying } from '../helpers/http';
import { startInProcessPipeline, waitFor, type InProcessPipeline } from '../helpers/pipeline';

let pipeline: InProcessPipeline;

beforeAll(async () => {
  pipeline = await startInProcessPipeline();
});

afterAll(async () => {
  await pipeline.stop();
});

function put(body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetchRetrying(`${pipeline.gatewayUrl}/api/analytics/events`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${pipeline.apiKey}`, 'tr-dataset': 'ds-skeleton', 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

interface StoredRow {
  event_id: string;
  insert_id: string;
  dataset_id: string;
  source: string;
  event_type: string;
  event_name: string;
  occurred_at: string;
  received_at: string;
  user_id: string | null;
  request_id: string | null;
  request_type: string | null;
  position: number | null;
  query: string | null;
  page: string | null;
  items: string[];
  is_conversion: boolean | null;
  revenue: number | null;
  properties: string;
  raw: string;
  sample_rate: number;
  kafka_topic: string;
  kafka_partition: number;
  kafka_offset: string;
}

async function rowsWithInsertId(insertId: string): Promise<StoredRow[]> {
  return pipeline.clickhouse.queryRows<StoredRow>('SELECT * FROM events WHERE insert_id = {id:String}', { id: insertId });
}

async function storedRow(insertId: string): Promise<StoredRow> {
  return waitFor(async () => (await rowsWithInsertId(insertId))[0], `the row with insert_id ${insertId}`);
}

const requestId = '6f2b6a56-2f5e-4c3b-8a0f-0d6c1f2e3a4b';
const chunkId = '0b8e5a3c-9d1f-4e2a-b7c6-5a4f3e2d1c0b';

test('a click travels from HTTP to a ClickHouse row with exact field values', async () => {
  const body = {
    event_type: 'click',
    event_name: 'result_clicked',
    clicked_items: { chunk_id: chunkId, position: 3 },
    request: { request_id: requestId, request_type: 'search' },
    user_id: 'user-7',
    location: 'search_page',
    metadata: { experiment: 'b' },
  };
  const before = await pipeline.bus.countMessages(pipeline.topic);
  const sentAt = Date.now();
  const response = await put(body, { 'idempotency-key': 'click-0001' });
  expect(response.status).toBe(204);
  expect(await response.text()).toBe('');
  // 204 means Kafka already holds the event.
  expect(await pipeline.bus.countMessages(pipeline.topic)).toBe(before + 1);

  const row = await storedRow('click-0001');
  expect(row).toMatchObject({
    insert_id: 'click-0001',
    dataset_id: 'ds-skeleton',
    source: 'trieve',
    event_type: 'click',
    event_name: 'result_clicked',
    user_id: 'user-7',
    request_id: requestId,
    request_type: 'search',
    position: 3,
    query: null,
    page: 'search_page',
    items: [chunkId],
    is_conversion: null,
    revenue: null,
    sample_rate: 1,
    kafka_topic: pipeline.topic,
  });
  expect(row.event_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  expect(JSON.parse(row.properties)).toEqual({ experiment: 'b' });
  expect(JSON.parse(row.raw)).toEqual(body);
  const receivedAt = Date.parse(`${row.received_at.replace(' ', 'T')}Z`);
  expect(receivedAt).toBeGreaterThanOrEqual(sentAt - 1);
  expect(receivedAt).toBeLessThanOrEqual(Date.now());
  expect(row.occurred_at).toBe(row.received_at);
  expect(Number(row.kafka_offset)).toBeGreaterThanOrEqual(0);
});

test.each([
  ['view', { event_type: 'view', event_name: 'pdp', items: ['sku-1', 'sku-2'] }, { items: ['sku-1', 'sku-2'], event_name: 'pdp' }],
  ['add_to_cart', { event_type: 'add_to_cart', event_name: 'atc', items: ['sku-9'], is_conversion: true }, { items: ['sku-9'], is_conversion: true }],
  [
    'purchase',
    { event_type: 'purchase', event_name: 'order', items: [{ tracking_id: 'sku-1', revenue: 19.99 }, { tracking_id: 'sku-2', revenue: 0.01 }] },
    { items: ['sku-1', 'sku-2'], revenue: 20 },
  ],
  ['filter_clicked', { event_type: 'filter_clicked', event_name: 'f', items: { 'tag::color': 'red' } }, { items: ['tag::color=red'] }],
  ['search', { event_type: 'search', query: 'oak chair', tokens: 12 }, { query: 'oak chair', request_type: 'search', event_name: 'search', request_id: 'skeleton-search' }],
  ['rag', { event_type: 'rag', user_message: 'which chair?', tokens: 40, search_id: requestId }, { query: 'which chair?', request_type: 'rag', request_id: 'skeleton-rag' }],
  ['recommendation', { event_type: 'recommendation', positive_tracking_ids: ['sku-3'] }, { items: ['sku-3'], request_type: 'recommendation' }],
])('a Trieve %s event is stored with its normalised fields', async (type, body, expected) => {
  const insertId = `skeleton-${type}`;
  const response = await put(body, { 'idempotency-key': insertId });
  expect(response.status).toBe(204);
  const row = await storedRow(insertId);
  expect(row).toMatchObject({ event_type: type, source: 'trieve', dataset_id: 'ds-skeleton', ...expected });
  expect(JSON.parse(row.raw)).toEqual(body);
});

test('without an Idempotency-Key the insert_id is the event id', async () => {
  const marker = `no-key-${Date.now()}`;
  expect((await put({ event_type: 'view', event_name: marker, items: ['x'] })).status).toBe(204);
  const row = await waitFor(
    async () => (await pipeline.clickhouse.queryRows<StoredRow>('SELECT * FROM events WHERE event_name = {n:String}', { n: marker }))[0],
    'the row without an idempotency key',
  );
  expect(row.insert_id).toBe(row.event_id);
});

describe('refusals are specific and nothing refused reaches Kafka', () => {
  test.each([
    ['a missing required field', { event_type: 'view', event_name: 'v' }, 400, 'Invalid field "/items": is required'],
    ['a wrong type', { event_type: 'click', event_name: 'c', clicked_items: { chunk_id: chunkId, position: 'third' } }, 400, 'Invalid field "/clicked_items/position": must be integer'],
    ['an enum violation', { event_type: 'click', event_name: 'c', request: { request_id: requestId, request_type: 'banner' } }, 400, 'Invalid field "/request/request_type": must be one of "search", "rag", "recommendation"'],
    ['an unknown event type', { event_type: 'scroll', event_name: 's' }, 400, 'Invalid field "/event_type"'],
    ['a body that is not an object', '[1,2]', 400, 'must be object'],
    ['malformed JSON', '{"event_type": "view",', 400, 'The body is not valid JSON'],
  ])('%s is refused naming the problem', async (_name, body, status, message) => {
    const before = await pipeline.bus.countMessages(pipeline.topic);
    const response = await put(body);
    expect(response.status).toBe(status);
    const reply = (await response.json()) as { message: string };
    expect(reply.message).toContain(message);
    expect(await pipeline.bus.countMessages(pipeline.topic)).toBe(before);
  });

  test('a purchase that can not be stored (revenue beyond a double) gets 400, not 204', async () => {
    const before = await pipeline.bus.countMessages(pipeline.topic);
    const response = await put({ event_type: 'purchase', event_name: 'p', items: [{ tracking_id: 'a', revenue: 1e308 }, { tracking_id: 'b', revenue: 1e308 }] });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ message: 'The event cannot be stored: Invalid field "/revenue": must be number or null' });
    expect(await pipeline.bus.countMessages(pipeline.topic)).toBe(before);
  });

  test.each([['tr-dataset'], ['idempotency-key']])('a %s header over 256 characters gets 400 naming it', async (header) => {
    const response = await put({ event_type: 'view', event_name: 'v', items: [] }, { [header]: 'k'.repeat(257) });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { message: string }).message).toMatch(/Header "(TR-Dataset|Idempotency-Key)" is 257 characters long; the limit is 256/);
  });

  test('a missing TR-Dataset header gets 400 naming the header', async () => {
    const response = await put({ event_type: 'view', event_name: 'v', items: [] }, { 'tr-dataset': '' });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { message: string }).message).toContain('TR-Dataset');
  });

  test.each([
    ['no key', {}, 'Missing API key'],
    ['a wrong key', { authorization: 'Bearer sk_wrong' }, 'Invalid API key'],
  ])('%s gets 401', async (_name, auth, message) => {
    const headers: Record<string, string> = { 'tr-dataset': 'ds', 'content-type': 'application/json', ...auth };
    const response = await fetch(`${pipeline.gatewayUrl}/api/analytics/events`, { method: 'PUT', headers, body: '{}' });
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ message: expect.stringContaining(message) as unknown });
  });

  test('a bare key without "Bearer", as the Trieve API page shows, is accepted', async () => {
    expect((await put({ event_type: 'view', event_name: 'bare', items: [] }, { authorization: pipeline.apiKey })).status).toBe(204);
  });

  test('a body over the size limit gets 413', async () => {
    const response = await put({ event_type: 'view', event_name: 'x'.repeat(70 * 1024), items: [] });
    expect(response.status).toBe(413);
    expect(((await response.json()) as { message: string }).message).toContain('larger than the limit');
  });

  test('a non-JSON content type gets 415', async () => {
    const response = await put('event_type=view', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(response.status).toBe(415);
    expect(((await response.json()) as { message: string }).message).toContain('application/json');
  });
});
