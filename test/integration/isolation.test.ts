/**
 * Isolation under faults. ClickHouse runs as a process of its own (the chDB HTTP front), so the test
 * can change its schema mid-stream: a table constraint makes it refuse a pattern of rows (every
 * view whose request number ends in 7). The worker must isolate exactly those rows, dead-letter
 * them with ClickHouse's error, and store every other event exactly once, in events and in the
 * views, while it is killed with SIGKILL in the middle of isolating, three times.
 */
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventsTopicConfig, sleep } from '@sluice/core';
import { createKafkaBus, type KafkaBus } from '@sluice/kafka';
import { isProcessAlive, type RunningService } from '@sluice/dev';
import { createNativeProducer, type NativeProducer } from '@sluice/producer';
import { removeTestDirectory, testBrokers, testLogger, uniqueName, waitFor } from '../helpers/pipeline';
import { freePort, startChdbFront, startWorkerProcess } from '../helpers/processes';
import { analystSql, expectStoredExactlyOnce, searchStream, withRetriedCopies } from '../helpers/search-stream';

const totalEvents = 20_000;
const kills = 3;
/** The rows ClickHouse is made to refuse. */
const isPoison = (insertId: string): boolean => /^v-\d*7$/.test(insertId);

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
let sql: ReturnType<typeof analystSql>;

beforeAll(async () => {
  chdbPath = mkdtempSync(join(tmpdir(), 'sluice-isolation-chdb-'));
  logDirectory = mkdtempSync(join(tmpdir(), 'sluice-isolation-logs-'));
  clickhousePort = await freePort();
  adminPort = await freePort();
  // As user analyst of the ClickHouse process, as an analyst reads what the worker stored there.
  sql = analystSql(`http://127.0.0.1:${clickhousePort}`);
  topic = uniqueName('isolation');
  groupId = uniqueName('isolation-group');
  bus = createKafkaBus({ brokers: testBrokers(), clientId: 'sluice-isolation-test', logger: testLogger });
  await bus.ensureTopics([{ name: topic, partitions: 4, config: eventsTopicConfig }]);
  producer = await createNativeProducer({ brokers: testBrokers(), topic });
  clickhouse = await startChdbFront({ chdbPath, port: clickhousePort, logDirectory });
});

afterAll(async () => {
  await worker?.stop();
  await clickhouse?.stop();
  await producer.close();
  removeTestDirectory(chdbPath);
  removeTestDirectory(logDirectory);
});

let workerStarts = 0;

/** Each start logs to a file of its own, so a kill can wait for the line of the worker it kills. */
function startWorker(): Promise<RunningService> {
  const logs = join(logDirectory, `worker-${++workerStarts}`);
  mkdirSync(logs);
  return startWorkerProcess({ topic, groupId, adminPort, logDirectory: logs, env: { CLICKHOUSE_URL: `http://127.0.0.1:${clickhousePort}`, LOG_LEVEL: 'warn' } });
}

const isolating = (start: number): boolean => {
  try {
    return readFileSync(join(logDirectory, `worker-${start}`, 'worker.log'), 'utf8').includes('isolating the rows it refuses');
  } catch {
    return false;
  }
};

async function clickhouseCommand(statement: string): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${clickhousePort}/?database=sluice`, { method: 'POST', body: statement });
  if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
}

test('rows ClickHouse refuses are dead-lettered and the rest stored exactly once, with SIGKILLs in the middle of isolating', async () => {
  worker = await startWorker();
  // Mid-stream: the worker has stored a first dataset when ClickHouse starts refusing rows.
  const warmUp = searchStream('ds-before', 2_000);
  await producer.send(warmUp);
  await waitFor(async () => ((await sql<{ n: number }>(`SELECT count() AS n FROM events WHERE dataset_id = 'ds-before'`))[0]?.n === warmUp.length ? true : undefined), 'the first dataset to be stored', 120_000);
  await clickhouseCommand(`ALTER TABLE events ADD CONSTRAINT refuse_some_views CHECK NOT match(insert_id, '^v-[0-9]*7$')`);

  const events = searchStream('ds-isolation', totalEvents);
  const poison = events.filter((e) => isPoison(e.insert_id));
  const good = events.filter((e) => !isPoison(e.insert_id));
  expect(poison.length).toBeGreaterThan(100);
  const sent = withRetriedCopies(events);
  const publishing = (async () => {
    for (let start = 0; start < sent.length; start += 2_000) {
      await producer.send(sent.slice(start, Math.min(start + 2_000, sent.length)));
      await sleep(200);
    }
  })();

  for (let kill = 0; kill < kills; kill++) {
    const start = workerStarts;
    await waitFor(async () => (isolating(start) ? true : undefined), 'the worker to start isolating refused rows', 120_000);
    const victim = worker;
    process.kill(victim.pid, 'SIGKILL');
    await waitFor(async () => (isProcessAlive(victim.pid) ? undefined : true), 'the killed worker to be gone');
    worker = await startWorker();
  }
  await publishing;
  await waitFor(async () => ((await bus.consumerLag(groupId, topic)) === 0 ? true : undefined), 'the worker to commit everything', 300_000);

  await expectStoredExactlyOnce(sql, 'ds-isolation', good);
  const rejected = await sql<{ insert_id: string; steps: string[]; reason: string }>(
    `SELECT insert_id, groupUniqArray(step) AS steps, any(reason) AS reason FROM events_rejected FINAL WHERE dataset_id = 'ds-isolation' GROUP BY insert_id ORDER BY insert_id`,
  );
  expect(rejected.map((r) => r.insert_id)).toEqual(poison.map((e) => e.insert_id).sort());
  expect(new Set(rejected.flatMap((r) => r.steps))).toEqual(new Set(['insert']));
  expect(rejected[0]?.reason).toMatch(/Constraint `refuse_some_views`.* is violated/);
  expect(await sql(`SELECT count() AS n FROM events WHERE dataset_id = 'ds-before'`)).toEqual([{ n: warmUp.length }]);
}, 900_000);
