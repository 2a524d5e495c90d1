/**
 * ClickHouse's own compressed blocks (compress=1, decompress=1) and their CityHash128 v1.0.2,
 * checked against implementations that are not ours: PyPI's clickhouse-cityhash and lz4 (what
 * clickhouse-driver uses; test/clients/clickhouse_blocks_check.py, in a venv under .cache), and
 * the blocks ClickHouse itself writes in chDB's MergeTree parts.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveChdbOverHttp, type ChdbHttpServer } from '@sluice/clickhouse';
import { cityHash128 } from '../../packages/clickhouse/src/cityhash';
import { decodeBody } from '../../packages/clickhouse/src/http-compression';
import { chdbPathForThisProcess, removeTestDirectory, uniqueName } from '../helpers/pipeline';
import { pythonVenv, runFile } from '../helpers/python';

const checkScript = join(__dirname, '..', 'clients', 'clickhouse_blocks_check.py');
const requirements = { 'clickhouse-cityhash': '1.0.2.6', lz4: '4.4.5' };

let python: string;
let front: ChdbHttpServer;
let url: string;
let scratch: string;
const database = uniqueName('blocks');

async function check(...args: string[]): Promise<string> {
  return (await runFile(python, [checkScript, ...args], { timeout: 120_000, maxBuffer: 64 * 1024 * 1024 })).stdout;
}

async function sql(query: string): Promise<string> {
  const response = await fetch(`${url}/?database=${database}`, { method: 'POST', body: query });
  const text = await response.text();
  if (response.status !== 200) throw new Error(text);
  return text;
}

beforeAll(async () => {
  python = await pythonVenv(
    'clickhouse-blocks',
    Object.entries(requirements).map(([name, version]) => `${name}==${version}`),
    { code: "from importlib.metadata import version; print(version('clickhouse-cityhash'), version('lz4'))", expected: Object.values(requirements).join(' ') },
  );
  scratch = mkdtempSync(join(tmpdir(), 'sluice-blocks-'));
  front = serveChdbOverHttp(chdbPathForThisProcess());
  await new Promise<void>((resolve) => front.server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(front.server.address() as AddressInfo).port}`;
  await fetch(url, { method: 'POST', body: `CREATE DATABASE ${database}` });
}, 420_000);

afterAll(async () => {
  await fetch(url, { method: 'POST', body: `DROP DATABASE IF EXISTS ${database}` });
  await front.close();
  removeTestDirectory(scratch);
});

test('CityHash128 is the C++ CityHash v1.0.2 for every length from 0 to 300 and for large inputs', async () => {
  const lengths = [...Array.from({ length: 301 }, (_, length) => length), 511, 512, 1023, 4096, 65_553, 1_000_003, 3 * 1024 * 1024 + 5];
  const inputs = lengths.map((length) => randomBytes(length));
  const file = join(scratch, 'inputs.bin');
  const framed = inputs.flatMap((input) => {
    const length = Buffer.alloc(4);
    length.writeUInt32LE(input.length);
    return [length, input];
  });
  writeFileSync(file, Buffer.concat(framed));
  const theirs = (await check('hash', file)).trim().split('\n');
  const ours = inputs.map((input) => {
    const { first, second } = cityHash128(input);
    return first.toString(16).padStart(16, '0') + second.toString(16).padStart(16, '0');
  });
  expect(theirs).toHaveLength(lengths.length);
  const differing = lengths.filter((_, i) => ours[i] !== theirs[i]);
  expect(differing).toEqual([]);
});

test('a compress=1 answer reads with their checksum and their LZ4, block by block', async () => {
  const query = 'SELECT number AS n, repeat(toString(number), 30) AS s FROM numbers(60000) FORMAT JSONEachRow';
  const expected = await sql(query);
  const read = JSON.parse(await check('answer', `${url}/?compress=1&query=${encodeURIComponent(query)}`)) as { blocks: number; text: string };
  expect(read.blocks).toBe(Math.ceil(Buffer.byteLength(expected) / (1024 * 1024)));
  expect(read.blocks).toBeGreaterThan(1);
  expect(read.text).toBe(expected);
});

test("a decompress=1 body they wrote runs, on the front and on the analysts' interface", async () => {
  // Long enough that its block takes CityHash128's path for 128 bytes and more.
  const query = `SELECT 'from python' AS s, arraySum([${Array.from({ length: 100 }, (_, i) => i).join(', ')}]) AS n FORMAT JSONEachRow`;
  expect(await check('body', `${url}/?decompress=1`, query)).toBe('{"s":"from python","n":4950}\n');
  const analysts = serveChdbOverHttp(chdbPathForThisProcess(), { database, password: '' });
  try {
    await new Promise<void>((resolve) => analysts.server.listen(0, '127.0.0.1', resolve));
    const analystsUrl = `http://127.0.0.1:${(analysts.server.address() as AddressInfo).port}`;
    expect(await check('body', `${analystsUrl}/?decompress=1&user=analyst`, query)).toBe('{"s":"from python","n":4950}\n');
  } finally {
    await analysts.close();
  }
});

test("ClickHouse's own blocks, from a part chDB wrote with LZ4, ZSTD and no compression, decode and their checksums match", async () => {
  await sql('CREATE TABLE coded (id String CODEC(LZ4), z String CODEC(ZSTD(3)), n String CODEC(NONE)) ENGINE = MergeTree ORDER BY id SETTINGS min_bytes_for_wide_part = 0');
  await sql("INSERT INTO coded SELECT 'id-' || toString(number), 'z-' || toString(number), 'n-' || toString(number) FROM numbers(20000)");
  const part = (await sql(`SELECT path FROM system.parts WHERE database = '${database}' AND table = 'coded' AND active FORMAT TSVRaw`)).trim();
  // The part holds each column's characters in order of id, their lengths in a file of their own.
  const numbers = Array.from({ length: 20000 }, (_, i) => String(i)).sort();
  for (const [column, method] of [['id', 0x82], ['z', 0x90], ['n', 0x02]] as const) {
    const file = readFileSync(join(part, `${column}.bin`));
    expect(file.readUInt8(16)).toBe(method);
    const decoded = await decodeBody(file, undefined, true, Infinity);
    expect('status' in decoded ? decoded.message : decoded.toString()).toBe(numbers.map((number) => `${column}-${number}`).join(''));
  }
});
