/**
 * While Kafka is down the gateway answers 503 with Retry-After and acknowledges nothing; every
 * event it did acknowledge, before, during or after the outage, ends up in ClickHouse.
 * This file stops a broker, so it runs its own instead of the shared one.
 */
import type { LocalBroker } from '@sluice/kafka';
import { startTestBroker } from '../helpers/test-broker';
import { startInProcessPipeline, waitFor, type InProcessPipeline } from '../helpers/pipeline';

const ports = { port: 39094, controllerPort: 39095 };
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

async function send(insertId: string): Promise<Response> {
  return fetch(`${pipeline.gatewayUrl}/api/analytics/events`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${pipeline.apiKey}`, 'tr-dataset': 'ds-outage', 'content-type': 'application/json', 'idempotency-key': insertId },
    body: JSON.stringify({ event_type: 'view', event_name: 'outage', items: [insertId] }),
  });
}

test('no 2xx while Kafka is down, and every acknowledged event is stored', async () => {
  const acknowledged: string[] = [];
  const refused: string[] = [];
  let sequence = 0;
  const record = async (): Promise<void> => {
    const insertId = `outage-${sequence++}`;
    const response = await send(insertId);
    if (response.status === 204) acknowledged.push(insertId);
    else {
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('1');
      expect(((await response.json()) as { message: string }).message).toMatch(/Kafka/);
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
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  expect(refused.length).toBeGreaterThan(refusedWhileDown);

  // After: the same broker comes back on the same data; the gateway recovers on its own.
  broker = await startTestBroker('kafka-outage', ports, { keepData: true });
  await waitFor(async () => (acknowledged.length > 0 && (await send(`outage-probe-${Date.now()}`)).status === 204 ? true : undefined), 'the gateway to accept again', 60_000);
  streaming = false;
  await stream;

  const stored = await waitFor(
    async () => {
      const rows = await pipeline.clickhouse.queryRows<{ insert_id: string }>(
        "SELECT DISTINCT insert_id FROM events WHERE dataset_id = 'ds-outage' AND insert_id NOT LIKE 'outage-probe-%'",
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
