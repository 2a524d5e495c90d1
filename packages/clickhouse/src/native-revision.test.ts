import { createServer } from 'node:net';
import { queryAsync } from 'chdb';
import { chdbProtocolRevision, nativeForClientRevision } from './native-revision';

/**
 * Blocks are built here by hand from the documented Native layout (ClickHouse's NativeWriter), with
 * each column's data given as bytes: the test knows where every column ends, the rewriter has to
 * find it by walking the types. The data bytes are chDB's own, as taken from its answers.
 */
interface Column {
  name: string;
  type: string;
  /** The column's data (state prefix included) in hex; empty for a block without rows. */
  data: string;
}

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const varUInt = (value: number): Buffer => {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
};
const text = (value: string): Buffer => Buffer.concat([varUInt(Buffer.byteLength(value)), Buffer.from(value)]);

/**
 * A block as a server writes it for a client of `revision`: block info when revision > 0 (fields 1
 * and 2, field 3 from 54480, then 0), and a has-custom-serialization byte (0) after each column's
 * type from 54454.
 */
function block(rows: number, columns: Column[], revision: number): Buffer {
  const info = revision === 0 ? '' : revision < 54480 ? '01 00 02 ffffffff 00' : '01 00 02 ffffffff 03 00 00';
  return Buffer.concat([
    hex(info),
    varUInt(columns.length),
    varUInt(rows),
    ...columns.flatMap((column) => [text(column.name), text(column.type), revision >= 54454 ? hex('00') : Buffer.alloc(0), hex(column.data)]),
  ]);
}

/** The revisions clients send: clickhouse-connect 54405, clickhouse-go 54460, and chDB's own. */
const revisions = [54405, 54460, chdbProtocolRevision];

/** One row of each type, with the data chDB writes for it at revision 0. */
const oneRowOfEach: Array<[string, Column]> = [
  ['UInt8', { name: 'x', type: 'UInt8', data: '01' }],
  ['Int64', { name: 'x', type: 'Int64', data: 'feffffffffffffff' }],
  ['UInt256', { name: 'x', type: 'UInt256', data: '01'.padEnd(64, '0') }],
  ['Float64', { name: 'x', type: 'Float64', data: '000000000000f03f' }],
  ['BFloat16', { name: 'b', type: 'BFloat16', data: '803f' }],
  ['Bool', { name: 'x', type: 'Bool', data: '01' }],
  ['Date', { name: 'x', type: 'Date', data: '2e4a' }],
  ['Date32', { name: 'x', type: 'Date32', data: '2e4a0000' }],
  ['DateTime (its zone dropped at revision 0)', { name: 'd', type: 'DateTime', data: 'f0d20b5e' }],
  ['DateTime64 with a zone', { name: 'g', type: "DateTime64(3, 'UTC')", data: '0000000000000000' }],
  ['Decimal(9, 2)', { name: 'd', type: 'Decimal(9, 2)', data: '96000000' }],
  ['Decimal(38, 10)', { name: 'd', type: 'Decimal(38, 10)', data: '00'.repeat(16) }],
  ['Decimal(76, 2)', { name: 'd', type: 'Decimal(76, 2)', data: '00'.repeat(32) }],
  ['UUID', { name: 'u', type: 'UUID', data: '00112233445566778899aabbccddeeff' }],
  ['IPv4', { name: 'ip', type: 'IPv4', data: '0100007f' }],
  ['IPv6', { name: 'ip', type: 'IPv6', data: '00000000000000000000ffff7f000001' }],
  ['Enum8 with awkward names', { name: 'e', type: "Enum8('a' = 1, 'b,)' = 2, 'b' = 3)", data: '03' }],
  ['Enum16', { name: 'e', type: "Enum16('x' = 1000)", data: 'e803' }],
  ['FixedString(3)', { name: 'f', type: 'FixedString(3)', data: '616263' }],
  ['Time', { name: 't', type: 'Time', data: 'c0a80000' }],
  ['Time64(3)', { name: 't', type: 'Time64(3)', data: '002e930200000000' }],
  ['IntervalDay', { name: 'i', type: 'IntervalDay', data: '0100000000000000' }],
  ['String with bytes that are not UTF-8', { name: 's', type: 'String', data: '05 00ff0a5c27' }],
  ['Nullable(String), NULL', { name: 'n', type: 'Nullable(String)', data: '01 00' }],
  ['Nullable(String), a value', { name: 'n', type: 'Nullable(String)', data: '00 0178' }],
  ['Nullable(Nothing) (SELECT NULL)', { name: 'n', type: 'Nullable(Nothing)', data: '01 30' }],
  ['Array(Nothing) (SELECT [])', { name: 'a', type: 'Array(Nothing)', data: '0000000000000000' }],
  ['Array(Array(UInt8))', { name: 'aa', type: 'Array(Array(UInt8))', data: '0200000000000000 0200000000000000 0300000000000000 010203' }],
  ['Map(String, UInt8)', { name: 'm', type: 'Map(String, UInt8)', data: '0200000000000000 0161 026263 0102' }],
  ['named Tuple with a quoted name', { name: 't', type: 'Tuple(a UInt8, `b c` String)', data: '01 0178' }],
  ['empty Tuple', { name: 't', type: 'Tuple()', data: '30' }],
  ['Point', { name: 'p', type: 'Point', data: '000000000000f03f 0000000000000040' }],
  ['SimpleAggregateFunction', { name: 's', type: 'SimpleAggregateFunction(sum, UInt64)', data: '0100000000000000' }],
  // Version 1, then one part: header (UInt8 indexes, keys follow), 2 keys, 1 index.
  ['LowCardinality(String)', { name: 'l', type: 'LowCardinality(String)', data: '0100000000000000 0006000000000000 0200000000000000 00 026162 0100000000000000 01' }],
  ['LowCardinality(Nullable(String))', { name: 'l', type: 'LowCardinality(Nullable(String))', data: '0100000000000000 0006000000000000 0300000000000000 00 00 0178 0100000000000000 02' }],
  ['LowCardinality(FixedString(2))', { name: 'f', type: 'LowCardinality(FixedString(2))', data: '0100000000000000 0006000000000000 0200000000000000 0000 6162 0100000000000000 01' }],
  // The prefixes of every LowCardinality inside come first, then the offsets, then the parts.
  [
    'Array(Map(LowCardinality(String), LowCardinality(String)))',
    {
      name: 'x',
      type: 'Array(Map(LowCardinality(String), LowCardinality(String)))',
      data: '0100000000000000 0100000000000000 0100000000000000 0100000000000000 0006000000000000 0200000000000000 00 016b 0100000000000000 01 0006000000000000 0200000000000000 00 0176 0100000000000000 01',
    },
  ],
  ['Array(LowCardinality(String)), empty: a prefix and no part', { name: 'x', type: 'Array(LowCardinality(String))', data: '0100000000000000 0000000000000000' }],
];

