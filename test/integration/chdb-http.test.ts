/**
 * chDB served over ClickHouse's HTTP interface, driven by our server-mode client (CLICKHOUSE_URL):
 * the same ClickHouse interface the worker uses, with per-request settings that never leak into
 * the next request.
 */
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { createClient } from '@clickhouse/client';
import { Decoder as ZstdDecoder, Encoder as ZstdEncoder } from '@toondepauw/node-zstd';
import { compressFrameSync, decompressFrameSync } from 'lz4-napi';
import { listenChdbOverHttp, openClickHouse, serveChdbOverHttp, type ChdbHttpServer, type ClickHouse } from '@sluice/clickhouse';
import { SluiceError } from '@sluice/core';
import { decodeBody, encodeClickHouseBlocks } from '../../packages/clickhouse/src/http-compression';
import { chdbPathForThisProcess, testLogger, uniqueName } from '../helpers/pipeline';
import { clickhouseConnectPython, runFile } from '../helpers/python';

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

test("a block's rows are stored by column name, whatever order each row's keys come in", async () => {
  await clickhouse.command('CREATE TABLE key_order (id String, n UInt32) ENGINE = MergeTree ORDER BY id');
  await clickhouse.insertBlock('key_order', [{ id: 'order-1', n: 1 }, { n: 2, id: 'order-2' }, { id: 'order-3', n: 3 }], 'token-order');
  expect(await clickhouse.queryRows('SELECT id, n FROM key_order ORDER BY id')).toEqual([
    { id: 'order-1', n: 1 },
    { id: 'order-2', n: 2 },
    { id: 'order-3', n: 3 },
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

test("the front's users are a server's: analyst reads only (164), default writes, anyone else gets 516", async () => {
  const asUser = (user: string, sql: string): Promise<Response> => fetch(`${url}/?database=${clickhouse.database}`, { method: 'POST', headers: { 'X-ClickHouse-User': user }, body: sql });
  for (const write of ["INSERT INTO t VALUES ('x', 9)", 'CREATE TABLE sneaky (a UInt8) ENGINE = Memory']) {
    const refused = await asUser('analyst', write);
    expect([write, refused.status, refused.headers.get('x-clickhouse-exception-code')]).toEqual([write, 403, '164']);
  }
  expect(await (await asUser('analyst', 'SELECT count() AS n FROM t FORMAT JSONEachRow')).text()).toBe('{"n":3}\n');
  const stranger = await asUser('admin', 'SELECT 1');
  expect([stranger.status, stranger.headers.get('x-clickhouse-exception-code')]).toEqual([401, '516']);
  await clickhouse.insertRows('t', [{ id: 'd', n: 4 }]);
  expect(await clickhouse.queryRows("SELECT count() AS n FROM system.tables WHERE database = currentDatabase() AND name = 'sneaky'")).toEqual([{ n: 0 }]);
  expect(await clickhouse.queryRows('SELECT count() AS n FROM t')).toEqual([{ n: 4 }]);
});

test('with passwords, each user takes its own only; the analyst reads its own database unless told another', async () => {
  const passworded = serveChdbOverHttp(chdbPathForThisProcess(), { defaultPassword: 'writer-secret', analyst: { database: clickhouse.database, password: 'analyst-secret' } });
  try {
    await new Promise<void>((resolve) => passworded.server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(passworded.server.address() as AddressInfo).port}/?query=${encodeURIComponent('SELECT currentDatabase()')}`;
    const as = async (user: string, password: string): Promise<[number, string]> => {
      const response = await fetch(base, { headers: { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` } });
      return [response.status, response.headers.get('x-clickhouse-exception-code') ?? (await response.text()).trim()];
    };
    expect(await as('analyst', 'analyst-secret')).toEqual([200, clickhouse.database]);
    expect(await as('default', 'writer-secret')).toEqual([200, 'default']);
    expect(await as('analyst', 'writer-secret')).toEqual([401, '516']);
    expect(await as('default', 'analyst-secret')).toEqual([401, '516']);
    expect(await as('default', '')).toEqual([401, '516']);
    const worker = await openClickHouse({ url: `http://127.0.0.1:${(passworded.server.address() as AddressInfo).port}`, password: 'writer-secret', database: clickhouse.database, logger: testLogger });
    try {
      await worker.insertRows('t', [{ id: 'e', n: 5 }]);
    } finally {
      await worker.close();
    }
    expect(await clickhouse.queryRows("SELECT n FROM t WHERE id = 'e'")).toEqual([{ n: 5 }]);
  } finally {
    await passworded.close();
  }
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

test('a binary insert body (RowBinary) is refused with a 400 that says so, and nothing is stored: the front passes bodies to chDB as text', async () => {
  // id 'Z\u00ff' as raw bytes 5a ff (not UTF-8), n = 7: as text, the 0xff would become U+FFFD and store another id.
  const body = Buffer.from([0x02, 0x5a, 0xff, 0x07, 0x00, 0x00, 0x00]);
  const insert = `INSERT INTO t (id, n) FORMAT RowBinary`;
  const response = await fetch(`${url}/?database=${clickhouse.database}&query=${encodeURIComponent(insert)}`, { method: 'POST', body });
  expect(response.status).toBe(400);
  expect(await response.text()).toMatch(/not UTF-8 text.*RowBinary|text formats/);
  expect(await clickhouse.queryRows('SELECT id FROM t WHERE n = 7')).toEqual([]);
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
  let insert: string;
  const storedIds = async (): Promise<string[]> => (await clickhouse.queryRows<{ id: string }>('SELECT id FROM compressed ORDER BY id')).map((row) => row.id);

  beforeAll(async () => {
    await clickhouse.command('CREATE TABLE compressed (id String) ENGINE = MergeTree ORDER BY id');
    insert = `${url}/?database=${clickhouse.database}&query=${encodeURIComponent('INSERT INTO compressed FORMAT JSONEachRow')}`;
  });

  beforeEach(() => clickhouse.command('TRUNCATE TABLE compressed'));

  test("clickhouse-connect's insert, lz4-compressed as by default, stores its rows (it used to get 200 and store nothing)", async () => {
    const python = await clickhouseConnectPython();
    const script = [
      'import sys, clickhouse_connect',
      "client = clickhouse_connect.get_client(host='127.0.0.1', port=int(sys.argv[1]), database=sys.argv[2])",
      'print(client.write_compression)',
      "client.insert('compressed', [['connect-a'], ['connect-b']], column_names=['id'])",
    ].join('\n');
    const { stdout } = await runFile(python, ['-c', script, new URL(url).port, clickhouse.database], { timeout: 120_000 });
    expect(stdout.trim()).toBe('lz4');
    expect(await storedIds()).toEqual(['connect-a', 'connect-b']);
  }, 420_000);

  test('an lz4 body that does not decode gets 400 with LZ4_DECODER_FAILED and nothing is stored', async () => {
    const frame = compressFrameSync(Buffer.from('{"id":"lz4-a"}\n{"id":"lz4-b"}\n'), { contentChecksum: true });
    const flipped = Buffer.from(frame);
    flipped.writeUInt8(flipped.readUInt8(frame.length - 6) ^ 0x01, frame.length - 6);
    for (const body of [
      // What the old front took for an empty query tail: the frame magic number, then plain text.
      Buffer.concat([Buffer.from([0x04, 0x22, 0x4d, 0x18]), Buffer.from('{"id":"lz4"}\n')]),
      frame.subarray(0, frame.length - 8),
      flipped,
    ]) {
      const refused = await fetch(insert, { method: 'POST', headers: { 'Content-Encoding': 'lz4' }, body });
      expect(refused.status).toBe(400);
      expect(refused.headers.get('x-clickhouse-exception-code')).toBe('618');
      expect(await refused.text()).toMatch(/^Code: 618\. DB::Exception: The request body is not valid lz4/);
    }
    const unknown = await fetch(insert, { method: 'POST', headers: { 'Content-Encoding': 'snappy' }, body: '{"id":"snappy"}\n' });
    expect(unknown.status).toBe(415);
    expect(unknown.headers.get('x-clickhouse-exception-code')).toBe('89');
    const corrupt = await fetch(insert, { method: 'POST', headers: { 'Content-Encoding': 'gzip' }, body: '{"id":"gzip"}\n' });
    expect(corrupt.status).toBe(400);
    expect(await storedIds()).toEqual([]);
  });

  test('gzip, deflate, br, zstd and lz4 bodies are decoded, as from the official client', async () => {
    const client = createClient({ url, database: clickhouse.database, compression: { request: true } });
    try {
      await client.insert({ table: 'compressed', values: [{ id: 'gzip-from-client' }], format: 'JSONEachRow' });
    } finally {
      await client.close();
    }
    const encoders = { gzip: gzipSync, deflate: deflateSync, br: brotliCompressSync, zstd: (data: Buffer) => new ZstdEncoder(3).encodeSync(data), lz4: compressFrameSync };
    for (const [encoding, compress] of Object.entries(encoders)) {
      const response = await fetch(insert, { method: 'POST', headers: { 'Content-Encoding': encoding }, body: compress(Buffer.from(`{"id":"${encoding}"}\n`)) });
      expect(response.status).toBe(200);
    }
    expect(await storedIds()).toEqual(['br', 'deflate', 'gzip', 'gzip-from-client', 'lz4', 'zstd']);
  });

  test("decompress=1: a body in ClickHouse's compressed blocks is stored; one whose checksum does not match gets 400 and nothing is stored", async () => {
    const blocks = await encodeClickHouseBlocks(Buffer.from('{"id":"block-a"}\n{"id":"block-b"}\n'));
    const stored = await fetch(`${insert}&decompress=1`, { method: 'POST', body: blocks });
    expect(stored.status).toBe(200);
    expect(await storedIds()).toEqual(['block-a', 'block-b']);
    await clickhouse.command('TRUNCATE TABLE compressed');
    const corrupted = Buffer.from(blocks);
    corrupted.writeUInt8(corrupted.readUInt8(30) ^ 0x01, 30);
    const refused = await fetch(`${insert}&decompress=1`, { method: 'POST', body: corrupted });
    expect(refused.status).toBe(400);
    expect(refused.headers.get('x-clickhouse-exception-code')).toBe('40');
    expect(await refused.text()).toMatch(/^Code: 40\. DB::Exception: Checksum doesn't match: corrupted data/);
    expect(await storedIds()).toEqual([]);
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
  // Node 20's fetch undoes neither zstd nor lz4: the test does, with decoders other than the front's.
  const decoders = { zstd: (data: Buffer) => new ZstdDecoder().decodeSync(data), lz4: decompressFrameSync };
  for (const [encoding, decode] of Object.entries(decoders)) {
    const response = await fetch(query, { headers: { 'Accept-Encoding': encoding } });
    expect(response.headers.get('content-encoding')).toBe(encoding);
    expect(decode(Buffer.from(await response.arrayBuffer())).toString()).toBe('{"n":42}\n');
  }
  // clickhouse-connect's list: ClickHouse's own preference picks zstd.
  expect((await fetch(query, { headers: { 'Accept-Encoding': 'lz4,zstd,br,gzip,deflate' } })).headers.get('content-encoding')).toBe('zstd');
  const plain = await fetch(`${url}/?query=${encodeURIComponent('SELECT 42 AS n FORMAT JSONEachRow')}`, { headers: { 'Accept-Encoding': 'gzip' } });
  expect(plain.headers.get('content-encoding')).toBeNull();
  expect(await plain.text()).toBe('{"n":42}\n');
});

test("compress=1: the answer comes in ClickHouse's compressed blocks, inside any HTTP encoding", async () => {
  const sql = encodeURIComponent('SELECT number AS n, repeat(toString(number), 20) AS s FROM numbers(100000) FORMAT JSONEachRow');
  const expected = await (await fetch(`${url}/?query=${sql}`)).text();
  expect(expected.length).toBeGreaterThan(2 * 1024 * 1024);
  for (const headers of [{}, { 'Accept-Encoding': 'gzip' }] as Record<string, string>[]) {
    const response = await fetch(`${url}/?compress=1&enable_http_compression=1&query=${sql}`, { headers });
    expect(response.status).toBe(200);
    const blocks = Buffer.from(await response.arrayBuffer());
    expect(blocks.readUInt8(16)).toBe(0x82);
    const answer = await decodeBody(blocks, undefined, true, Infinity);
    expect('status' in answer ? answer.message : answer.toString()).toBe(expected);
  }
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

describe('client_protocol_version: Native in the client’s protocol revision, as from a server', () => {
  const native = async (parameters: string, sql: string): Promise<Response> => fetch(`${url}/?database=${clickhouse.database}&${parameters}`, { method: 'POST', body: sql });
  const oneRow = "SELECT toUInt8(1) AS x, 'ab' AS s";

  test('without it, chDB’s Native (revision 0); with it, block info first and a no-custom-serialization byte after each type', async () => {
    const plain = await native('default_format=Native', oneRow);
    expect(Buffer.from(await plain.arrayBuffer()).toString('hex')).toBe('0201' + '0178' + '0555496e7438' + '01' + '0173' + '06537472696e67' + '026162');
    const revised = await native('default_format=Native&client_protocol_version=54460', oneRow);
    expect(revised.status).toBe(200);
    expect(revised.headers.get('x-clickhouse-format')).toBe('Native');
    const expected = '0100 02ffffffff 00' + '0201' + '0178 055549 6e7438 00 01' + '0173 06537472696e67 00 026162';
    expect(Buffer.from(await revised.arrayBuffer()).toString('hex')).toBe(expected.replace(/ /g, ''));
  });

  test('other formats ignore it', async () => {
    const json = await native('default_format=JSONEachRow&client_protocol_version=54460', oneRow);
    expect(await json.text()).toBe('{"x":1,"s":"ab"}\n');
  });

  test('a value that is not an unsigned integer is refused with 400', async () => {
    const refused = await native('default_format=Native&client_protocol_version=54460x', oneRow);
    expect(refused.status).toBe(400);
    expect(refused.headers.get('x-clickhouse-exception-code')).toBe('27');
    expect(await refused.text()).toContain('Cannot parse client_protocol_version "54460x"');
  });

  test('a column it cannot rewrite is refused with NOT_IMPLEMENTED and what to do instead; revision 0 still reads it', async () => {
    const json = `SELECT '{"a":1}'::JSON AS j`;
    const refused = await native('default_format=Native&client_protocol_version=54460', json);
    expect(refused.status).toBe(500);
    expect(refused.headers.get('x-clickhouse-exception-code')).toBe('48');
    expect(await refused.text()).toMatch(/Column `j` has type JSON.*CAST\(j AS String\).*another format/);
    expect((await native('default_format=Native', json)).status).toBe(200);
  });
});
