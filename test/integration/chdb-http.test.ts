/**
 * chDB served over ClickHouse's HTTP interface, driven by our server-mode client (CLICKHOUSE_URL):
 * the same ClickHouse interface the worker uses, with per-request settings that never leak into
 * the next request.
 */
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { createClient } from '@clickhouse/client';
import { listenChdbOverHttp, openClickHouse, serveChdbOverHttp, type ChdbHttpServer, type ClickHouse } from '@sluice/clickhouse';
import { SluiceError } from '@sluice/core';
import { chdbPathForThisProcess, testLogger, uniqueName } from '../helpers/pipeline';

let front: ChdbHttpServer;
let url: string;
let clickhouse: ClickHouse;

beforeAll(async () => {
  front = serveChdbOverHttp(chdbPathForThisProcess());
  await new Promise<void>((resolve) => front.server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(front.server.address() as AddressInfo).port}`;
  clickhouse = await openClickHouse({ url, database: uniqueName('http'), logger: testLogger });
  await clickhouse.command('CREATE TABLE t (id String, n UInt32) ENGINE = MergeTree ORDER BY id SETTINGS non_replicated_deduplication_window = 100');
});

afterAll(async () => {
  await clickhouse.command(`DROP DATABASE IF EXISTS ${clickhouse.database}`);
  await clickhouse.close();
  await front.close();
});

test('a block token applies to its own insert only: a retried block is dropped, later inserts are not', async () => {
  await clickhouse.insertBlock('t', [{ id: 'a', n: 1 }], 'token-1');
  await clickhouse.insertBlock('t', [{ id: 'a', n: 1 }], 'token-1');
  await clickhouse.insertRows('t', [{ id: 'b', n: 2 }]);
  await clickhouse.insertRows('t', [{ id: 'c', n: 3 }]);
  expect(await clickhouse.queryRows('SELECT id, n FROM t ORDER BY id')).toEqual([
    { id: 'a', n: 1 },
    { id: 'b', n: 2 },
    { id: 'c', n: 3 },
  ]);
});

test('query parameters arrive as ClickHouse text, quotes and all', async () => {
  expect(await clickhouse.queryRows('SELECT {names:Array(String)} AS names, {quoted:String} AS quoted, {n:UInt32} + 1 AS next', { names: ["it's", 'a\\b'], quoted: "o'clock\ttab", n: 41 })).toEqual([
    { names: ["it's", 'a\\b'], quoted: "o'clock\ttab", next: 42 },
  ]);
});

test('a query whose parameters make a long URL is answered, as by a server (its limit is 1 MiB)', async () => {
  const ids = Array.from({ length: 5_000 }, (_, i) => `${i}-0b9c6a1e-5f0e-4a8e-9d0e-2a1f3c4d5e6f`);
  expect(await clickhouse.queryRows('SELECT length({ids:Array(String)}) AS n', { ids })).toEqual([{ n: 5_000 }]);
});

test('the analysts connection is read-only, and the writer can still write after it', async () => {
  await expect(clickhouse.readOnlyQuery("INSERT INTO t VALUES ('x', 9)")).rejects.toThrow(/readonly/i);
  expect(JSON.parse(await clickhouse.readOnlyQuery('SELECT count() AS n FROM t'))).toEqual({ n: 3 });
  await clickhouse.insertRows('t', [{ id: 'd', n: 4 }]);
  expect(await clickhouse.queryRows('SELECT count() AS n FROM t')).toEqual([{ n: 4 }]);
});

test('times are UTC and the database is the one the client named', async () => {
  expect(await clickhouse.queryRows('SELECT timezone() AS tz, currentDatabase() AS db')).toEqual([{ tz: 'UTC', db: clickhouse.database }]);
});

test("a query ClickHouse refuses comes back with ClickHouse's code and message", async () => {
  const response = await fetch(`${url}/?database=${clickhouse.database}`, { method: 'POST', body: 'SELECT * FROM no_such_table' });
  expect(response.status).toBe(500);
  expect(response.headers.get('x-clickhouse-exception-code')).toBe('60');
  expect(await response.text()).toMatch(/Code: 60\..*no_such_table.*\(UNKNOWN_TABLE\)/s);
  await expect(clickhouse.queryRows('SELEKT 1')).rejects.toThrow(/Syntax error/);
});

test('a malformed request is refused with a 400 that names what is wrong', async () => {
  const badSetting = await fetch(`${url}/?${encodeURIComponent('max threads')}=1`, { method: 'POST', body: 'SELECT 1' });
  expect(badSetting.status).toBe(400);
  expect(await badSetting.text()).toContain('Setting "max threads" is not a plain identifier');
  const empty = await fetch(url, { method: 'POST', body: '' });
  expect(empty.status).toBe(400);
  expect(await empty.text()).toContain('Empty query');
  const badDatabase = await fetch(`${url}/?database=${encodeURIComponent('x; DROP TABLE t')}`, { method: 'POST', body: 'SELECT 1' });
  expect(badDatabase.status).toBe(400);
});

test('ping answers as a ClickHouse server does', async () => {
  expect(await clickhouse.ping()).toBe(true);
  expect(await (await fetch(`${url}/ping`)).text()).toBe('Ok.\n');
});

test('a ClickHouse that does not answer is CLICKHOUSE_UNAVAILABLE from the start', async () => {
  const closed = openClickHouse({ url: 'http://127.0.0.1:1', database: 'nowhere', logger: testLogger });
  await expect(closed).rejects.toBeInstanceOf(SluiceError);
  await expect(closed).rejects.toMatchObject({ code: 'CLICKHOUSE_UNAVAILABLE' });
});

describe('compressed request bodies', () => {
  beforeAll(async () => {
    await clickhouse.command('CREATE TABLE compressed (id String) ENGINE = MergeTree ORDER BY id');
  });

  test('a body in an encoding the front cannot decode is refused and nothing is stored', async () => {
    // An lz4 frame (its magic number, then bytes), as clickhouse-connect sends an insert by default.
    const lz4 = Buffer.concat([Buffer.from([0x04, 0x22, 0x4d, 0x18]), Buffer.from('{"id":"lz4"}\n')]);
    const insert = `${url}/?database=${clickhouse.database}&query=${encodeURIComponent('INSERT INTO compressed FORMAT JSONEachRow')}`;
    const refused = await fetch(insert, { method: 'POST', headers: { 'Content-Encoding': 'lz4' }, body: lz4 });
    expect(refused.status).toBe(415);
    expect(refused.headers.get('x-clickhouse-exception-code')).toBe('48');
    expect(await refused.text()).toMatch(/^Code: 48\. DB::Exception: Content-Encoding "lz4" is not supported/);
    const nativeBlocks = await fetch(`${insert}&decompress=1`, { method: 'POST', body: lz4 });
    expect(nativeBlocks.status).toBe(415);
    expect(await nativeBlocks.text()).toMatch(/^Code: 48\. DB::Exception: decompress=1/);
    const corrupt = await fetch(insert, { method: 'POST', headers: { 'Content-Encoding': 'gzip' }, body: lz4 });
    expect(corrupt.status).toBe(400);
    expect(await clickhouse.queryRows('SELECT count() AS n FROM compressed')).toEqual([{ n: 0 }]);
  });

  test('gzip, deflate and br bodies are decoded, as from the official client', async () => {
    const client = createClient({ url, database: clickhouse.database, compression: { request: true } });
    try {
      await client.insert({ table: 'compressed', values: [{ id: 'gzip-from-client' }], format: 'JSONEachRow' });
    } finally {
      await client.close();
    }
    const insert = `${url}/?database=${clickhouse.database}&query=${encodeURIComponent('INSERT INTO compressed FORMAT JSONEachRow')}`;
    for (const [encoding, compress] of [['gzip', gzipSync], ['deflate', deflateSync], ['br', brotliCompressSync]] as const) {
      const response = await fetch(insert, { method: 'POST', headers: { 'Content-Encoding': encoding }, body: compress(`{"id":"${encoding}"}\n`) });
      expect(response.status).toBe(200);
    }
    expect(await clickhouse.queryRows('SELECT id FROM compressed ORDER BY id')).toEqual([{ id: 'br' }, { id: 'deflate' }, { id: 'gzip' }, { id: 'gzip-from-client' }]);
  });
});

test('with enable_http_compression=1 the answer comes compressed in an encoding the client accepts', async () => {
  const client = createClient({ url, database: clickhouse.database, compression: { response: true } });
  try {
    const result = await client.query({ query: 'SELECT number AS n FROM numbers(3)', format: 'JSONEachRow' });
    expect(result.response_headers['content-encoding']).toBe('gzip');
    expect(await result.json()).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
  } finally {
    await client.close();
  }
  const query = `${url}/?enable_http_compression=1&query=${encodeURIComponent('SELECT 42 AS n FORMAT JSONEachRow')}`;
  for (const encoding of ['gzip', 'deflate', 'br']) {
    // fetch undoes the encoding it was sent, so the text is only right if the header names it.
    const response = await fetch(query, { headers: { 'Accept-Encoding': encoding } });
    expect(response.headers.get('content-encoding')).toBe(encoding);
    expect(await response.text()).toBe('{"n":42}\n');
  }
  const plain = await fetch(`${url}/?query=${encodeURIComponent('SELECT 42 AS n FORMAT JSONEachRow')}`, { headers: { 'Accept-Encoding': 'gzip' } });
  expect(plain.headers.get('content-encoding')).toBeNull();
  expect(await plain.text()).toBe('{"n":42}\n');
});

describe("the analysts' front (serveChdbOverHttp with analysts)", () => {
  let analysts: ChdbHttpServer;
  let analystsUrl: string;

  beforeAll(async () => {
    analysts = serveChdbOverHttp(chdbPathForThisProcess(), { database: clickhouse.database, password: 'secret', maxQueries: 2, queueWaitMs: 5000 });
    await new Promise<void>((resolve) => analysts.server.listen(0, '127.0.0.1', resolve));
    analystsUrl = `http://127.0.0.1:${(analysts.server.address() as AddressInfo).port}`;
  });

  afterAll(() => analysts.close());

  test('a configured password is required of analyst and default, however it is sent', async () => {
    const query = `${analystsUrl}/?query=${encodeURIComponent('SELECT count() AS n FROM t')}&default_format=JSONCompact`;
    const basic = (credentials: string): Record<string, string> => ({ Authorization: `Basic ${Buffer.from(credentials).toString('base64')}` });
    for (const headers of [{}, basic('analyst:'), basic('default:wrong'), { 'X-ClickHouse-User': 'analyst', 'X-ClickHouse-Key': 'Secret' }]) {
      const refused = await fetch(query, { headers });
      expect(refused.status).toBe(401);
      expect(refused.headers.get('x-clickhouse-exception-code')).toBe('516');
    }
    for (const headers of [basic('analyst:secret'), basic('default:secret'), { 'X-ClickHouse-User': 'analyst', 'X-ClickHouse-Key': 'secret' }]) {
      const answered = await fetch(query, { headers });
      expect(answered.status).toBe(200);
      expect(answered.headers.get('x-clickhouse-format')).toBe('JSONCompact');
      expect(await answered.json()).toMatchObject({ meta: [{ name: 'n' }], rows: 1 });
    }
    const byUrl = await fetch(`${query}&user=analyst&password=secret`);
    expect(byUrl.status).toBe(200);
  });

  test('a port already taken is a configuration error that names it', async () => {
    const port = (analysts.server.address() as AddressInfo).port;
    await expect(listenChdbOverHttp(chdbPathForThisProcess(), port, '127.0.0.1', { database: clickhouse.database, password: '', maxQueries: 2, queueWaitMs: 5000 })).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
      message: expect.stringContaining(`cannot listen on 127.0.0.1:${port}`) as unknown,
    });
  });

  test('a body past 1 MiB is refused with 413, before the query runs', async () => {
    const padded = `SELECT 1 /* ${'x'.repeat(1024 * 1024)} */`;
    const response = await fetch(`${analystsUrl}/?user=analyst&password=secret`, { method: 'POST', body: padded });
    expect(response.status).toBe(413);
    expect(await response.text()).toMatch(/^Code: \d+\. DB::Exception: The request body is larger than 1048576 bytes/);
  });
});