describe.each(revisions)('at client_protocol_version=%i', (revision) => {
  test.each(oneRowOfEach)('%s: one row, then a UInt8 column that must stay where it is', (_name, column) => {
    const after: Column = { name: 'after', type: 'UInt8', data: '2a' };
    const input = block(1, [column, after], 0);
    expect(nativeForClientRevision(input, revision).toString('hex')).toBe(block(1, [column, after], revision).toString('hex'));
  });
});

test("clickhouse-connect's probe: at 54405, bytes 8 to 16 of `SELECT 1 AS check` are 01 01 05 'check'", () => {
  const answer = nativeForClientRevision(block(1, [{ name: 'check', type: 'UInt8', data: '01' }], 0), 54405);
  expect(answer.subarray(8, 16)).toEqual(Buffer.from('\x01\x01\x05check', 'latin1'));
});

test("clickhouse-go's block info: is_overflows false, bucket_num -1, end (8 bytes, then columns and rows)", () => {
  const answer = nativeForClientRevision(block(1, [{ name: 'x', type: 'UInt8', data: '01' }], 0), 54460);
  expect(answer.toString('hex')).toBe('0100' + '02ffffffff' + '00' + '0101' + '0178' + '055549' + '6e7438' + '00' + '01');
});

test('every block gets its block info; rows of many values and a block without rows are walked', () => {
  const strings = Array.from({ length: 300 }, (_, index) => 'x'.repeat(index % 200));
  const column: Column = { name: 's', type: 'String', data: strings.map((value) => text(value).toString('hex')).join('') };
  const offsets = Array.from({ length: 300 }, (_, index) => Buffer.from(new BigUint64Array([BigInt(index + 1)]).buffer).toString('hex')).join('');
  const arrays: Column = { name: 'a', type: 'Array(Nullable(UInt16))', data: offsets + '00'.repeat(300) + '0100'.repeat(300) };
  const header = [{ name: 's', type: 'String', data: '' }, { name: 'a', type: 'Array(Nullable(UInt16))', data: '' }];
  const input = Buffer.concat([block(300, [column, arrays], 0), block(0, header, 0), block(300, [column, arrays], 0)]);
  for (const revision of [1, ...revisions]) {
    const expected = Buffer.concat([block(300, [column, arrays], revision), block(0, header, revision), block(300, [column, arrays], revision)]);
    expect(nativeForClientRevision(input, revision).equals(expected)).toBe(true);
  }
});

