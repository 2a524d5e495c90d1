/**
 * ClickHouse's HTTP interface for analysts in embedded mode: the official @clickhouse/client
 * against a worker process on chDB (CLICKHOUSE_HTTP_PORT), as docs/analysts.md tells analysts to
 * connect. Everything is read-only, with the checks and limits of the worker's POST /sql.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { eventsTopicConfig } from '@sluice/core';
import { createKafkaBus } from '@sluice/kafka';
import type { RunningService } from '../../scripts/service-process';
import { removeTestDirectory, testBrokers, testLogger, uniqueName } from '../helpers/pipeline';
import { freePort, startWorkerProcess } from '../helpers/processes';

/** The snippet of docs/analysts.md, which this test runs with the worker's port in its URL. */
const documentedSnippet = `const client = createClient({ url: 'http://127.0.0.1:8123', username: 'analyst' });
const result = await client.query({
  query: 'SELECT event_type, count() AS events FROM events WHERE dataset_id = {dataset:String} GROUP BY event_type',
  query_params: { dataset: 'demo' },
  format: 'JSONEachRow',
});
console.log(await result.json());`;

let chdbPath: string;
let logDirectory: string;
let url: string;
let worker: RunningService | undefined;
let client: ClickHouseClient;

beforeAll(async () => {
  chdbPath = mkdtempSync(join(tmpdir(), 'sluice-analyst-http-chdb-'));
  logDirectory = mkdtempSync(join(tmpdir(), 'sluice-analyst-http-logs-'));
  const topic = uniqueName('analyst-http');
  await createKafkaBus({ brokers: testBrokers(), clientId: 'sluice-analyst-http-test', logger: testLogger }).ensureTopics([{ name: topic, partitions: 4, config: eventsTopicConfig }]);
  const httpPort = await freePort();
  worker = await startWorkerProcess({ topic, groupId: uniqueName('analyst-http-group'), adminPort: await freePort(), logDirectory, env: { CHDB_PATH: chdbPath, CLICKHOUSE_HTTP_PORT: String(httpPort) } });
  url = `http://127.0.0.1:${httpPort}`;
  client = createClient({ url, username: 'analyst' });
});

afterAll(async () => {
  await client?.close();
  await worker?.stop();
  removeTestDirectory(chdbPath);
  removeTestDirectory(logDirectory);
});

