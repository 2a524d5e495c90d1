/**
 * The exact-numbers test: a few thousand events in every dialect, with duplicates, sampled and
 * late events and multi-item purchases, go through the real gateway, Kafka and worker into chDB.
 * Every analyst view must then return exactly the numbers the fixture module computes from the
 * facts alone (test/helpers/analytics-fixture.ts), read by the worker's own connection and by the
 * analysts' clients through ClickHouse's HTTP interface: @clickhouse/client, clickhouse-connect and
 * the JDBC driver.
 */
import { join } from 'node:path';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { serveChdbOverHttp, type ChdbHttpServer } from '@sluice/clickhouse';
import {
  awayFromMidnight,
  buildFacts,
  expectedStored,
  fixtureSampling,
  fixtureViewQuery,
  fixtureViews,
  render,
  renderThroughBatch,
  sendRequests,
  sortedRows,
  type Fact,
  type Row,
  type StoredFact,
} from '../helpers/analytics-fixture';
import { runJdbcCheck } from '../helpers/jdbc';
import { chdbPathForThisProcess, listen, startInProcessPipeline, waitFor, type InProcessPipeline } from '../helpers/pipeline';
import { clickhouseConnectPython, runFile } from '../helpers/python';

let pipeline: InProcessPipeline;
let facts: Fact[];
let stored: StoredFact[];
let analystsInterface: ChdbHttpServer;
let analystClient: ClickHouseClient;
/** Every view's rows as clickhouse-connect read them (one Python process reads them all). */
let pythonRows: Record<string, Row[]>;
/** The same, read through JDBC (one Java process). */
let jdbcRows: Record<string, Row[]>;

function outcome(name: string): number {
  return pipeline.workerStats.outcomes.get(name) ?? 0;
}

beforeAll(async () => {
  await awayFromMidnight();
  pipeline = await startInProcessPipeline({ partitions: 4, sampling: fixtureSampling });
  facts = buildFacts(Date.now());
  stored = expectedStored(facts);

  // Every 20th fact is sent twice more: once again through its own endpoint, once through /v1/batch.
  const duplicates = facts.filter((_, i) => i % 20 === 7);
  const requests = [
    ...facts.map((f) => render(f, pipeline.apiKey)),
    ...duplicates.map((f) => render(f, pipeline.apiKey)),
    ...duplicates.map((f) => renderThroughBatch(f, pipeline.apiKey)),
  ];
  // A fixed shuffle, so duplicates arrive before, between and after their originals.
  const order = requests.map((request, i) => ({ request, rank: (i * 7919) % 10007 })).sort((a, b) => a.rank - b.rank);
  expect(
    await sendRequests(
      pipeline.gatewayUrl,
      order.map((o) => o.request),
      24,
    ),
  ).toEqual([]);

  // Done when every message went through parse, every kept one through dedup, and every row passed dedup was inserted.
  await waitFor(
    async () => {
      const parsed = outcome('parse:ok') + outcome('parse:dlq');
      const settled = outcome('sample:ok') === outcome('dedup:ok') + outcome('dedup:drop') && pipeline.workerStats.storedRows === outcome('dedup:ok');
      return parsed >= requests.length && settled ? true : undefined;
    },
    'the worker to store the fixture',
    120_000,
  );

  // The analysts' interface, as the worker serves it, on the same chDB data directory.
  analystsInterface = serveChdbOverHttp(chdbPathForThisProcess(), { database: pipeline.clickhouse.database, password: '' });
  const url = await listen(analystsInterface.server);
  analystClient = createClient({ url, username: 'analyst' });
  const port = new URL(url).port;
  const queries = fixtureViews.map(({ name, expected }) => [name, fixtureViewQuery(name, expected(stored))] as const);
  const python = await clickhouseConnectPython();
  const child = runFile(python, [join(__dirname, '..', 'clients', 'clickhouse_connect_views.py'), port, pipeline.clickhouse.database], { timeout: 120_000 });
  child.child.stdin?.end(JSON.stringify(Object.fromEntries(queries)));
  pythonRows = JSON.parse((await child).stdout) as Record<string, Row[]>;
  jdbcRows = await runJdbcCheck<Record<string, Row[]>>(['views', port, pipeline.clickhouse.database, ...queries.flat()]);
}, 420_000);

afterAll(async () => {
  await analystClient?.close();
  await analystsInterface?.close();
  await pipeline.stop();
});

/** How each reader gets a view's rows. */
const readers: Record<string, (name: string, sql: string) => Promise<Row[]>> = {
  "the worker's connection": (_name, sql) => pipeline.clickhouse.queryRows<Row>(sql),
  '@clickhouse/client': async (_name, sql) => (await analystClient.query({ query: sql, format: 'JSONEachRow' })).json<Row>(),
  'clickhouse-connect': async (name) => pythonRows[name] ?? [],
  'the JDBC driver': async (name) => jdbcRows[name] ?? [],
};

test('the fixture holds what it must: duplicates, sampled-out events, late events and multi-item purchases', () => {
  const identities = new Set(facts.map((f) => `${f.dataset}/${f.key}`));
  expect(facts.length).toBeGreaterThan(2_500);
  expect(identities.size).toBe(facts.length);
  expect(stored.length).toBeLessThan(identities.size - 200);
  expect(stored.some((s) => s.rate < 1)).toBe(true);
  expect(stored.some((s) => s.fact.force)).toBe(true);
  expect(new Set(stored.map((s) => s.fact.day)).size).toBeGreaterThan(10);
  expect(stored.filter((s) => s.fact.kind === 'purchase' && s.fact.itemCents.length > 1).length).toBeGreaterThan(20);
  expect(stored.filter((s) => s.fact.kind === 'item_conversion' && s.fact.items.length > 1).length).toBeGreaterThan(10);
});

test('events holds each kept event once, with the sample rate it was kept at', async () => {
  const rows = await pipeline.clickhouse.queryRows<{ insert_id: string; dataset_id: string; sample_rate: number; n: number }>(
    `SELECT dataset_id, insert_id, any(sample_rate) AS sample_rate, count() AS n FROM events GROUP BY dataset_id, insert_id`,
  );
  expect(rows.filter((r) => r.n !== 1)).toEqual([]);
  const actual = new Map(rows.map((r) => [`${r.dataset_id}/${r.insert_id}`, r.sample_rate]));
  const expected = new Map(stored.map((s) => [`${s.fact.dataset}/${s.fact.key}`, s.rate]));
  expect(actual).toEqual(expected);
});

describe.each(Object.keys(readers))('read by %s', (reader) => {
  test.each(fixtureViews.map((view) => [view.name, view] as const))('%s has exactly the fixture\'s numbers', async (_name, { name, expected }) => {
    const rows = expected(stored);
    const actual = await readers[reader]?.(name, fixtureViewQuery(name, rows));
    expect(sortedRows(actual ?? [])).toEqual(sortedRows(rows));
  });
});
