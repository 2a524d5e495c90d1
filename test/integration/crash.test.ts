/**
 * The crash test: the worker runs as its own process and is killed with SIGKILL at random points of
 * a 50,000-event stream (before, during or after an insert, before or after a commit), then started
 * again, five times. Afterwards the events table and the CTR and conversion views hold exactly the
 * counts computed from what was sent.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventsTopicConfig, sleep } from '@sluice/core';
import { createKafkaBus } from '@sluice/kafka';
import { isProcessAlive, type RunningService } from '@sluice/dev';
import { createNativeProducer, type NativeProducer } from '@sluice/producer';
import { removeTestDirectory, testBrokers, testLogger, uniqueName, waitFor } from '../helpers/pipeline';
import { freePort, startWorkerProcess } from '../helpers/processes';
import { analystSql, expectStoredExactlyOnce, searchStream, withRetriedCopies } from '../helpers/search-stream';

const totalEvents = 50_000;
const kills = 5;

let chdbPath: string;
let logDirectory: string;
let adminPort: number;
/** The worker's ClickHouse HTTP interface for analysts, where the test reads what it stored. */
let analystsPort: number;
let topic: string;
let groupId: string;
let producer: NativeProducer;
let worker: RunningService | undefined;
let sql: ReturnType<typeof analystSql>;

beforeAll(async () => {
  chdbPath = mkdtempSync(join(tmpdir(), 'sluice-crash-chdb-'));
  logDirectory = mkdtempSync(join(tmpdir(), 'sluice-crash-logs-'));
  adminPort = await freePort();
  analystsPort = await freePort();
  sql = analystSql(`http://127.0.0.1:${analystsPort}`);
  topic = uniqueName('crash');
  groupId = uniqueName('crash-group');
  await createKafkaBus({ brokers: testBrokers(), clientId: 'sluice-crash-test', logger: testLogger }).ensureTopics([{ name: topic, partitions: 4, config: eventsTopicConfig }]);
  producer = await createNativeProducer({ brokers: testBrokers(), topic });
});

afterAll(async () => {
  await worker?.stop();
  await producer.close();
  removeTestDirectory(chdbPath);
  removeTestDirectory(logDirectory);
});

function startWorker(): Promise<RunningService> {
  return startWorkerProcess({
    topic,
    groupId,
    adminPort,
    logDirectory,
    // Widens the moment between a stored block and its commit, so that kills land there too.
    env: { CHDB_PATH: chdbPath, CLICKHOUSE_HTTP_PORT: String(analystsPort), PAUSE_BEFORE_COMMIT_MS: '300' },
  });
}

test('five SIGKILLs of the worker during a 50,000-event stream lose nothing and store nothing twice, in events and in the views', async () => {
  const events = searchStream('ds-crash', totalEvents);
  const sent = withRetriedCopies(events);

  // Half the stream waits in Kafka before the worker starts, so it is busy inserting big blocks when
  // it is killed; the other half arrives in slices, one before each kill, so that however fast the
  // worker drains what it has, there is always something for it to be storing when it is killed.
  const half = Math.floor(sent.length / 2);
  for (let start = 0; start < half; start += 2_000) await producer.send(sent.slice(start, Math.min(start + 2_000, half)));
  worker = await startWorker();
  const slice = Math.ceil((sent.length - half) / kills);
  for (let kill = 0; kill < kills; kill++) {
    const from = half + kill * slice;
    const publishing = (async () => {
      for (let start = from; start < Math.min(from + slice, sent.length); start += 1_000) {
        await producer.send(sent.slice(start, Math.min(start + 1_000, from + slice, sent.length)));
        await sleep(100);
      }
    })();
    // Kill only a worker that is storing: after its first insert since it started, at a random moment.
    const before = await storedCount();
    await waitFor(async () => ((await storedCount()) > before ? true : undefined), 'the worker to store again', 120_000);
    await sleep(Math.floor(Math.random() * 400));
    const victim = worker;
    if (victim === undefined) throw new Error('no worker to kill');
    process.kill(victim.pid, 'SIGKILL');
    await waitFor(async () => (isProcessAlive(victim.pid) ? undefined : true), 'the killed worker to be gone');
    await publishing;
    worker = await startWorker();
  }

  const bus = createKafkaBus({ brokers: testBrokers(), clientId: 'sluice-crash-test', logger: testLogger });
  await waitFor(async () => ((await bus.consumerLag(groupId, topic)) === 0 ? true : undefined), 'the worker to commit everything', 240_000);

  await expectStoredExactlyOnce(sql, 'ds-crash', events);
}, 900_000);

async function storedCount(): Promise<number> {
  const [row] = await sql<{ n: number }>(`SELECT count() AS n FROM events`);
  return row?.n ?? 0;
}
