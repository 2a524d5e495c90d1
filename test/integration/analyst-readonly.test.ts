/**
 * The analyst's read-only handling, over ClickHouse's HTTP interface, on both doors that have it:
 * the worker's interface (embedded mode, where every user is the analyst) and user `analyst` of the
 * chDB front that stands in for a server. One handling serves both, so each case must hold on each.
 */
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analystLimits, serveChdbOverHttp, type AnalystAccess, type ChdbHttpServer, type ClickHouse, type ServerUsers } from '@sluice/clickhouse';
import { chdbPathForThisProcess, openTestClickHouse } from '../helpers/pipeline';

let clickhouse: ClickHouse;

beforeAll(async () => {
  clickhouse = await openTestClickHouse();
});

afterAll(async () => {
  await clickhouse.command(`DROP DATABASE IF EXISTS ${clickhouse.database}`);
  await clickhouse.close();
});

const doors: [string, (database: string) => AnalystAccess | ServerUsers][] = [
  ["the worker's interface", (database) => ({ database, password: '' })],
  ['user analyst of the chDB front', (database) => ({ defaultPassword: 'the-workers-password', analyst: { database, password: '' } })],
];

describe.each(doors)('%s', (_door, access) => {
  /** Where a planted INTO OUTFILE would write; checked on disk after each refusal. */
  const outfile = join(tmpdir(), `sluice-planted-${process.pid}.txt`);
  let front: ChdbHttpServer;
  let url: string;

  beforeAll(async () => {
    front = serveChdbOverHttp(chdbPathForThisProcess(), access(clickhouse.database));
    await new Promise<void>((resolve) => front.server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(front.server.address() as AddressInfo).port}`;
  });

  afterAll(() => front.close());

  /** The statement as user analyst sends it: the JSONEachRow answer, or ClickHouse's refusal as an error. */
  async function asAnalyst(sql: string): Promise<string> {
    const response = await fetch(`${url}/?default_format=JSONEachRow`, { method: 'POST', headers: { 'X-ClickHouse-User': 'analyst' }, body: sql });
    const text = await response.text();
    if (!response.ok) throw new Error(`${response.status} ${text}`);
    return text;
  }

  test('answers queries in JSONEachRow, on its database', async () => {
    expect(await asAnalyst('SELECT 1 AS one, currentDatabase() AS db')).toBe(`{"one":1,"db":"${clickhouse.database}"}\n`);
  });

  test.each([
    ['an INSERT', "INSERT INTO schema_migrations (version, name, checksum) VALUES (999, 'x', 'x')"],
    ['a DROP', 'DROP TABLE events'],
    ['lifting readonly with SETTINGS', 'SELECT 1 SETTINGS readonly = 0'],
    ['lifting a limit with SETTINGS', 'SELECT 1 SETTINGS max_execution_time = 0'],
    ['a CREATE', 'CREATE TABLE sneaky (a UInt8) ENGINE = Memory'],
    ['the file table function', "SELECT * FROM file('/etc/hostname', 'LineAsString')"],
    ['the url table function', "SELECT * FROM url('http://127.0.0.1:1/', 'LineAsString')"],
    ['the executable table function', "SELECT * FROM executable('true', 'TSV', 'a String')"],
    ['the remote table function', "SELECT * FROM remote('127.0.0.1', system.one)"],
    ['the s3 table function', "SELECT * FROM s3('http://127.0.0.1:1/bucket/key.csv', 'CSV', 'a String')"],
    ['the mysql table function', "SELECT * FROM mysql('127.0.0.1:1', 'db', 't', 'user', 'password')"],
    ['the postgresql table function', "SELECT * FROM postgresql('127.0.0.1:1', 'db', 't', 'user', 'password')"],
    ['the hdfs table function', "SELECT * FROM hdfs('hdfs://127.0.0.1:1/x.csv', 'CSV', 'a String')"],
    ['the azureBlobStorage table function', "SELECT * FROM azureBlobStorage('http://127.0.0.1:1/account', 'container', 'blob.csv', 'CSV')"],
    ['the jdbc table function', "SELECT * FROM jdbc('jdbc:mysql://127.0.0.1:1/db', 't')"],
  ])('refuses %s', async (_name, sql) => {
    await expect(asAnalyst(sql)).rejects.toThrow(/readonly|read-only|Cannot modify/i);
    expect(await clickhouse.queryRows('SELECT version FROM schema_migrations FINAL WHERE version = 999')).toEqual([]);
    expect(await clickhouse.queryRows("SELECT name FROM system.tables WHERE database = currentDatabase() AND name IN ('events', 'sneaky')")).toEqual([{ name: 'events' }]);
  });

  test.each([
    ['a write hidden after a read', 'SELECT 1; DROP TABLE events', /one statement per request/],
    ['a SET hidden before a read', 'SET readonly = 0; SELECT 1', /one statement per request/],
    ['INTO OUTFILE', `SELECT 'planted' INTO OUTFILE '${outfile}' TRUNCATE`, /INTO OUTFILE is not allowed/],
    ['INTO OUTFILE after a read', `SELECT 1; SELECT 'planted' INTO OUTFILE '${outfile}' FORMAT RawBLOB`, /one statement per request/],
    ['INTO OUTFILE in lower case, after a comment', `/* x */ select 'planted' into outfile '${outfile}' truncate`, /INTO OUTFILE is not allowed/],
    ['USE, which would change the database of every later analyst', 'USE system', /USE is not allowed/],
    ["KILL, which read-only chDB allows on any query of the process, the worker's too", 'kill query where 1 async', /KILL is not allowed/],
  ])('refuses %s, naming why', async (_name, sql, why) => {
    await expect(asAnalyst(sql)).rejects.toThrow(why);
    expect(existsSync(outfile)).toBe(false);
    expect(await asAnalyst('SELECT currentDatabase() AS db')).toBe(`{"db":"${clickhouse.database}"}\n`);
  });

  describe("max_execution_time, which clickhouse-go (under Grafana's ClickHouse plugin) sends with every query", () => {
    async function withTimeLimit(value: string, sql: string): Promise<{ status: number; code: string | null; text: string }> {
      const response = await fetch(`${url}/?default_format=JSONEachRow&max_execution_time=${encodeURIComponent(value)}`, { method: 'POST', headers: { 'X-ClickHouse-User': 'analyst' }, body: sql });
      return { status: response.status, code: response.headers.get('x-clickhouse-exception-code'), text: await response.text() };
    }

    test('below the session limit, it stops the query then, with TIMEOUT_EXCEEDED (159)', async () => {
      const answer = await withTimeLimit('1', 'SELECT count() FROM numbers_mt(1000000000000) WHERE sipHash64(number) = 0');
      expect(answer).toMatchObject({ status: 408, code: '159' });
      // The interface's stop, not the session's own 60 s limit.
      expect(answer.text).toMatch(/maximum: 1 s \(max_execution_time\)/);
      expect(await asAnalyst('SELECT 1 AS one')).toBe('{"one":1}\n');
    }, 30_000);

    test('above it, the query runs under the session limit, which it cannot lift', async () => {
      expect(await withTimeLimit('64', "SELECT getSetting('max_execution_time') AS limit")).toEqual({ status: 200, code: null, text: `{"limit":${analystLimits.max_execution_time}}\n` });
      expect((await withTimeLimit('0', 'SELECT 1 AS one')).status).toBe(200);
    });

    test('a value that is not a number of seconds is refused', async () => {
      expect(await withTimeLimit('soon', 'SELECT 1')).toMatchObject({ status: 400, code: '72' });
    });
  });

  test('a literal that merely mentions the words is answered', async () => {
    expect(await asAnalyst("SELECT 'use into outfile' AS words")).toBe('{"words":"use into outfile"}\n');
  });

  test('a SET lifting readonly or a limit is refused and changes nothing', async () => {
    await expect(asAnalyst('SET readonly = 0')).rejects.toThrow(/READONLY/);
    await expect(asAnalyst('SET max_memory_usage = 0')).rejects.toThrow(/READONLY/);
    expect(await asAnalyst("SELECT value FROM system.settings WHERE name = 'readonly'")).toBe('{"value":"1"}\n');
  });

  test('limits are set before the session turns read-only', async () => {
    const rows = await asAnalyst(`SELECT name, value FROM system.settings WHERE name IN ('max_execution_time', 'max_memory_usage', 'max_result_rows', 'max_result_bytes', 'readonly') ORDER BY name`);
    expect(rows.trim().split('\n').map((line) => JSON.parse(line) as { name: string; value: string })).toEqual([
      { name: 'max_execution_time', value: String(analystLimits.max_execution_time) },
      { name: 'max_memory_usage', value: String(analystLimits.max_memory_usage) },
      { name: 'max_result_bytes', value: String(analystLimits.max_result_bytes) },
      { name: 'max_result_rows', value: String(analystLimits.max_result_rows) },
      { name: 'readonly', value: '1' },
    ]);
  });

  test("does not make the writer's session read-only (chDB keeps settings per session)", async () => {
    await expect(asAnalyst("INSERT INTO schema_migrations (version, name, checksum) VALUES (998, 'x', 'x')")).rejects.toThrow(/READONLY/);
    await clickhouse.command("INSERT INTO schema_migrations (version, name, checksum) VALUES (998, 'writer', 'x')");
    await clickhouse.command('ALTER TABLE schema_migrations DELETE WHERE version = 998');
  });
});
