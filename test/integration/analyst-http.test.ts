/**
 * ClickHouse's HTTP interface for analysts, with the official @clickhouse/client, as
 * docs/analysts.md tells analysts to connect, through both doors: the worker's own interface in
 * embedded mode (CLICKHOUSE_HTTP_PORT) and user `analyst` of the chDB front a worker in server
 * mode writes to. Every check holds on both: read-only, with the statement check and the limits.
 */
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { createNativeProducer } from '@sluice/producer';
import { analystTargets, type AnalystTarget } from '../helpers/analyst-targets';
import { testBrokers, waitFor } from '../helpers/pipeline';
import { searchStream } from '../helpers/search-stream';

/** The snippet of docs/analysts.md, which this test runs with the target's port in its URL. */
const documentedSnippet = `const client = createClient({ url: 'http://127.0.0.1:8123', username: 'analyst' });
const result = await client.query({
  query: 'SELECT event_type, count() AS events FROM events WHERE dataset_id = {dataset:String} GROUP BY event_type',
  query_params: { dataset: 'demo' },
  format: 'JSONEachRow',
});
console.log(await result.json());`;
const documentedQuery = 'SELECT event_type, count() AS events FROM events WHERE dataset_id = {dataset:String} GROUP BY event_type';

/** A plain request's user: without one it is `default`, which on a server is the worker's. */
const asAnalyst = { 'X-ClickHouse-User': 'analyst' };

