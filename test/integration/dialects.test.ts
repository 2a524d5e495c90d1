/**
 * Every dialect end to end: each endpoint answers exactly as its vendor's API does, and the
 * event lands in ClickHouse normalised. Then the batch door, health, metrics and OpenAPI.
 */
import { gzipSync } from 'node:zlib';
import { fetchRetrying } from '../helpers/http';
import { startInProcessPipeline, waitFor, type InProcessPipeline } from '../helpers/pipeline';
import { samplePoint } from '@sluice/worker';

let pipeline: InProcessPipeline;

beforeAll(async () => {
  pipeline = await startInProcessPipeline();
});

afterAll(async () => {
  await pipeline.stop();
});

const requestId = '6f2b6a56-2f5e-4c3b-8a0f-0d6c1f2e3a4b';

async function send(method: string, path: string, headers: Record<string, string>, body: unknown): Promise<Response> {
  return fetchRetrying(`${pipeline.gatewayUrl}${path}`, { method, headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

async function row<T>(where: string, params: Record<string, unknown>): Promise<T> {
  return waitFor(async () => (await pipeline.clickhouse.queryRows<T>(`SELECT * FROM events WHERE ${where}`, params))[0], where);
}

describe('Trieve CTR: PUT /api/analytics/ctr', () => {
  test('a click on a search result is stored as a click tied to its request', async () => {
    const body = { request_id: requestId, ctr_type: 'search', position: 2, clicked_chunk_tracking_id: 'sku-1', metadata: { user_id: 'u-1', action: 'open' } };
    const response = await send('PUT', '/api/analytics/ctr', { authorization: pipeline.apiKey, 'tr-dataset': 'ds-ctr' }, body);
    expect(response.status).toBe(204);
    expect(await response.text()).toBe('');
    expect(await row("dataset_id = {d:String} AND source = 'trieve_ctr'", { d: 'ds-ctr' })).toMatchObject({
      event_type: 'click',
      request_id: requestId,
      request_type: 'search',
      position: 2,
      items: ['sku-1'],
      user_id: 'u-1',
    });
  });

  test('an invalid body gets 400 {message} naming the field', async () => {
    const response = await send('PUT', '/api/analytics/ctr', { authorization: pipeline.apiKey, 'tr-dataset': 'ds-ctr' }, { request_id: requestId, ctr_type: 'banner', position: 1 });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ message: expect.stringContaining('"/ctr_type"') as unknown });
  });
});

describe('Neuralens: POST /analytics/event', () => {
  const headers = { 'x-neuralens-application-id': 'app-1' };
  const example = {
    uid: '3845',
    items: [{ id: 'AV768' }],
    query: 'solid wood chair',
    page: 'SEARCH_RESULT_PAGE',
    event: 'CLICK_PRODUCT',
    index: 3,
    geo: { lat: 31.34956697190882, long: 78.44615274878441, region: 'MG Road' },
    timestamp: 1715644800,
  };

  test("the page's example gets {status: success} and is stored with its time, position and geo", async () => {
    const response = await send('POST', '/analytics/event', { ...headers, 'x-neuralens-api-key': `Bearer ${pipeline.apiKey}` }, example);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'success', message: '' });
    expect(await row("dataset_id = 'app-1' AND source = 'neuralens'", {})).toMatchObject({
      event_type: 'click',
      event_name: 'CLICK_PRODUCT',
      occurred_at: '2024-05-14 00:00:00.000',
      position: 3,
      query: 'solid wood chair',
      page: 'SEARCH_RESULT_PAGE',
      items: ['AV768'],
      user_id: '3845',
      geo_lat: 31.34956697190882,
      geo_long: 78.44615274878441,
      geo_region: 'MG Road',
    });
  });

  test('an invalid body gets {status: failure, message} naming the field', async () => {
    const response = await send('POST', '/analytics/event', { ...headers, 'x-neuralens-api-key': `Bearer ${pipeline.apiKey}` }, { ...example, items: [{ id: 'a' }, { id: 'b' }] });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ status: 'failure', message: expect.stringContaining('"/items"') as unknown });
  });

  test('a missing application id gets a failure naming the header', async () => {
    const response = await send('POST', '/analytics/event', { 'x-neuralens-api-key': `Bearer ${pipeline.apiKey}` }, example);
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ status: 'failure', message: 'Missing required header "X-Neuralens-Application-ID"' });
  });
});