/** The ClickHouse error code a rejected call carries (the client's ClickHouseError.code). */
async function errorCodeOf(call: Promise<unknown>): Promise<string | undefined> {
  try {
    await call;
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

test('the snippet in docs/analysts.md connects and runs a parameterised query on database sluice', async () => {
  const guide = readFileSync(join(__dirname, '..', '..', 'docs', 'analysts.md'), 'utf8');
  expect(guide).toContain(documentedSnippet);
  const documented = createClient({ url, username: 'analyst' });
  try {
    expect((await documented.ping()).success).toBe(true);
    const result = await documented.query({
      query: 'SELECT event_type, count() AS events FROM events WHERE dataset_id = {dataset:String} GROUP BY event_type',
      query_params: { dataset: 'demo' },
      format: 'JSONEachRow',
    });
    expect(await result.json()).toEqual([]);
  } finally {
    await documented.close();
  }
});

test('query parameters, JSON and JSONEachRow come back as from a ClickHouse server', async () => {
  const params = { n: 41, s: "it's\ta \\ test \\N é", names: ['a', "b'c", 'd\\e'] };
  const eachRow = await client.query({ query: 'SELECT {n:UInt32} + 1 AS next, {s:String} AS s, {names:Array(String)} AS names', query_params: params, format: 'JSONEachRow' });
  expect(eachRow.response_headers['x-clickhouse-format']).toBe('JSONEachRow');
  expect(await eachRow.json()).toEqual([{ next: 42, s: params.s, names: params.names }]);
  const json = await client.query({ query: 'SELECT currentDatabase() AS db, number AS n FROM numbers(2)', format: 'JSON' });
  const answer = await json.json<{ db: string; n: number }>();
  expect(answer.data).toEqual([
    // 64-bit integers as JSON numbers, as on every Sluice session (sessionSettings).
    { db: 'sluice', n: 0 },
    { db: 'sluice', n: 1 },
  ]);
  expect(answer.meta?.map((column) => column.name)).toEqual(['db', 'n']);
  expect(JSON.parse(String(json.response_headers['x-clickhouse-summary']))).toMatchObject({ read_rows: '2' });
  // A parameter is the one request's: a later query that lacks it is refused, as by a server.
  expect(await errorCodeOf(client.query({ query: 'SELECT {s:String} AS s' }))).toBe('456');
  const literal = await client.query({ query: "SELECT 'it''s {s:String}' AS text", format: 'JSONEachRow' });
  expect(await literal.json()).toEqual([{ text: "it's {s:String}" }]);
  const nullable = await client.query({ query: 'SELECT {maybe:Nullable(String)} AS maybe', query_params: { maybe: null }, format: 'JSONEachRow' });
  expect(await nullable.json()).toEqual([{ maybe: null }]);
});

test('writes and DDL are refused with READONLY (164), and nothing changes', async () => {
  expect(await errorCodeOf(client.insert({ table: 'events_rejected', values: [{ reason: 'x' }], format: 'JSONEachRow' }))).toBe('164');
  expect(await errorCodeOf(client.command({ query: 'CREATE TABLE sneaky (a UInt8) ENGINE = Memory' }))).toBe('164');
  expect(await errorCodeOf(client.command({ query: 'DROP TABLE events' }))).toBe('164');
  const tables = await client.query({ query: "SELECT count() AS n FROM system.tables WHERE database = 'sluice' AND name IN ('sneaky', 'events')", format: 'JSONEachRow' });
  expect(await tables.json()).toEqual([{ n: 1 }]);
  const response = await fetch(`${url}/?query=${encodeURIComponent('CREATE TABLE sneaky (a UInt8) ENGINE = Memory')}`, { method: 'POST' });
  expect(response.status).toBe(403);
  expect(response.headers.get('x-clickhouse-exception-code')).toBe('164');
  expect(await response.text()).toMatch(/^Code: 164\. DB::Exception: .*\(READONLY\)/);
});

test('INTO OUTFILE is refused and writes no file, nor does a statement the check cannot read', async () => {
  const file = join(logDirectory, 'analyst-outfile.csv');
  expect(await errorCodeOf(client.command({ query: `SELECT 1 INTO OUTFILE '${file}'` }))).toBe('164');
  // Nor through a query parameter's name, which the front writes into SET param_<name>.
  const smuggled = `param_x = '1'; SELECT 2 INTO OUTFILE '${file}'; SET param_y`;
  const response = await fetch(`${url}/?query=${encodeURIComponent('SELECT 1')}&${encodeURIComponent(smuggled)}=1`);
  expect(response.status).toBe(400);
  expect(await errorCodeOf(client.query({ query: 'SELEKT 1' }))).toBe('62');
  expect(existsSync(file)).toBe(false);
});

test("a request's settings, database and SET do not reach the next request", async () => {
  expect(await errorCodeOf(client.query({ query: 'SELECT 1', clickhouse_settings: { max_execution_time: 100_000 } }))).toBe('164');
  expect(await errorCodeOf(client.command({ query: 'SET max_threads = 77' }))).toBe('164');
  expect(await errorCodeOf(client.command({ query: 'USE system' }))).toBe('164');
  const system = createClient({ url, username: 'analyst', database: 'system' });
  try {
    expect(await (await system.query({ query: 'SELECT currentDatabase() AS db', format: 'JSONEachRow' })).json()).toEqual([{ db: 'system' }]);
  } finally {
    await system.close();
  }
  const after = await client.query({ query: "SELECT currentDatabase() AS db, getSetting('max_execution_time') AS limit", format: 'JSONEachRow' });
  expect(await after.json()).toEqual([{ db: 'sluice', limit: 60 }]);
});

test('users: analyst and default without a password; anyone else is refused with 516', async () => {
  const stranger = createClient({ url, username: 'admin', password: 'guess' });
  try {
    expect(await errorCodeOf(stranger.query({ query: 'SELECT 1' }))).toBe('516');
  } finally {
    await stranger.close();
  }
  const byHeaders = await fetch(`${url}/?query=${encodeURIComponent('SELECT 1')}`, { headers: { 'X-ClickHouse-User': 'default', 'X-ClickHouse-Key': '' } });
  expect(await byHeaders.text()).toBe('1\n');
  const refused = await fetch(`${url}/?query=${encodeURIComponent('SELECT 1')}`, { headers: { 'X-ClickHouse-User': 'analyst', 'X-ClickHouse-Key': 'wrong' } });
  expect(refused.status).toBe(401);
  expect(refused.headers.get('x-clickhouse-exception-code')).toBe('516');
});
