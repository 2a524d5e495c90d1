/**
 * Two shards, three workers. Each shard is its own ClickHouse (chDB behind the project's HTTP
 * front, packages/dev/src/chdb-http-main.ts), and the workers, as processes, place Kafka
 * partition p on shard p mod 2 (CLICKHOUSE_SHARD_URLS). A 50,000-event stream goes in through the
 * native producer and the analytics fixture through the gateway, while workers join, leave (the
 * group rebalances) and one is killed with SIGKILL. Afterwards each event is stored exactly once
 * across the shards, on the shard its partition maps to, and the views read over both shards (as
 * a Distributed table reads them) hold exactly the fixture's numbers.
 *
 * The shards here run the single-node schema; a real cluster's Replicated and Distributed tables
 * are checked by the container suite (test/containers/clickhouse-cluster.test.ts) where its images
 * exist. What both share, and what this test checks, is the worker's placement.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventsTopicConfig, sleep } from '@sluice/core';
import { createKafkaBus, type KafkaBus } from '@sluice/kafka';
import { isProcessAlive, type RunningService } from '@sluice/dev';
import { createApp } from '@sluice/gateway';
import { createNativeProducer, type NativeProducer } from '@sluice/producer';
import { createDevKeyStore } from '@sluice/tenancy';
import type { ClickHouse } from '@sluice/clickhouse';
import { awayFromMidnight, buildFacts, expectedStored, fixtureSampling, fixtureViewQuery, fixtureViews, render, sendRequests, sortedRows, type Row, type StoredFact } from '../helpers/analytics-fixture';
import { closeServer, listen, openTestClickHouse, removeTestDirectory, testBrokers, testLogger, uniqueName, waitFor } from '../helpers/pipeline';
import { freePort, startChdbFront, startWorkerProcess } from '../helpers/processes';
import { analystSql, expectStoredExactlyOnce, searchStream, withRetriedCopies } from '../helpers/search-stream';

jest.setTimeout(900_000);

const totalEvents = 50_000;
const streamDataset = 'ds-shards';
const shardCount = 2;
/** The tables a Distributed read would merge across shards for the analyst views (the views themselves read these). */
const mergedTables = ['events', 'dedup_keys', 'search_requests', 'item_ctr_totals', 'conversion_totals', 'outcome_totals'];

let directory: string;
let topic: string;
let groupId: string;
let bus: KafkaBus;
let producer: NativeProducer;
let gateway: Server;
let gatewayUrl: string;
const apiKey = 'sk_test_shards';
const shards: Array<{ url: string; process: RunningService }> = [];
const workers = new Map<string, RunningService>();
let stored: StoredFact[];
/** Both shards' tables, copied into one database as a Distributed read would see them. */
let merged: ClickHouse;

/** A directory of its own for each process's log: the log file is named after the service. */
function logDirectory(name: string): string {
  const path = join(directory, 'logs', name);
  mkdirSync(path, { recursive: true });
  return path;
}

async function startWorker(name: string): Promise<RunningService> {
  const worker = await startWorkerProcess({
    topic,
    groupId,
    adminPort: await freePort(),
    logDirectory: logDirectory(`worker-${name}`),
    env: {
      CLICKHOUSE_SHARD_URLS: shards.map((s) => s.url).join(','),
      SAMPLING_FILE: join(directory, 'sampling.json'),
      // Widens the moment between a stored block and its commit, so that the kill can land there.
      PAUSE_BEFORE_COMMIT_MS: '200',
    },
  });
  workers.set(name, worker);
  return worker;
}

async function storedOnShards(): Promise<number> {
  let total = 0;
  for (const shard of shards) total += (await analystSql(shard.url)<{ n: number }>('SELECT count() AS n FROM events'))[0]?.n ?? 0;
  return total;
}

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'sluice-shards-'));
  writeFileSync(join(directory, 'sampling.json'), JSON.stringify(fixtureSampling));
  topic = uniqueName('shards');
  groupId = uniqueName('shards-group');
  bus = createKafkaBus({ brokers: testBrokers(), clientId: 'sluice-shards-test', logger: testLogger });
  await bus.ensureTopics([{ name: topic, partitions: 4, config: eventsTopicConfig }]);
  producer = await createNativeProducer({ brokers: testBrokers(), topic });
  const publisher = await bus.createPublisher({ topic });
  gateway = createServer(createApp({ publisher, keyStore: createDevKeyStore(apiKey), logger: testLogger, kafkaReadiness: () => bus.checkReachable(topic) }));
  gatewayUrl = await listen(gateway);
  for (let i = 0; i < shardCount; i++) {
    const port = await freePort();
    shards.push({ url: `http://127.0.0.1:${port}`, process: await startChdbFront({ chdbPath: join(directory, `shard-${i}`), port, logDirectory: logDirectory(`shard-${i}`) }) });
  }
}, 300_000);

