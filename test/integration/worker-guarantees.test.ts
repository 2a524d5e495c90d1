/**
 * The worker's sampling and deduplication, end to end through the gateway's batch door, Kafka and
 * chDB: Greenflash's sampleRate keeps its share, deterministically; forceSample always keeps; and an
 * insert_id is stored once across sends and a worker restart.
 */
import { createKafkaBus } from '@sluice/kafka';
import { buildEnvelope, createNativeProducer } from '@sluice/producer';
import { fetchRetrying } from '../helpers/http';
import { startInProcessPipeline, testBrokers, testLogger, waitFor, type InProcessPipeline } from '../helpers/pipeline';

let pipeline: InProcessPipeline;

beforeAll(async () => {
  pipeline = await startInProcessPipeline({ partitions: 6 });
});

afterAll(async () => {
  await pipeline.stop();
});

/** Sends NDJSON batches of at most 10,000 events, waiting out 429s and 503s as Retry-After says. */
async function sendThroughBatchDoor(events: readonly object[]): Promise<void> {
  for (let start = 0; start < events.length; start += 10_000) {
    const body = events
      .slice(start, start + 10_000)
      .map((event) => JSON.stringify({ source: 'greenflash', event }))
      .join('\n');
    const response = await fetchRetrying(`${pipeline.gatewayUrl}/v1/batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${pipeline.apiKey}`, 'content-type': 'application/x-ndjson' },
      body,
    });
    const reply = (await response.json()) as { rejected?: number; message?: string };
    expect([response.status, reply.rejected, reply.message]).toEqual([200, 0, undefined]);
  }
}

function outcome(name: string): number {
  return pipeline.workerStats.outcomes.get(name) ?? 0;
}

/** Every message read went through sampling, and every kept one through dedup and into ClickHouse. */
async function workerSettled(messages: number): Promise<void> {
  await waitFor(
    async () => {
      const read = outcome('parse:ok') + outcome('parse:dlq');
      const settled = outcome('sample:ok') === outcome('dedup:ok') + outcome('dedup:drop') && pipeline.workerStats.storedRows === outcome('dedup:ok');
      return read >= messages && settled ? true : undefined;
    },
    `the worker to handle ${messages} messages`,
    180_000,
  );
}

async function storedIds(datasetId: string): Promise<Set<string>> {
  const rows = await pipeline.clickhouse.queryRows<{ insert_id: string }>(`SELECT insert_id FROM events WHERE dataset_id = {d:String}`, { d: datasetId });
  return new Set(rows.map((r) => r.insert_id));
}

test('sampleRate 0.1 keeps 10% ± 1% of 100,000 events, the same ones when they are sent again; forceSample keeps every event', async () => {
  const sampled = Array.from({ length: 100_000 }, (_, i) => ({ eventType: 'answer_rated', productId: 'ds-sample', value: '1', insertId: `s-${i}`, sampleRate: 0.1 }));
  const forced = Array.from({ length: 1_000 }, (_, i) => ({ eventType: 'answer_rated', productId: 'ds-forced', value: '1', insertId: `f-${i}`, sampleRate: 0.1, forceSample: true }));
  await sendThroughBatchDoor([...sampled, ...forced]);
  await workerSettled(101_000);
  const kept = await storedIds('ds-sample');
  expect(kept.size).toBeGreaterThanOrEqual(9_000);
  expect(kept.size).toBeLessThanOrEqual(11_000);
  expect((await storedIds('ds-forced')).size).toBe(1_000);
  const droppedFirst = outcome('sample:drop');
  expect(droppedFirst).toBe(100_000 - kept.size);

  // Again: the same events are sampled out, and every one kept is a duplicate of a stored one.
  await sendThroughBatchDoor(sampled);
  await workerSettled(201_000);
  expect(outcome('sample:drop')).toBe(2 * droppedFirst);
  expect(outcome('dedup:drop')).toBe(kept.size);
  expect(await storedIds('ds-sample')).toEqual(kept);
}, 600_000);

test('one insert_id sent five times, with a worker restart in the middle, is one row', async () => {
  const send = (value: string) => sendThroughBatchDoor([{ eventType: 'signup', productId: 'ds-restart', value, insertId: 'restart-1' }]);
  await send('1');
  await send('2');
  await waitFor(async () => ((await storedIds('ds-restart')).size === 1 ? true : undefined), 'the first copy');
  await pipeline.restartWorker();
  await send('3');
  await send('4');
  await send('5');
  await waitFor(async () => (outcome('dedup:drop') + outcome('dedup:ok') >= 3 ? true : undefined), 'the restarted worker to see the last three copies', 60_000);
  const rows = await pipeline.clickhouse.queryRows<{ value: string }>(`SELECT value FROM events WHERE dataset_id = 'ds-restart'`);
  expect(rows).toEqual([{ value: '1' }]);
});

test('three workers joining and leaving the group mid-stream store each of 20,000 events once, copies sent in later slices included', async () => {
  const producer = await createNativeProducer({ brokers: testBrokers(), topic: pipeline.topic });
  const events = Array.from({ length: 20_000 }, (_, i) => buildEnvelope({ dataset_id: 'ds-rebalance', event_type: 'view', insert_id: `r-${i}` }));
  // Every 10th event comes again in a later slice, so its copies land in different blocks.
  const copies = events.filter((_, i) => i % 10 === 0);
  const slices = [events.slice(0, 5_000), events.slice(5_000, 10_000), copies.slice(0, 1_000), events.slice(10_000, 15_000), events.slice(15_000), copies.slice(1_000)];
  let second: { stop(): Promise<void> } | undefined;
  let third: { stop(): Promise<void> } | undefined;
  for (const [i, slice] of slices.entries()) {
    await producer.send(slice);
    if (i === 1) second = await pipeline.addWorker();
    if (i === 3) third = await pipeline.addWorker();
    if (i === 4) await second?.stop();
  }
  const bus = createKafkaBus({ brokers: testBrokers(), clientId: 'sluice-rebalance-test', logger: testLogger });
  await waitFor(async () => ((await bus.consumerLag(pipeline.groupId, pipeline.topic)) === 0 ? true : undefined), 'the group to commit everything', 180_000);
  await third?.stop();
  await producer.close();
  const [stored] = await pipeline.clickhouse.queryRows<{ rows: number; ids: number }>(
    `SELECT count() AS rows, uniqExact(insert_id) AS ids FROM events WHERE dataset_id = 'ds-rebalance'`,
  );
  expect(stored).toEqual({ rows: 20_000, ids: 20_000 });
}, 300_000);