/** The ClickHouse error code a rejected call carries (the client's ClickHouseError.code). */
async function errorCodeOf(call: Promise<unknown>): Promise<string | undefined> {
  try {
    await call;
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}

describe.each(analystTargets)('%s', (_door, start) => {
  let target: AnalystTarget | undefined;
  let url: string;
  let client: ClickHouseClient;

  beforeAll(async () => {
    target = await start('analyst-http');
    url = target.url;
    client = createClient({ url, username: 'analyst' });
  });

  afterAll(async () => {
    await client?.close();
    await target?.stop();
  });

  test('the snippet in docs/analysts.md connects and runs a parameterised query on database sluice', async () => {
    const guide = readFileSync(join(__dirname, '..', '..', 'docs', 'analysts.md'), 'utf8');
    expect(guide).toContain(documentedSnippet);
    const documented = createClient({ url, username: 'analyst' });
    try {
      expect((await documented.ping()).success).toBe(true);
      const result = await documented.query({ query: documentedQuery, query_params: { dataset: 'demo' }, format: 'JSONEachRow' });
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

  test('asked for compressed answers, it gets gzip; Native comes as ClickHouse writes it (read raw: the client has no Native decoder)', async () => {
    const compressed = createClient({ url, username: 'analyst', compression: { response: true } });
    try {
      const result = await compressed.query({ query: 'SELECT number AS n, repeat(toString(number), 20) AS s FROM numbers(1000)', format: 'JSONEachRow' });
      expect(result.response_headers['content-encoding']).toBe('gzip');
      const rows = await result.json<{ n: number; s: string }>();
      expect([rows.length, rows.at(-1)]).toEqual([1000, { n: 999, s: '999'.repeat(20) }]);
      const native = await compressed.exec({ query: "SELECT toUInt8(1) AS x, 'ab' AS s FORMAT Native" });
      expect(native.response_headers['content-encoding']).toBe('gzip');
      const chunks: Buffer[] = [];
      for await (const chunk of native.stream) chunks.push(chunk as Buffer);
      // 2 columns, 1 row; x UInt8 = 1; s String = 'ab' (no client_protocol_version: revision 0).
      expect(Buffer.concat(chunks).toString('hex')).toBe('0201' + '0178' + '0555496e7438' + '01' + '0173' + '06537472696e67' + '026162');
    } finally {
      await compressed.close();
    }
  });

  test('writes and DDL are refused with READONLY (164), and nothing changes', async () => {
    expect(await errorCodeOf(client.insert({ table: 'events_rejected', values: [{ reason: 'x' }], format: 'JSONEachRow' }))).toBe('164');
    expect(await errorCodeOf(client.command({ query: 'CREATE TABLE sneaky (a UInt8) ENGINE = Memory' }))).toBe('164');
    expect(await errorCodeOf(client.command({ query: 'DROP TABLE events' }))).toBe('164');
    const tables = await client.query({ query: "SELECT count() AS n FROM system.tables WHERE database = 'sluice' AND name IN ('sneaky', 'events')", format: 'JSONEachRow' });
    expect(await tables.json()).toEqual([{ n: 1 }]);
    const response = await fetch(`${url}/?query=${encodeURIComponent('CREATE TABLE sneaky (a UInt8) ENGINE = Memory')}`, { method: 'POST', headers: asAnalyst });
    expect(response.status).toBe(403);
    expect(response.headers.get('x-clickhouse-exception-code')).toBe('164');
    expect(await response.text()).toMatch(/^Code: 164\. DB::Exception: .*\(READONLY\)/);
  });

  test('INTO OUTFILE is refused and writes no file, nor does a statement the check cannot read', async () => {
    const file = join(tmpdir(), `sluice-analyst-outfile-${process.pid}.csv`);
    expect(await errorCodeOf(client.command({ query: `SELECT 1 INTO OUTFILE '${file}'` }))).toBe('164');
    // Nor through a query parameter's name, which the front writes into SET param_<name>.
    const smuggled = `param_x = '1'; SELECT 2 INTO OUTFILE '${file}'; SET param_y`;
    const response = await fetch(`${url}/?query=${encodeURIComponent('SELECT 1')}&${encodeURIComponent(smuggled)}=1`, { headers: asAnalyst });
    expect(response.status).toBe(400);
    expect(await errorCodeOf(client.query({ query: 'SELEKT 1' }))).toBe('62');
    expect(existsSync(file)).toBe(false);
  });

  test("a request's settings, database and SET do not reach the next request", async () => {
    expect(await errorCodeOf(client.query({ query: 'SELECT 1', clickhouse_settings: { max_memory_usage: '0' } }))).toBe('164');
    // max_execution_time is taken (clickhouse-go sends it), and lowers the limit of its request only.
    expect(await (await client.query({ query: "SELECT getSetting('max_execution_time') AS limit", clickhouse_settings: { max_execution_time: 100_000 }, format: 'JSONEachRow' })).json()).toEqual([{ limit: 60 }]);
    expect(await errorCodeOf(client.command({ query: 'SET max_threads = 77' }))).toBe('164');
    expect(await errorCodeOf(client.command({ query: 'USE system' }))).toBe('164');
    const system = createClient({ url, username: 'analyst', database: 'system' });
    try {
      expect(await (await system.query({ query: 'SELECT currentDatabase() AS db', format: 'JSONEachRow' })).json()).toEqual([{ db: 'system' }]);
    } finally {
      await system.close();
    }
    const after = await client.query({ query: "SELECT currentDatabase() AS db, getSetting('max_execution_time') AS limit, getSetting('max_threads') AS threads", format: 'JSONEachRow' });
    expect(await after.json()).not.toContainEqual(expect.objectContaining({ threads: 77 }));
    expect(await (await client.query({ query: "SELECT currentDatabase() AS db, getSetting('max_memory_usage') AS memory", format: 'JSONEachRow' })).json()).toEqual([{ db: 'sluice', memory: 4 * 1024 ** 3 }]);
  });

  test('user analyst without a password; a wrong password or anyone else is refused with 516', async () => {
    const stranger = createClient({ url, username: 'admin', password: 'guess' });
    try {
      expect(await errorCodeOf(stranger.query({ query: 'SELECT 1' }))).toBe('516');
    } finally {
      await stranger.close();
    }
    const byHeaders = await fetch(`${url}/?query=${encodeURIComponent('SELECT 1')}`, { headers: { 'X-ClickHouse-User': 'analyst', 'X-ClickHouse-Key': '' } });
    expect(await byHeaders.text()).toBe('1\n');
    const refused = await fetch(`${url}/?query=${encodeURIComponent('SELECT 1')}`, { headers: { 'X-ClickHouse-User': 'analyst', 'X-ClickHouse-Key': 'wrong' } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('x-clickhouse-exception-code')).toBe('516');
  });

  test('reads what the worker stored: the documented query counts the events sent through Kafka', async () => {
    const events = searchStream('demo', 300);
    const producer = await createNativeProducer({ brokers: testBrokers(), topic: target?.topic ?? '' });
    try {
      await producer.send(events);
    } finally {
      await producer.close();
    }
    const expected = new Map<string, number>();
    for (const event of events) expected.set(event.event_type, (expected.get(event.event_type) ?? 0) + 1);
    const counted = await waitFor(async () => {
      const result = await client.query({ query: documentedQuery, query_params: { dataset: 'demo' }, format: 'JSONEachRow' });
      const rows = await result.json<{ event_type: string; events: number }>();
      return rows.reduce((sum, row) => sum + row.events, 0) === events.length ? rows : undefined;
    }, 'the worker to store the events', 60_000);
    expect(new Map(counted.map((row) => [row.event_type, row.events]))).toEqual(expected);
  });
});