test('revision 0, or none, is the answer as chDB wrote it; an empty answer stays empty', () => {
  const input = block(1, [{ name: 'j', type: 'JSON', data: 'ffff' }], 0);
  expect(nativeForClientRevision(input, 0)).toEqual(input);
  expect(nativeForClientRevision(Buffer.alloc(0), 54460)).toHaveLength(0);
});

test('a client newer than chDB gets what a server of chDB’s revision writes', () => {
  const input = block(1, [{ name: 'x', type: 'UInt8', data: '01' }], 0);
  expect(nativeForClientRevision(input, 54999)).toEqual(block(1, [{ name: 'x', type: 'UInt8', data: '01' }], chdbProtocolRevision));
  expect(nativeForClientRevision(input, 54479)).toEqual(block(1, [{ name: 'x', type: 'UInt8', data: '01' }], 54479));
});

test.each([
  ['JSON', "0000000000000000 01 01 01 61 0100000000000000 01 01 05 496e743634 00"],
  ['Dynamic', '0100000000000000 01 01 06 537472696e67 0000000000000000 01 01 31'],
  ['Variant(String, UInt8)', '0000000000000000 01 01'],
  ['AggregateFunction(sum, UInt8)', '0100000000000000'],
  ['Array(JSON)', '0100000000000000 00'],
])('a %s column is refused with NOT_IMPLEMENTED and a way out, never answered', (type, data) => {
  const input = block(1, [{ name: 'c', type, data }], 0);
  expect(() => nativeForClientRevision(input, 54460)).toThrow(/^Code: 48\. DB::Exception: Column `c` has type .*CAST\(c AS String\).*another format.*\(NOT_IMPLEMENTED\)$/);
});

test('a column of a type it cannot walk is no problem in a block without rows', () => {
  const input = block(0, [{ name: 'j', type: 'JSON', data: '' }], 0);
  expect(nativeForClientRevision(input, 54460)).toEqual(block(0, [{ name: 'j', type: 'JSON', data: '' }], 54460));
});

test('a short or inconsistent answer is an error, not bytes', () => {
  const whole = block(1, [{ name: 's', type: 'String', data: '05 6162636465' }], 0);
  expect(() => nativeForClientRevision(whole.subarray(0, whole.length - 1), 54460)).toThrow(/^Code: 49\. .*\(LOGICAL_ERROR\)$/);
  const badIndex = block(1, [{ name: 'l', type: 'LowCardinality(String)', data: '0100000000000000 0006000000000000 0100000000000000 00 0100000000000000 05' }], 0);
  expect(() => nativeForClientRevision(badIndex, 54000)).toThrow(/LowCardinality index 5 of 1 keys/);
  const badVersion = block(1, [{ name: 'l', type: 'LowCardinality(String)', data: '0200000000000000' }], 0);
  expect(() => nativeForClientRevision(badVersion, 54460)).toThrow(/LowCardinality serialization version 2/);
});

