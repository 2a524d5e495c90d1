/**
 * While Kafka is down the gateway answers 503 with Retry-After and acknowledges nothing; every
 * event it did acknowledge, before, during or after the outage, ends up in ClickHouse.
 * This file stops a broker, so it runs its own instead of the shared one.
 */
import type { LocalBroker } from '@sluice/dev';
import { startTestBroker } from '../helpers/test-broker';
import { startInProcessPipeline, waitFor, type InProcessPipeline } from '../helpers/pipeline';

const ports = { port: 19094, controllerPort: 19095 };
let broker: LocalBroker;
let pipeline: InProcessPipeline;

beforeAll(async () => {
  broker = await startTestBroker('kafka-outage', ports);
  pipeline = await startInProcessPipeline({ brokers: broker.brokers });
});

afterAll(async () => {
  await pipeline?.stop();
  await broker?.stop();
});

/** Every door, in turn: each request carries its insert id in the way its dialect allows. */
const doors: ((insertId: string) => [string, RequestInit & { headers: Record<string, string> }])[] = [
  (id) => ['/api/analytics/events', { method: 'PUT', headers: { 'tr-dataset': 'ds-outage', 'idempotency-key': id }, body: JSON.stringify({ event_type: 'view', event_name: 'outage', items: [id] }) }],
  (id) => [
    '/api/analytics/ctr',
    { method: 'PUT', headers: { 'tr-dataset': 'ds-outage', 'idempotency-key': id }, body: JSON.stringify({ request_id: '6f2b6a56-2f5e-4c3b-8a0f-0d6c1f2e3a4b', ctr_type: 'search', position: 1 }) },
  ],
  (id) => [
    '/analytics/event',
    { method: 'POST', headers: { 'x-neuralens-application-id': 'ds-outage', 'idempotency-key': id }, body: JSON.stringify({ items: [{ id }], page: 'PRODUCT_PAGE', event: 'SHARE', timestamp: 1715644800 }) },
  ],
  (id) => ['/api/v1/events', { method: 'POST', headers: {}, body: JSON.stringify({ eventType: 'outage', productId: 'ds-outage', value: '1', insertId: id }) }],
  (id) => ['/v1/batch', { method: 'POST', headers: {}, body: JSON.stringify([{ source: 'trieve', dataset_id: 'ds-outage', insert_id: id, event: { event_type: 'view', event_name: 'b', items: [] } }]) }],
];

async function send(insertId: string, door = 0): Promise<Response> {
  const request = doors[door % doors.length];
  if (!request) throw new Error(`no door ${door}`);
  const [path, init] = request(insertId);
  const key: Record<string, string> = path === '/analytics/event' ? { 'x-neuralens-api-key': `Bearer ${pipeline.apiKey}` } : { authorization: `Bearer ${pipeline.apiKey}` };
  return fetch(`${pipeline.gatewayUrl}${path}`, { ...init, headers: { 'content-type': 'application/json', ...key, ...init.headers } });
}

test('no 2xx while Kafka is down, and every acknowledged event is stored', async () => {
  const acknowledged: string[] = [];
  const refused: string[] = [];
  let sequence = 0;
  const record = async (): Promise<void> => {
    const door = sequence;
    const insertId = `outage-${sequence++}`;
    const response = await send(insertId, door);
    if (response.status === 204 || response.status === 200) {
      await response.arrayBuffer();
      acknowledged.push(insertId);
    } else {
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('1');
      expect(JSON.stringify(await response.json())).toMatch(/Kafka/);
      refused.push(insertId);
    }
  };

  // Before: accepted.
  await record();
  expect(acknowledged).toHaveLength(1);

  // During: a stream of requests races the broker's shutdown.
  let streaming = true;
  const stream = (async () => {
    while (streaming) await record();
  })();
  await broker.stop();
  const refusedWhileDown = refused.length;
  const duringOutage = await send('outage-while-down');
  expect(duringOutage.status).toBe(503);
  expect(duringOutage.headers.get('retry-after')).toBe('1');
  expect(await duringOutage.json()).toEqual({ message: expect.stringContaining('Kafka did not') as unknown });
  for (let door = 1; door < doors.length; door++) {
    const refusedDoor = await send(`outage-while-down-${door}`, door);
    expect([door, refusedDoor.status, refusedDoor.headers.get('retry-after')]).toEqual([door, 503, '1']);
    await refusedDoor.arrayBuffer();
  }
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  expect(refused.length).toBeGreaterThan(refusedWhileDown);

  // After: the same broker comes back on the same data; the gateway recovers on its own.
  broker = await startTestBroker('kafka-outage', ports, { keepData: true });
  await waitFor(async () => ((await send(`outage-probe-${Date.now()}`)).status === 204 ? true : undefined), 'the gateway to accept again', 60_000);
  streaming = false;
  await stream;

  const stored = await waitFor(
    async () => {
      const rows = await pipeline.clickhouse.queryRows<{ insert_id: string }>(
        "SELECT DISTINCT insert_id FROM events WHERE dataset_id = 'ds-outage' AND insert_id LIKE 'outage-%'",
      );
      const ids = new Set(rows.map((r) => r.insert_id));
      return acknowledged.every((id) => ids.has(id)) ? ids : undefined;
    },
    'every acknowledged event in ClickHouse',
    60_000,
  );
  for (const id of acknowledged) expect(stored.has(id)).toBe(true);
  expect(refused.length).toBeGreaterThan(0);
});