afterAll(async () => {
  for (const worker of workers.values()) await worker.stop();
  for (const shard of shards) await shard.process.stop();
  await closeServer(gateway);
  await producer.close();
  if (merged !== undefined) {
    await merged.command(`DROP DATABASE IF EXISTS ${merged.database}`);
    await merged.close();
  }
  removeTestDirectory(directory);
});

test('three workers, rebalances and a SIGKILL: every event stored once, on the shard of its partition, and the views over both shards exact', async () => {
  const events = searchStream(streamDataset, totalEvents);
  const sent = withRetriedCopies(events);
  await awayFromMidnight();
  const facts = buildFacts(Date.now());
  stored = expectedStored(facts);
  const half = Math.floor(sent.length / 2);
  for (let start = 0; start < half; start += 2_000) await producer.send(sent.slice(start, Math.min(start + 2_000, half)));

  // One worker first, then two more join: each join is a rebalance while blocks are in flight.
  await startWorker('a');
  const streaming = (async () => {
    for (let start = half; start < sent.length; start += 1_000) {
      await producer.send(sent.slice(start, Math.min(start + 1_000, sent.length)));
      await sleep(50);
    }
  })();
  // Every 20th fact twice: its copy lands on the partition, and so the shard, of the first.
  const fixture = sendRequests(
    gatewayUrl,
    [...facts, ...facts.filter((_, i) => i % 20 === 7)].map((fact) => render(fact, apiKey)),
    8,
  );
  await startWorker('b');
  await startWorker('c');

  // Kill a worker that is storing, at a random moment, and start it again (two more rebalances).
  const before = await storedOnShards();
  await waitFor(async () => ((await storedOnShards()) > before ? true : undefined), 'the workers to store again', 120_000);
  await sleep(Math.floor(Math.random() * 400));
  const victim = workers.get('b');
  if (victim === undefined) throw new Error('no worker b');
  process.kill(victim.pid, 'SIGKILL');
  await waitFor(async () => (isProcessAlive(victim.pid) ? undefined : true), 'the killed worker to be gone');
  await startWorker('b');
  // And one leaves as it is meant to: it stores and commits the batch in hand first.
  await workers.get('c')?.stop();
  workers.delete('c');

  await streaming;
  expect(await fixture).toEqual([]);
  await waitFor(async () => ((await bus.consumerLag(groupId, topic)) === 0 ? true : undefined), 'the workers to commit everything', 300_000);

  // Each shard holds only its own partitions' events and keys, and each holds some.
  for (const [index, shard] of shards.entries()) {
    const sql = analystSql(shard.url);
    for (const table of ['events', 'dedup_keys']) {
      const [placed] = await sql<{ own: number; foreign: number }>(`SELECT countIf(kafka_partition % ${shardCount} = ${index}) AS own, countIf(kafka_partition % ${shardCount} != ${index}) AS foreign FROM ${table}`);
      expect([table, index, placed?.foreign, (placed?.own ?? 0) > 0]).toEqual([table, index, 0, true]);
    }
  }

  // Both shards as one, as a Distributed read sees them: the same tables, copied side by side.
  merged = await openTestClickHouse(uniqueName('merged'));
  const views = await merged.queryRows<{ name: string }>(`SELECT name FROM system.tables WHERE database = currentDatabase() AND engine = 'MaterializedView'`);
  for (const { name } of views) await merged.command(`DROP VIEW ${name}`);
  for (const shard of shards) {
    for (const table of mergedTables) {
      await merged.command(`INSERT INTO ${table} SELECT * FROM url('${shard.url}/?database=sluice&query=${encodeURIComponent(`SELECT * FROM ${table} FORMAT Native`)}', 'Native')`);
    }
  }
  const mergedSql = <T>(query: string): Promise<T[]> => merged.queryRows<T>(query);
  await expectStoredExactlyOnce(mergedSql, streamDataset, events);
  const fixtureRows = await merged.queryRows<{ dataset_id: string; insert_id: string; n: number }>(
    `SELECT dataset_id, insert_id, count() AS n FROM events WHERE dataset_id != '${streamDataset}' GROUP BY dataset_id, insert_id`,
  );
  expect(fixtureRows.filter((r) => r.n !== 1)).toEqual([]);
  expect(new Set(fixtureRows.map((r) => `${r.dataset_id}/${r.insert_id}`))).toEqual(new Set(stored.map((s) => `${s.fact.dataset}/${s.fact.key}`)));
  for (const { name, expected } of fixtureViews) {
    const rows = expected(stored);
    const actual = await merged.queryRows<Row>(fixtureViewQuery(name, rows));
    expect([name, sortedRows(actual)]).toEqual([name, sortedRows(rows)]);
  }
});