describe('Greenflash: POST /api/v1/events', () => {
  const event = {
    eventType: 'trial_started',
    productId: 'prod-1',
    value: '99.00',
    valueType: 'currency',
    influence: 'positive',
    insertId: 'gf-0005',
    eventAt: '2024-05-14T10:00:00.000Z',
    organizationId: 'org-9',
    userId: 'u-9',
    properties: { plan: 'pro' },
    sampleRate: 0.5,
  };

  test('the event gets {eventId, success: true} and is stored with its derived quality score and revenue', async () => {
    // At sampleRate 0.5 this insertId is one the worker keeps: its sample point is below 0.5.
    expect(samplePoint('prod-1', 'insert:gf-0005')).toBeLessThan(0.5);
    const response = await send('POST', '/api/v1/events', { authorization: `Bearer ${pipeline.apiKey}` }, event);
    expect(response.status).toBe(200);
    const reply = (await response.json()) as { eventId: string; success: boolean };
    expect(reply).toEqual({ eventId: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown, success: true });
    expect(await row("insert_id = 'gf-0005'", {})).toMatchObject({
      event_id: reply.eventId,
      dataset_id: 'prod-1',
      source: 'greenflash',
      event_type: 'outcome',
      event_name: 'trial_started',
      occurred_at: '2024-05-14 10:00:00.000',
      value: '99.00',
      value_type: 'currency',
      revenue: 99,
      influence: 'positive',
      quality_score: 1,
      organization_id: 'org-9',
      user_id: 'u-9',
      sample_rate: 0.5,
      properties: '{"plan":"pro"}',
    });
  });

  test('an invalid body gets {success: false, code, message} naming the field', async () => {
    const response = await send('POST', '/api/v1/events', { authorization: `Bearer ${pipeline.apiKey}` }, { eventType: 'signup', productId: 'prod-1' });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ success: false, code: 'INVALID_EVENT', message: expect.stringContaining('"/value"') as unknown });
  });
});

