/**
 * The ClickHouse outage test. ClickHouse runs as a process of its own (chDB served over ClickHouse's
 * HTTP interface, packages/dev/src/chdb-http-main.ts) and the worker reaches it as a server,
 * through CLICKHOUSE_URL. Mid-stream that process is killed with SIGKILL and started again 30 s
 * later. Meanwhile the worker keeps running: it retries with backoff, commits nothing, and once
 * ClickHouse is back every event is stored exactly once, in events and in the views.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, eventsTopicConfig, sleep } from '@sluice/core';
import { createKafkaBus, type KafkaBus } from '@sluice/kafka';
import { isProcessAlive, type RunningService } from '@sluice/dev';
import { createNativeProducer, type NativeProducer } from '@sluice/producer';
import { removeTestDirectory, testBrokers, testLogger, uniqueName, waitFor } from '../helpers/pipeline';
import { freePort, startChdbFront, startWorkerProcess } from '../helpers/processes';
import { analystSql, expectStoredExactlyOnce, searchStream, withRetriedCopies } from '../helpers/search-stream';

const totalEvents = 20_000;
const outageMs = 30_000;

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
  chdbPath = mkdtempSync(join(tmpdir(), 'sluice-outage-chdb-'));
  logDirectory = mkdtempSync(join(tmpdir(), 'sluice-outage-logs-'));
  clickhousePort = await freePort();
  adminPort = await freePort();
  // As user analyst of the ClickHouse process, as an analyst reads what the worker stored there.
  sql = analystSql(`http://127.0.0.1:${clickhousePort}`);
  topic = uniqueName('outage');
  groupId = uniqueName('outage-group');
  bus = createKafkaBus({ brokers: testBrokers(), clientId: 'sluice-outage-test', logger: testLogger });
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

function startWorker(): Promise<RunningService> {
  return startWorkerProcess({ topic, groupId, adminPort, logDirectory, env: { CLICKHOUSE_URL: `http://127.0.0.1:${clickhousePort}` } });
}

test('ClickHouse gone for 30 s mid-stream: the worker waits without committing, then every event is stored exactly once', async () => {
  const events = searchStream('ds-outage', totalEvents);
  const sent = withRetriedCopies(events);
  const third = Math.ceil(sent.length / 3);
  let published = 0;
  async function publish(upTo: number): Promise<void> {
    for (; published < upTo; published = Math.min(published + 500, upTo)) {
      await producer.send(sent.slice(published, Math.min(published + 500, upTo)));
      await sleep(50);
    }
  }
  const committed = async (): Promise<number> => published - (await bus.consumerLag(groupId, topic));

  clickhouse = await startClickHouse();
  worker = await startWorker();
  const workerPid = worker.pid;
  await publish(third);
  await waitFor(async () => ((await storedCount()) > 0 ? true : undefined), 'the worker to store the first events', 60_000);

  // The outage: killed as a crash would, while the worker is busy with the stream.
  const clickhouseDown = Date.now();
  const victim = clickhouse;
  process.kill(victim.pid, 'SIGKILL');
  await waitFor(async () => (isProcessAlive(victim.pid) ? undefined : true), 'ClickHouse to be gone');
  // A commit for a block stored just before the kill may still land; after that, none can.
  await sleep(3_000);
  const committedEarlyInOutage = await committed();
  await publish(2 * third);
  await sleep(Math.max(0, clickhouseDown + outageMs - Date.now()));
  expect(await committed()).toBe(committedEarlyInOutage);
  expect(committedEarlyInOutage).toBeLessThan(2 * third);
  expect(isProcessAlive(workerPid)).toBe(true);

  const lagAtReturn = await bus.consumerLag(groupId, topic);
  clickhouse = await startClickHouse();
  const clickhouseBack = Date.now();
  await publish(sent.length);
  await waitFor(async () => ((await bus.consumerLag(groupId, topic)) === 0 ? true : undefined), 'the worker to catch up and commit everything', 240_000);
  const caughtUpMs = Date.now() - clickhouseBack;

  expect(isProcessAlive(workerPid)).toBe(true);
  await expectStoredExactlyOnce(sql, 'ds-outage', events);
  const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const retries = [...metrics.matchAll(/^sluice_worker_retries_total\{[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
  expect(retries).toBeGreaterThan(0);
  createLogger().info('ClickHouse outage test', { outageMs: clickhouseBack - clickhouseDown, lagAtReturn, caughtUpMs, retries, messages: sent.length });
}, 600_000);

async function storedCount(): Promise<number> {
  const [row] = await sql<{ n: number }>(`SELECT count() AS n FROM events`);
  return row?.n ?? 0;
}
