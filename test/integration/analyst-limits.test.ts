/**
 * Limits, cancellation and isolation of analyst queries on the analysts' ClickHouse HTTP interface,
 * served by a worker process on chDB (CLICKHOUSE_HTTP_PORT), with four analyst queries at once and
 * a 1 s wait for a turn:
 * - heavy GROUP BYs whose clients disconnect are killed: system.processes stops listing them, the
 *   worker's peak RSS stays far below what they would take to their 4 GiB limit and the memory
 *   comes back, the next query answers; an analyst's own KILL is refused;
 * - while every analyst slot is busy (one query on both cores, three sleeping), events published to
 *   Kafka are stored, and the worker's admin listener answers; a fifth query is refused with code
 *   202 after its wait; the sleeping ones are stopped by max_execution_time with code 159.
 * Figures (RSS, how long the next query took) are logged, not asserted: speed is never asserted.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventsTopicConfig } from '@sluice/core';
import { createKafkaBus } from '@sluice/kafka';
import { createNativeProducer, type NativeProducer } from '@sluice/producer';
import type { RunningService } from '@sluice/dev';
import { fetchRetrying } from '../helpers/http';
import { removeTestDirectory, testBrokers, testLogger, uniqueName, waitFor } from '../helpers/pipeline';
import { freePort, startWorkerProcess } from '../helpers/processes';
import { searchStream } from '../helpers/search-stream';

const maxQueries = 4;
const mib = 1024 * 1024;

let chdbPath: string;
let logDirectory: string;
let url: string;
let adminPort: number;
let topic: string;
let worker: RunningService | undefined;
let producer: NativeProducer;

beforeAll(async () => {
  chdbPath = mkdtempSync(join(tmpdir(), 'sluice-analyst-limits-chdb-'));
  logDirectory = mkdtempSync(join(tmpdir(), 'sluice-analyst-limits-logs-'));
  topic = uniqueName('analyst-limits');
  await createKafkaBus({ brokers: testBrokers(), clientId: 'sluice-analyst-limits-test', logger: testLogger }).ensureTopics([{ name: topic, partitions: 4, config: eventsTopicConfig }]);
  producer = await createNativeProducer({ brokers: testBrokers(), topic });
  const httpPort = await freePort();
  adminPort = await freePort();
  worker = await startWorkerProcess({
    topic,
    groupId: uniqueName('analyst-limits-group'),
    adminPort,
    logDirectory,
    env: { CHDB_PATH: chdbPath, CLICKHOUSE_HTTP_PORT: String(httpPort), CLICKHOUSE_HTTP_MAX_QUERIES: String(maxQueries), CLICKHOUSE_HTTP_QUEUE_WAIT_MS: '1000', UV_THREADPOOL_SIZE: String(maxQueries + 2) },
  });
  url = `http://127.0.0.1:${httpPort}/?user=analyst`;
});

afterAll(async () => {
  await producer?.close();
  await worker?.stop();
  removeTestDirectory(chdbPath);
  removeTestDirectory(logDirectory);
});

interface Answer {
  status: number;
  code: string | null;
  retryAfter: string | null;
  text: string;
}

/** An analyst's query as a client sends it; `abandon` makes the client go before the answer. */
async function analystQuery(sql: string, abandon?: AbortSignal): Promise<Answer> {
  const response = await fetch(url, { method: 'POST', body: sql, ...(abandon === undefined ? {} : { signal: abandon }) });
  return { status: response.status, code: response.headers.get('x-clickhouse-exception-code'), retryAfter: response.headers.get('retry-after'), text: await response.text() };
}

/** What system.processes lists of queries whose text holds `marker`, read through the interface. */
async function running(marker: string): Promise<{ memory_usage: number }[]> {
  const answer = await analystQuery(`SELECT memory_usage FROM system.processes WHERE query LIKE '%${marker}%' AND query NOT LIKE '%system.processes%' FORMAT JSONEachRow`);
  if (answer.status !== 200) throw new Error(`system.processes: ${answer.status} ${answer.text}`);
  return answer.text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as { memory_usage: number });
}

/** The worker's resident memory now and at its peak, from /proc, in MiB. */
function workerMemory(): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${worker?.pid ?? 0}/status`, 'utf8');
  const kib = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: Math.round(kib('VmRSS') / 1024), peak: Math.round(kib('VmHWM') / 1024) };
}

/** The worker's CPU time (user and system), in seconds, from /proc. */
function workerCpuSeconds(): number {
  const fields = readFileSync(`/proc/${worker?.pid ?? 0}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function rowsStored(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  return Number(/^sluice_worker_rows_stored_total (\d+)$/m.exec(text)?.[1] ?? 0);
}