describe('POST /v1/batch', () => {
  const auth = (): Record<string, string> => ({ authorization: `Bearer ${pipeline.apiKey}` });
  const lines = [
    { source: 'trieve', dataset_id: 'ds-batch', insert_id: 'b-1', event: { event_type: 'view', event_name: 'v', items: ['a'] } },
    {
      schema_version: 1,
      event_id: '1f0e4a52-8d1c-4b8e-9a4e-2f6f5c1d9b10',
      insert_id: 'b-2',
      dataset_id: 'ds-batch',
      source: 'native',
      event_type: 'purchase',
      event_name: 'order',
      occurred_at: 1715644800000,
      received_at: 1715644800123,
      revenue: 10,
    },
    { source: 'neuralens', dataset_id: 'ds-batch', event: { page: 'PRODUCT_PAGE', event: 'SHARE', timestamp: 1 } },
    { source: 'trieve', dataset_id: 'ds-batch', insert_id: 'b-1', event: { event_type: 'view', event_name: 'again', items: [] } },
    { source: 'greenflash', event: { eventType: 'signup', productId: 'ds-batch', value: '1' } },
  ];

  test('NDJSON: each event gets its own result; accepted ones are stored', async () => {
    const response = await send('POST', '/v1/batch', { ...auth(), 'content-type': 'application/x-ndjson', 'idempotency-key': 'batch-7' }, lines.map((l) => JSON.stringify(l)).join('\n'));
    expect(response.status).toBe(207);
    const reply = (await response.json()) as { accepted: number; duplicates: number; rejected: number; results: Record<string, unknown>[] };
    expect(reply).toMatchObject({ accepted: 3, duplicates: 1, rejected: 1 });
    expect(reply.results.map((r) => r.status)).toEqual(['accepted', 'accepted', 'invalid', 'duplicate', 'accepted']);
    expect(reply.results[2]).toEqual({ index: 2, status: 'invalid', errors: [{ path: '/2/event/items', message: 'is required' }] });
    expect(reply.results[3]).toEqual({ index: 3, status: 'duplicate', insert_id: 'b-1', duplicate_of: 0 });
    expect(reply.results[4]).toMatchObject({ status: 'accepted', insert_id: 'batch-7/4' });
    const stored = await waitFor(async () => {
      const rows = await pipeline.clickhouse.queryRows<{ insert_id: string }>("SELECT insert_id FROM events WHERE dataset_id = 'ds-batch' ORDER BY insert_id");
      return rows.length === 3 ? rows : undefined;
    }, 'the three accepted batch events');
    expect(stored.map((r) => r.insert_id)).toEqual(['b-1', 'b-2', 'batch-7/4']);
  });

  test('an event whose envelope would exceed 1 MiB is refused on its own; the rest of the batch is stored', async () => {
    // The envelope carries the body twice (properties, and raw), so 600 KB of properties make 1.2 MB.
    const big = { source: 'greenflash', event: { eventType: 'signup', productId: 'ds-big', value: '1', insertId: 'big-1', properties: { blob: 'x'.repeat(600_000) } } };
    const small = { source: 'greenflash', event: { eventType: 'signup', productId: 'ds-big', value: '1', insertId: 'small-1' } };
    const response = await send('POST', '/v1/batch', { ...auth(), 'content-type': 'application/json' }, [big, small]);
    expect(response.status).toBe(207);
    const reply = (await response.json()) as { accepted: number; rejected: number; results: { status: string; errors?: { path: string; message: string }[] }[] };
    expect(reply).toMatchObject({ accepted: 1, rejected: 1 });
    expect(reply.results[0]?.status).toBe('invalid');
    expect(reply.results[0]?.errors?.[0]).toEqual({
      path: '/0',
      message: expect.stringMatching(/^The event is 12\d{5} bytes once normalised \(the body is kept whole as raw\), over the 1048576-byte limit of one stored event$/) as unknown,
    });
    expect(await row("insert_id = 'small-1'", {})).toMatchObject({ dataset_id: 'ds-big' });
  });

  test('a gzip-compressed JSON array is accepted', async () => {
    const body = gzipSync(JSON.stringify([{ source: 'trieve_ctr', dataset_id: 'ds-gzip', event: { request_id: requestId, ctr_type: 'rag', position: 0 } }]));
    const response = await fetchRetrying(`${pipeline.gatewayUrl}/v1/batch`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json', 'content-encoding': 'gzip' }, body });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ accepted: 1, duplicates: 0, rejected: 0 });
  });

  test('an unknown content encoding gets 415; a body that does not decompress gets 400', async () => {
    const unknown = await send('POST', '/v1/batch', { ...auth(), 'content-encoding': 'zstd' }, '[]');
    expect(unknown.status).toBe(415);
    expect(await unknown.json()).toEqual({ code: 'UNSUPPORTED_MEDIA_TYPE', message: 'unsupported content encoding "zstd"' });
    const corrupt = await send('POST', '/v1/batch', { ...auth(), 'content-encoding': 'gzip' }, '[]');
    expect(corrupt.status).toBe(400);
    expect(await corrupt.json()).toEqual({ code: 'INVALID_JSON', message: expect.stringContaining('The body could not be decoded') as unknown });
  });
});

test('health, readiness, metrics and the OpenAPI document', async () => {
  expect(await (await fetch(`${pipeline.gatewayUrl}/healthz`)).json()).toEqual({ status: 'ok' });
  expect(await (await fetch(`${pipeline.gatewayUrl}/readyz`)).json()).toEqual({ status: 'ready' });
  const metrics = await (await fetch(`${pipeline.gatewayUrl}/metrics`)).text();
  expect(metrics).toMatch(/sluice_gateway_requests_total\{[^}]*route="\/api\/analytics\/ctr"[^}]*status="204"/);
  expect(metrics).toMatch(/sluice_gateway_events_accepted_total\{dialect="greenflash"\} [1-9]/);
  expect(metrics).toMatch(/sluice_gateway_events_rejected_total\{dialect="neuralens",reason="INVALID_EVENT"\} [1-9]/);
  expect(metrics).toContain('sluice_gateway_kafka_publish_seconds_bucket');
  const openApi = (await (await fetch(`${pipeline.gatewayUrl}/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
  expect(openApi.openapi).toBe('3.1.0');
  expect(Object.keys(openApi.paths).sort()).toEqual(
    ['/api/analytics/ctr', '/api/analytics/events', '/analytics/event', '/api/v1/events', '/v1/batch', '/v1/beacon', '/healthz', '/readyz', '/metrics', '/openapi.json'].sort(),
  );
});
