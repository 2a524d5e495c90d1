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
import { createKafkaBus, isProcessAlive } from '@sluice/kafka';
import { buildEnvelope, createNativeProducer, type NativeProducer } from '@sluice/producer';
import type { Envelope } from '@sluice/envelope';
import { startService, type RunningService } from '../../scripts/service-process';
import { removeTestDirectory, testBrokers, testLogger, uniqueName, waitFor } from '../helpers/pipeline';
import { freePort } from '../helpers/processes';

const totalEvents = 50_000;
const kills = 5;
const day = Date.UTC(2024, 4, 14);

let chdbPath: string;
let logDirectory: string;
let adminPort: number;
let topic: string;
let groupId: string;
let producer: NativeProducer;
let worker: RunningService | undefined;

beforeAll(async () => {
  chdbPath = mkdtempSync(join(tmpdir(), 'sluice-crash-chdb-'));
  logDirectory = mkdtempSync(join(tmpdir(), 'sluice-crash-logs-'));
  adminPort = await freePort();
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

async function startWorker(): Promise<RunningService> {
  return startService({
    name: 'worker',
    entry: 'services/worker/src/main.ts',
    env: {
      KAFKA_BROKERS: testBrokers().join(','),
      KAFKA_TOPIC: topic,
      KAFKA_TOPIC_PARTITIONS: '4',
      CONSUMER_GROUP: groupId,
      CHDB_PATH: chdbPath,
      ADMIN_PORT: String(adminPort),
      LOG_LEVEL: 'error',
      // Widens the moment between a stored block and its commit, so that kills land there too.
      PAUSE_BEFORE_COMMIT_MS: '300',
    },
    healthUrl: `http://127.0.0.1:${adminPort}/healthz`,
    logDirectory,
    startTimeoutMs: 120_000,
    onUnexpectedExit: () => undefined,
  });
}

async function sql<T>(query: string): Promise<T[]> {
  const response = await fetch(`http://127.0.0.1:${adminPort}/sql`, { method: 'POST', body: query });
  const text = await response.text();
  if (!response.ok) throw new Error(`${response.status} ${text}`);
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as T);
}

/** A seeded stream: searches, clicks and purchases naming them, plain views, and every 25th event sent twice. */
function stream(): Envelope[] {
  let state = 42;
  const next = (): number => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const events: Envelope[] = [];
  let request = 0;
  while (events.length < totalEvents) {
    const requestId = `req-${++request}`;
    const at = day + (request % 86_400) * 1000;
    events.push(buildEnvelope({ dataset_id: 'ds-crash', event_type: 'search', insert_id: `s-${request}`, request_id: requestId, request_type: 'search', query: `q${request % 50}`, occurred_at: at, received_at: at }));
    const clicks = Math.floor(next() * 3);
    for (let c = 0; c < clicks; c++) {
      events.push(buildEnvelope({ dataset_id: 'ds-crash', event_type: 'click', insert_id: `c-${request}-${c}`, request_id: requestId, request_type: 'search', position: c, occurred_at: at, received_at: at }));
    }
    if (next() < 0.1) {
      events.push(buildEnvelope({ dataset_id: 'ds-crash', event_type: 'purchase', insert_id: `p-${request}`, request_id: requestId, request_type: 'search', revenue: 25, user_id: `u-${request % 100}`, occurred_at: at, received_at: at }));
    }
    if (next() < 0.3) events.push(buildEnvelope({ dataset_id: 'ds-crash', event_type: 'view', insert_id: `v-${request}`, occurred_at: at, received_at: at }));
  }
  return events.slice(0, totalEvents);
}

test('five SIGKILLs of the worker during a 50,000-event stream lose nothing and store nothing twice, in events and in the views', async () => {
  const events = stream();
  const sent = events.flatMap((envelope, i) => (i % 25 === 0 ? [envelope, envelope] : [envelope]));

  // Half the stream waits in Kafka before the worker starts, so it is busy inserting big blocks when
  // it is killed; the other half arrives while it is killed and restarted at random moments.
  const half = Math.floor(sent.length / 2);
  for (let start = 0; start < half; start += 2_000) await producer.send(sent.slice(start, Math.min(start + 2_000, half)));
  worker = await startWorker();
  const publishing = (async () => {
    for (let start = half; start < sent.length; start += 1_000) {
      await producer.send(sent.slice(start, Math.min(start + 1_000, sent.length)));
      await sleep(100);
    }
  })();
  for (let kill = 0; kill < kills; kill++) {
    // Kill only a worker that is storing: after its first insert since it started, at a random moment.
    const before = await storedCount();
    await waitFor(async () => ((await storedCount()) > before ? true : undefined), 'the worker to store again', 120_000);
    await sleep(Math.floor(Math.random() * 400));
    const victim = worker;
    if (victim === undefined) throw new Error('no worker to kill');
    process.kill(victim.pid, 'SIGKILL');
    await waitFor(async () => (isProcessAlive(victim.pid) ? undefined : true), 'the killed worker to be gone');
    worker = await startWorker();
  }
  await publishing;

  const bus = createKafkaBus({ brokers: testBrokers(), clientId: 'sluice-crash-test', logger: testLogger });
  await waitFor(async () => ((await bus.consumerLag(groupId, topic)) === 0 ? true : undefined), 'the worker to commit everything', 240_000);

  const [stored] = await sql<{ rows: number; ids: number }>(`SELECT count() AS rows, uniqExact(insert_id) AS ids FROM events WHERE dataset_id = 'ds-crash'`);
  expect(stored).toEqual({ rows: events.length, ids: events.length });

  const searches = events.filter((e) => e.event_type === 'search');
  const clicksByRequest = new Map<string, number>();
  for (const e of events) if (e.event_type === 'click' && e.request_id) clicksByRequest.set(e.request_id, (clicksByRequest.get(e.request_id) ?? 0) + 1);
  const searchesWithClick = searches.filter((s) => (clicksByRequest.get(s.request_id ?? '') ?? 0) > 0).length;
  const clicks = [...clicksByRequest.values()].reduce((a, b) => a + b, 0);
  expect(await sql(`SELECT searches, searches_with_click, clicks FROM ctr_daily WHERE dataset_id = 'ds-crash'`)).toEqual([
    { searches: searches.length, searches_with_click: searchesWithClick, clicks },
  ]);

  const purchases = events.filter((e) => e.event_type === 'purchase');
  expect(await sql(`SELECT conversions, purchases, revenue, converting_users FROM conversion_daily WHERE dataset_id = 'ds-crash'`)).toEqual([
    { conversions: purchases.length, purchases: purchases.length, revenue: 25 * purchases.length, converting_users: new Set(purchases.map((p) => p.user_id)).size },
  ]);
  const [keys] = await sql<{ n: number }>(`SELECT count() AS n FROM (SELECT insert_id FROM event_keys FINAL WHERE dataset_id = 'ds-crash')`);
  expect(keys?.n).toBe(events.length);
}, 900_000);

async function storedCount(): Promise<number> {
  const [row] = await sql<{ n: number }>(`SELECT count() AS n FROM events`);
  return row?.n ?? 0;
}
