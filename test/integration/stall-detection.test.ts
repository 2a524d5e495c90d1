/**
 * Stall detection. A stalled partition is the quiet failure: the gateway keeps acknowledging
 * events and the worker stores none of them. Two ways a partition stalls, both for real:
 * - a worker process runs in server mode against chDB's HTTP front, with STALL_SECONDS=3; the front
 *   is killed while events keep arriving, so the handler holds a batch and retries without
 *   committing. /healthz must then name the partitions whose committed offset stopped with messages
 *   waiting, and sluice_worker_partition_stalled must be 1 for them; once ClickHouse is back, both
 *   must clear.
 * - a handler that keeps failing one partition's batch, so kafkajs delivers it again and again
 *   (crashing and rejoining the group each time) and nothing is committed: the partition
 *   progress fed by the real consumer must name that partition and its error, and only it.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventsTopicConfig, silentLogger, type ConsumedBatch } from '@sluice/core';
import { createKafkaBus, type KafkaBus } from '@sluice/kafka';
import { isProcessAlive, type RunningService } from '@sluice/dev';
import { createNativeProducer, type NativeProducer } from '@sluice/producer';
import { removeTestDirectory, testBrokers, testLogger, uniqueName, waitFor } from '../helpers/pipeline';
import { createPartitionProgress } from '@sluice/worker';
import { freePort, startChdbFront, startWorkerProcess } from '../helpers/processes';
import { analystSql, searchStream } from '../helpers/search-stream';

const stallSeconds = 3;

interface Health {
  status: string;
  partitions?: { topic: string; partition: number; committed_offset: string; lag: number; stalled_seconds: number; last_error: string | null }[];
  clickhouse?: string;
}

let chdbPath: string;
let logDirectory: string;
let clickhousePort: number;
let adminPort: number;
let topic: string;
let groupId: string;
let bus: KafkaBus;
let producer: NativeProducer;
let clickhouse: RunningService | undefined;
let worker: RunningService | undefined;

beforeAll(async () => {
  chdbPath = mkdtempSync(join(tmpdir(), 'sluice-stall-chdb-'));
  logDirectory = mkdtempSync(join(tmpdir(), 'sluice-stall-logs-'));
  clickhousePort = await freePort();
  adminPort = await freePort();
  topic = uniqueName('stall');
  groupId = uniqueName('stall-group');
  bus = createKafkaBus({ brokers: testBrokers(), clientId: 'sluice-stall-test', logger: testLogger });
  await bus.ensureTopics([{ name: topic, partitions: 4, config: eventsTopicConfig }]);
  producer = await createNativeProducer({ brokers: testBrokers(), topic });
});

afterAll(async () => {
  await worker?.stop();
  await clickhouse?.stop();
  await producer.close();
  removeTestDirectory(chdbPath);
  removeTestDirectory(logDirectory);
});

function startClickHouse(): Promise<RunningService> {
  return startChdbFront({ chdbPath, port: clickhousePort, logDirectory });
}

async function health(): Promise<{ status: number; body: Health }> {
  const response = await fetch(`http://127.0.0.1:${adminPort}/healthz`);
  return { status: response.status, body: (await response.json()) as Health };
}

/** sluice_worker_partition_stalled by partition, as scraped from /metrics. */
async function stalledGauge(): Promise<Map<number, number>> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const lines = text.matchAll(/^sluice_worker_partition_stalled\{topic="([^"]+)",partition="(\d+)"\} (\d+)$/gm);
  return new Map([...lines].filter((m) => m[1] === topic).map((m) => [Number(m[2]), Number(m[3])]));
}

