/**
 * A joint block (several partitions' blocks in one insert) after a crash: the worker is killed with
 * SIGKILL after the joint insert and before any of its batches is committed, and the partitions go
 * to two new workers, each of which gets some of them. No worker can rebuild the joint block from
 * its own messages; each repeats it from the rows the block log keeps, under the same token, and
 * every event is stored once, in events and in the views.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventsTopicConfig } from '@sluice/core';
import { createKafkaBus } from '@sluice/kafka';
import { isProcessAlive, type RunningService } from '@sluice/dev';
import { createNativeProducer, type NativeProducer } from '@sluice/producer';
import { removeTestDirectory, testBrokers, testLogger, uniqueName, waitFor } from '../helpers/pipeline';
import { freePort, startChdbFront, startWorkerProcess } from '../helpers/processes';
import { analystSql, expectStoredExactlyOnce, searchStream, withRetriedCopies } from '../helpers/search-stream';

const partitions = 4;
let chdbPath: string;
let logDirectory: string;
let topic: string;
let groupId: string;
let producer: NativeProducer;
let clickhouse: RunningService;
let clickhouseUrl: string;
const workers: RunningService[] = [];

beforeAll(async () => {
  chdbPath = mkdtempSync(join(tmpdir(), 'sluice-joint-chdb-'));
  logDirectory = mkdtempSync(join(tmpdir(), 'sluice-joint-logs-'));
  topic = uniqueName('joint');
  groupId = uniqueName('joint-group');
  await createKafkaBus({ brokers: testBrokers(), clientId: 'sluice-joint-test', logger: testLogger }).ensureTopics([{ name: topic, partitions, config: eventsTopicConfig }]);
  producer = await createNativeProducer({ brokers: testBrokers(), topic });
  // ClickHouse as a process of its own, so that two workers share it.
  const port = await freePort();
  clickhouse = await startChdbFront({ chdbPath, port, logDirectory });
  clickhouseUrl = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  for (const worker of workers) await worker.stop();
  await clickhouse.stop();
  await producer.close();
  removeTestDirectory(chdbPath);
  removeTestDirectory(logDirectory);
});

async function startWorker(env: Record<string, string> = {}): Promise<RunningService> {
  const worker = await startWorkerProcess({ topic, groupId, adminPort: await freePort(), logDirectory, env: { CLICKHOUSE_URL: clickhouseUrl, ...env } });
  workers.push(worker);
  return worker;
}

test('a worker killed between a joint insert and its commits: two new workers each repeat the joint block from the log, and every event is stored once', async () => {
  const sql = analystSql(clickhouseUrl);
  const events = searchStream('ds-joint', 4_000);
  await producer.send(withRetriedCopies(events));

  // Every partition's batch is small and waits in Kafka, so the first fetch makes one joint block;
  // the worker then holds its commits for ten minutes.
  const first = await startWorker({ PARTITIONS_AT_ONCE: String(partitions), PAUSE_BEFORE_COMMIT_MS: '600000' });
  await waitFor(async () => ((await storedRows()) === events.length ? true : undefined), 'the joint block to be stored', 120_000);
  const joints = await sql<{ blocks: number; tokens: number }>(`SELECT count() AS blocks, uniqExact(joint_token) AS tokens FROM insert_joint_log`);
  expect(joints).toEqual([{ blocks: partitions, tokens: 1 }]);
  process.kill(first.pid, 'SIGKILL');
  await waitFor(async () => (isProcessAlive(first.pid) ? undefined : true), 'the killed worker to be gone');

  // Two workers split the partitions; each finds its blocks recorded in the joint block.
  await Promise.all([startWorker(), startWorker()]);
  const bus = createKafkaBus({ brokers: testBrokers(), clientId: 'sluice-joint-test', logger: testLogger });
  await waitFor(async () => ((await bus.consumerLag(groupId, topic)) === 0 ? true : undefined), 'the workers to commit everything', 120_000);
  await expectStoredExactlyOnce(sql, 'ds-joint', events);

  async function storedRows(): Promise<number> {
    const [row] = await sql<{ n: number }>(`SELECT count() AS n FROM events WHERE dataset_id = 'ds-joint'`);
    return row?.n ?? 0;
  }
}, 300_000);