test('heavy queries whose clients disconnect are killed: they leave system.processes, the RSS stays bounded and comes back, the next query answers', async () => {
  const before = workerMemory();
  const cpuBefore = workerCpuSeconds();
  // Each would grow to its 4 GiB max_memory_usage over tens of seconds: 200 million groups.
  const heavy = 'SELECT number % 200000000 AS k, count() FROM numbers(10000000000) /* abandoned-heavy */ GROUP BY k ORDER BY k LIMIT 1';
  const clients = [new AbortController(), new AbortController()];
  const outcomes = clients.map((client) => analystQuery(heavy, client.signal).then(
    () => 'answered',
    () => 'abandoned',
  ));
  const seen = await waitFor(async () => {
    const queries = await running('abandoned-heavy');
    return queries.length === 2 && queries.every((query) => query.memory_usage >= 512 * mib) ? queries : undefined;
  }, 'both heavy queries to run and hold 512 MiB each', 60_000);
  const atDisconnect = workerMemory();
  const disconnectedAt = Date.now();
  for (const client of clients) client.abort();
  expect(await Promise.all(outcomes)).toEqual(['abandoned', 'abandoned']);

  // Nothing else is asked meanwhile: chDB gives a failed query's memory back only once its session
  // has run another query, which the interface does after a kill.
  const after = await waitFor(async () => {
    const now = workerMemory();
    return now.rss - before.rss < 512 ? now : undefined;
  }, 'the worker to give the memory back', 30_000);
  const givenBackAfterMs = Date.now() - disconnectedAt;
  const peak = workerMemory().peak;
  const nextAt = Date.now();
  expect(await running('abandoned-heavy')).toEqual([]);
  const nextMs = Date.now() - nextAt;
  console.log('abandoned heavy queries', {
    rssBeforeMiB: before.rss,
    heldAtDisconnectMiB: seen.map((query) => Math.round(query.memory_usage / mib)),
    rssAtDisconnectMiB: atDisconnect.rss,
    peakRssMiB: peak,
    rssAfterMiB: after.rss,
    givenBackAfterMs,
    nextQueryMs: nextMs,
    cpuSeconds: workerCpuSeconds() - cpuBefore,
  });
  // Run to their 4 GiB limit, the two would have taken the worker past 8 GiB.
  expect(peak - before.rss).toBeLessThan(3072);
});

test("an analyst's KILL is refused: it could stop the worker's own queries", async () => {
  expect(await analystQuery('KILL QUERY WHERE 1 ASYNC')).toMatchObject({ status: 403, code: '164', text: expect.stringContaining('KILL is not allowed') as unknown });
});

test('with every analyst slot busy, events are stored, a fifth query is refused with 202, and max_execution_time stops a query with 159', async () => {
  const busy = new AbortController();
  let busyAnswered = false;
  const busyOutcome = analystQuery('SELECT count() FROM numbers_mt(1000000000000) WHERE sipHash64(number) % 3 = 0 /* busy-heavy */', busy.signal).then(
    () => (busyAnswered = true),
    () => 'abandoned',
  );
  const sleepers = Array.from({ length: maxQueries - 1 }, () => analystQuery('SELECT sum(sleepEachRow(0.00004)) FROM numbers(1000000000) /* sleeper */'));
  let sleepersAnswered = 0;
  for (const sleeper of sleepers) void sleeper.then(() => sleepersAnswered++);

  // Once the four hold every slot, a fifth waits its 1 s and is refused as a ClickHouse server
  // refuses past max_concurrent_queries. (A fifth that arrives before one of the four gets a slot.)
  const refused = await waitFor(async () => {
    const answer = await analystQuery('SELECT 1');
    return answer.status === 200 ? undefined : answer;
  }, 'a query to find every slot taken');
  expect(refused).toMatchObject({ status: 503, code: '202', retryAfter: '1', text: expect.stringContaining('TOO_MANY_SIMULTANEOUS_QUERIES') as unknown });

  const events = searchStream('analyst-limits', 2_000);
  const storedBefore = await rowsStored();
  await producer.send(events);
  await waitFor(async () => ((await rowsStored()) >= storedBefore + events.length ? true : undefined), 'the worker to store the events while analysts hold every slot', 45_000);
  // Stored while all four were still running: none had answered.
  expect({ busyAnswered, sleepersAnswered }).toEqual({ busyAnswered: false, sleepersAnswered: 0 });
  expect((await fetch(`http://127.0.0.1:${adminPort}/healthz`)).status).toBe(200);

  const disconnectedAt = Date.now();
  busy.abort();
  const next = await fetchRetrying(url, { method: 'POST', body: 'SELECT 1' });
  expect({ status: next.status, text: await next.text() }).toEqual({ status: 200, text: '1\n' });
  console.log('next query with every other slot busy', { afterDisconnectMs: Date.now() - disconnectedAt });
  // Its slot came free because the abandoned query was killed, not because a sleeper ended.
  expect(sleepersAnswered).toBe(0);
  expect(await busyOutcome).toBe('abandoned');

  for (const sleeper of await Promise.all(sleepers)) {
    expect(sleeper).toMatchObject({ status: 408, code: '159', text: expect.stringContaining('TIMEOUT_EXCEEDED') as unknown });
  }
}, 180_000);