test('Stall detection: a partition whose offset stops with messages waiting turns /healthz 503 naming it, and clears once it moves again', async () => {
  const events = searchStream('ds-stall', 4_000);
  const sql = analystSql(`http://127.0.0.1:${clickhousePort}`);
  clickhouse = await startClickHouse();
  worker = await startWorkerProcess({
    topic,
    groupId,
    adminPort,
    logDirectory,
    env: { CLICKHOUSE_URL: `http://127.0.0.1:${clickhousePort}`, STALL_SECONDS: String(stallSeconds) },
  });
  const workerPid = worker.pid;

  await producer.send(events.slice(0, 2_000));
  await waitFor(async () => ((await bus.consumerLag(groupId, topic)) === 0 ? true : undefined), 'the worker to store and commit the first events', 60_000);
  // Every event stored and committed: each partition's committed offset is one past its last stored event.
  const committedBefore = new Map(
    (await sql<{ partition: number; next: string }>(`SELECT kafka_partition AS partition, toString(max(kafka_offset) + 1) AS next FROM events GROUP BY partition`)).map((r) => [r.partition, r.next]),
  );
  expect(committedBefore.size).toBe(4);
  expect(await health()).toEqual({ status: 200, body: { status: 'ok' } });
  expect(await stalledGauge()).toEqual(new Map([0, 1, 2, 3].map((p) => [p, 0])));

  const victim = clickhouse;
  process.kill(victim.pid, 'SIGKILL');
  await waitFor(async () => (isProcessAlive(victim.pid) ? undefined : true), 'ClickHouse to be gone');
  await producer.send(events.slice(2_000));

  // Until STALL_SECONDS have passed, the 503 only says ClickHouse does not answer; then the partitions are named.
  const stalled = await waitFor(async () => {
    const { status, body } = await health();
    return status === 503 && body.status === 'stalled' ? body : undefined;
  }, `/healthz to name the stalled partitions within ${stallSeconds} s and a margin`, 30_000);
  expect(stalled.clickhouse).toBe('unavailable');
  const named = stalled.partitions ?? [];
  expect(named.length).toBeGreaterThan(0);
  for (const partition of named) {
    expect(partition.topic).toBe(topic);
    expect(partition.committed_offset).toBe(committedBefore.get(partition.partition));
    expect(partition.lag).toBeGreaterThan(0);
    expect(partition.stalled_seconds).toBeGreaterThanOrEqual(stallSeconds);
  }
  // The batch stuck in the handler names why it waits: its retried call to ClickHouse.
  expect(named.map((p) => p.last_error).filter((error) => error !== null)).toContainEqual(expect.stringMatching(/^(block|dedup|insert|dead-letter): ClickHouse is unavailable/));
  const gauge = await stalledGauge();
  for (const partition of named) expect(gauge.get(partition.partition)).toBe(1);
  expect(isProcessAlive(workerPid)).toBe(true);

  clickhouse = await startClickHouse();
  await waitFor(async () => ((await bus.consumerLag(groupId, topic)) === 0 ? true : undefined), 'the worker to catch up once ClickHouse is back', 120_000);
  await waitFor(async () => ((await health()).status === 200 ? true : undefined), '/healthz to answer 200 again');
  expect((await health()).body).toEqual({ status: 'ok' });
  expect(await stalledGauge()).toEqual(new Map([0, 1, 2, 3].map((p) => [p, 0])));

  // The lag named was real: no more than the events that reached the partition during the outage.
  for (const partition of named) {
    const [arrived] = await sql<{ n: number }>(`SELECT count() AS n FROM events WHERE kafka_partition = ${partition.partition} AND kafka_offset >= ${partition.committed_offset}`);
    expect(partition.lag).toBeLessThanOrEqual(arrived?.n ?? 0);
  }
}, 300_000);

test('Stall detection: a batch the handler keeps failing stalls its partition alone, named with the error, until it is stored', async () => {
  const failingTopic = uniqueName('stall-failing');
  const failingGroup = uniqueName('stall-failing-group');
  // kafkajs logs every failed eachBatch as an error; here they are the point of the test.
  const quietBus = createKafkaBus({ brokers: testBrokers(), clientId: 'sluice-stall-test', logger: silentLogger });
  await quietBus.ensureTopics([{ name: failingTopic, partitions: 4, config: eventsTopicConfig }]);
  const publisher = await quietBus.createPublisher({ topic: failingTopic });
  await publisher.publish(Array.from({ length: 40 }, (_, i) => ({ key: `ds/${i}`, value: JSON.stringify({ i }) })));
  await publisher.close();

  const progress = createPartitionProgress({ stallMs: stallSeconds * 1000 });
  const consumer = await quietBus.createConsumer({ groupId: failingGroup, topic: failingTopic });
  let poisoned = true;
  const delivered = new Set<number>();
  await consumer.run(async (batch: ConsumedBatch) => {
    delivered.add(batch.partition);
    if (poisoned && batch.partition === 0) throw new Error('ClickHouse refused the block of partition 0');
  }, progress.record);
  try {
    const stalled = await waitFor(async () => {
      const named = progress.stalled();
      return named.length > 0 ? named : undefined;
    }, `partition 0 to be named stalled after ${stallSeconds} s and a margin`, 60_000);
    expect(stalled).toEqual([
      {
        topic: failingTopic,
        partition: 0,
        committed_offset: '0',
        lag: expect.any(Number) as number,
        stalled_seconds: expect.any(Number) as number,
        last_error: 'ClickHouse refused the block of partition 0',
      },
    ]);
    expect(stalled[0]?.lag).toBeGreaterThan(0);
    // The other partitions were stored and committed: owned, not stalled.
    expect(delivered).toEqual(new Set([0, 1, 2, 3]));
    expect(progress.partitions()).toEqual([0, 1, 2, 3].map((partition) => ({ topic: failingTopic, partition, stalled: partition === 0 })));

    poisoned = false;
    await waitFor(async () => ((await bus.consumerLag(failingGroup, failingTopic)) === 0 ? true : undefined), 'the batch to be stored once it no longer fails', 60_000);
    expect(progress.stalled()).toEqual([]);
  } finally {
    await consumer.stop();
  }
}, 120_000);