describe('below 54405 (DBMS_MIN_REVISION_WITH_LOW_CARDINALITY_TYPE), LowCardinality is sent as its plain type', () => {
  test.each([
    ['LowCardinality(String)', 3, '0100000000000000 0006000000000000 0300000000000000 00 026162 0178 0300000000000000 01 02 01', 'String', '026162 0178 026162'],
    ['LowCardinality(Nullable(String))', 3, '0100000000000000 0006000000000000 0300000000000000 00 00 0178 0300000000000000 02 00 02', 'Nullable(String)', '00 01 00   0178 00 0178'],
    [
      'Array(LowCardinality(String))',
      2,
      '0100000000000000 0200000000000000 0300000000000000 0006000000000000 0200000000000000 00 0161 0300000000000000 01 01 00',
      'Array(String)',
      '0200000000000000 0300000000000000 0161 0161 00',
    ],
    [
      'Tuple(a LowCardinality(String), b UInt8)',
      3,
      '0100000000000000 0006000000000000 0200000000000000 00 0161 0300000000000000 01 00 01 070809',
      'Tuple(a String, b UInt8)',
      '0161 00 0161 070809',
    ],
    [
      'Map(LowCardinality(String), UInt16)',
      2,
      '0100000000000000 0100000000000000 0100000000000000 0006000000000000 0200000000000000 00 016b 0100000000000000 01 0100',
      'Map(String, UInt16)',
      '0100000000000000 0100000000000000 016b 0100',
    ],
  ])('%s', (type, rows, data, plainType, plainData) => {
    const input = block(rows, [{ name: 'c', type, data }], 0);
    expect(nativeForClientRevision(input, 54000).toString('hex')).toBe(block(rows, [{ name: 'c', type: plainType, data: plainData }], 54000).toString('hex'));
  });

  test('Arrays, Tuples and Maps are made anew, so custom names give way to plain ones, as in recursiveRemoveLowCardinality', () => {
    const point = '000000000000f03f 0000000000000040';
    const input = block(1, [{ name: 'p', type: 'Point', data: point }, { name: 's', type: 'SimpleAggregateFunction(sum, UInt64)', data: '0100000000000000' }], 0);
    const expected = block(1, [{ name: 'p', type: 'Tuple(Float64, Float64)', data: point }, { name: 's', type: 'SimpleAggregateFunction(sum, UInt64)', data: '0100000000000000' }], 54000);
    expect(nativeForClientRevision(input, 54000).toString('hex')).toBe(expected.toString('hex'));
  });
});

test("chDB's own answers over many random types are walked to their exact end, block by block", async () => {
  const structure = [
    's String',
    'n Nullable(String)',
    'a Array(Nullable(Int32))',
    'm Map(LowCardinality(String), Array(UInt8))',
    'l LowCardinality(Nullable(String))',
    't Tuple(a Decimal(18, 4), b FixedString(3), c Array(LowCardinality(String)))',
    'd DateTime64(6)',
    'u UUID',
    "e Enum8(\\'x\\' = 1, \\'y\\' = 2)",
    'i IPv6',
    'aa Array(Array(Nullable(UInt16)))',
  ].join(', ');
  const result = await queryAsync(`SELECT * FROM generateRandom('${structure}', 7, 12, 4) LIMIT 5000 SETTINGS max_block_size = 1000`, { format: 'Native' });
  const native = Buffer.from(result.bytes());
  const rewritten = nativeForClientRevision(native, 54460);
  // 8 bytes of block info per block and a byte per column of each block.
  const blocks = (rewritten.length - native.length) / (8 + 11);
  expect(Number.isInteger(blocks)).toBe(true);
  expect(blocks).toBeGreaterThan(0);
  // Below 54405 every LowCardinality is expanded, which means reading every index of every part.
  expect(nativeForClientRevision(native, 54000).length).toBeGreaterThan(0);
});

test("chdbProtocolRevision is chDB's own protocol revision, as its TCP hello says (a chDB upgrade must revisit this module)", async () => {
  let remoteQuery: Promise<unknown> = Promise.resolve();
  const hello = new Promise<Buffer>((resolve) => {
    const server = createServer((socket) =>
      socket.once('data', (data: Buffer) => {
        resolve(data);
        socket.destroy();
        server.close();
      }),
    );
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      // chDB connects as a client would, says hello, and gives up when nothing answers.
      remoteQuery = queryAsync(`SELECT * FROM remote('127.0.0.1:${port}', system.one) SETTINGS connections_with_failover_max_tries = 1, receive_timeout = 1`).catch(() => undefined);
    });
  });
  const data = await hello;
  // The refused query ends before the test does: a chDB query still running keeps jest's worker from exiting.
  await remoteQuery;
  let position = 0;
  const varUIntAt = (): number => {
    let value = 0;
    for (let factor = 1; ; factor *= 0x80) {
      const byte = data[position++] ?? 0;
      value += (byte & 0x7f) * factor;
      if (byte < 0x80) return value;
    }
  };
  expect(varUIntAt()).toBe(0); // Hello
  const nameLength = varUIntAt();
  position += nameLength; // the client's name
  varUIntAt(); // major version
  varUIntAt(); // minor version
  expect(varUIntAt()).toBe(chdbProtocolRevision);
});
