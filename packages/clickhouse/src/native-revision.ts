/**
 * Native answers in the client's protocol revision (`client_protocol_version`).
 *
 * chDB writes Native as ClickHouse's NativeWriter does for revision 0, a reader with no protocol:
 * per block, the number of columns and rows, then per column its name, type and data. A server
 * asked over HTTP with `client_protocol_version=N` writes what its NativeWriter writes for a client
 * of revision N, and the clients that send it (clickhouse-go, clickhouse-connect) read only that:
 *
 * - N > 0: block info before each block (field 1 is_overflows, field 2 bucket_num, then 0), and
 *   from 54480 field 3, the block's out-of-order buckets (an empty list for a query's answer);
 * - N >= 54454: after each column's type, one byte telling whether it has a custom serialization
 *   (sparse and so on). chDB's answer never has one, so that byte is 0 and the data stays as it is;
 * - 0 < N < 54405: no LowCardinality, whose columns are sent as their plain type;
 * - Dynamic and JSON change their layout at 54473 and AggregateFunction states carry a version
 *   from 54452: these are refused (see below).
 *
 * To put bytes between a column's type and its data, and between blocks, this walks each column's
 * data by its type to find where it ends. A type it cannot walk is refused with a ClickHouse error
 * that says what to do, never answered with bytes a client would misread.
 *
 * One difference cannot be undone here: for N < 54337, and so for chDB's revision 0, a top-level
 * column of type DateTime('zone') is written as plain DateTime. The zone is gone from chDB's answer,
 * so a client reads such a column's instants in the server's zone (UTC), as it would from a server
 * asked without client_protocol_version.
 */

/**
 * The protocol revision of chDB 26.7 (its DBMS_TCP_PROTOCOL_VERSION, which it sends as a client in
 * its TCP hello). A server writes nothing newer than its own protocol, whatever the client says.
 */
export const chdbProtocolRevision = 54488;

const revisionWithLowCardinality = 54405;
const revisionWithCustomSerialization = 54454;
const revisionWithOutOfOrderBuckets = 54480;

/** Block info of a query's block: is_overflows false, bucket_num -1, then the end mark. */
const blockInfo = Buffer.from([1, 0, 2, 0xff, 0xff, 0xff, 0xff, 0]);
/** The same with field 3, an empty list of out-of-order buckets. */
const blockInfoWithBuckets = Buffer.from([1, 0, 2, 0xff, 0xff, 0xff, 0xff, 3, 0, 0]);
const noCustomSerialization = Buffer.from([0]);

/** A column type, as far as its Native data's layout goes. */
type Layout =
  | { kind: 'fixed'; width: number }
  | { kind: 'string' }
  | { kind: 'nullable'; nested: Layout }
  | { kind: 'array'; element: Layout }
  | { kind: 'tuple'; elements: Layout[] }
  | { kind: 'lowCardinality'; keys: Layout; nullable: boolean };

/**
 * chDB's Native answer (revision 0) as a server of revision `chdbProtocolRevision` writes it for a
 * client of `clientRevision`. Throws an Error whose message is a ClickHouse exception when a column
 * has a type this cannot walk.
 */
export function nativeForClientRevision(native: Uint8Array, clientRevision: number): Buffer {
  const input = Buffer.from(native.buffer, native.byteOffset, native.byteLength);
  if (clientRevision <= 0) return input;
  const revision = Math.min(clientRevision, chdbProtocolRevision);
  const withoutLowCardinality = revision < revisionWithLowCardinality;
  const parts: Buffer[] = [];
  const reader = new NativeReader(input);
  while (!reader.done()) {
    parts.push(revision >= revisionWithOutOfOrderBuckets ? blockInfoWithBuckets : blockInfo);
    const blockStart = reader.position;
    const columns = reader.varUInt();
    const rows = reader.varUInt();
    let copiedTo = blockStart;
    for (let index = 0; index < columns; index += 1) {
      const name = reader.text();
      const nameEnd = reader.position;
      const type = reader.text();
      const typeForClient = withoutLowCardinality ? refusingUnwalkable(name, type, revision, () => withoutLowCardinalityName(type)) : type;
      if (typeForClient === type) parts.push(input.subarray(copiedTo, reader.position));
      else parts.push(input.subarray(copiedTo, nameEnd), encodedText(typeForClient));
      if (revision >= revisionWithCustomSerialization) parts.push(noCustomSerialization);
      copiedTo = reader.position;
      // Zero rows are zero bytes of data: not even a LowCardinality column's prefix.
      if (rows === 0) continue;
      const layout = refusingUnwalkable(name, type, revision, () => parseLayout(type));
      skipPrefix(reader, layout);
      if (withoutLowCardinality && containsLowCardinality(layout)) {
        // The prefix was LowCardinality's alone: it goes with it.
        copyData(reader, layout, rows, parts);
        copiedTo = reader.position;
      } else {
        skipData(reader, layout, rows);
      }
    }
    parts.push(input.subarray(copiedTo, reader.position));
  }
  return Buffer.concat(parts);
}

/** `read` of a column's type, with a type it cannot walk refused as ClickHouse would: with a way out. */
function refusingUnwalkable<T>(column: string, type: string, revision: number, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (!(error instanceof UnwalkableType)) throw error;
    throw new Error(
      `Code: 48. DB::Exception: Column \`${column}\` has type ${type}, which this interface cannot send in Native for client_protocol_version=${revision} ` +
        `(it rewrites chDB's Native answer for the client's revision, and cannot walk ${error.typeName}). ` +
        `Cast the column to a plain type (for example CAST(${column} AS String)), or ask for another format (RowBinaryWithNamesAndTypes, JSONEachRow, Parquet). (NOT_IMPLEMENTED)`,
    );
  }
}

class UnwalkableType extends Error {
  constructor(readonly typeName: string) {
    super(`cannot walk ${typeName}`);
  }
}

const fixedWidths = new Map<string, number>([
  ['UInt8', 1], ['Int8', 1], ['Bool', 1], ['Enum8', 1],
  ['UInt16', 2], ['Int16', 2], ['Date', 2], ['BFloat16', 2], ['Enum16', 2],
  ['UInt32', 4], ['Int32', 4], ['Float32', 4], ['Date32', 4], ['DateTime', 4], ['IPv4', 4], ['Time', 4], ['Decimal32', 4],
  ['UInt64', 8], ['Int64', 8], ['Float64', 8], ['DateTime64', 8], ['Time64', 8], ['Decimal64', 8],
  ['UInt128', 16], ['Int128', 16], ['UUID', 16], ['IPv6', 16], ['Decimal128', 16],
  ['UInt256', 32], ['Int256', 32], ['Decimal256', 32],
  // Nothing (the type of NULL and []) writes one byte per row.
  ['Nothing', 1],
]);

/** Geo types are names for tuples and arrays of Float64. */
const geoTypes = new Map<string, string>([
  ['Point', 'Tuple(Float64, Float64)'],
  ['Ring', 'Array(Point)'],
  ['LineString', 'Array(Point)'],
  ['Polygon', 'Array(Ring)'],
  ['MultiLineString', 'Array(LineString)'],
  ['MultiPolygon', 'Array(Polygon)'],
]);

function parseLayout(type: string): Layout {
  const { head, args } = splitType(type);
  const geo = geoTypes.get(head);
  if (geo !== undefined && args === undefined) return parseLayout(geo);
  if (head.startsWith('Interval') && args === undefined) return { kind: 'fixed', width: 8 };
  if (head === 'String' && args === undefined) return { kind: 'string' };
  if (head === 'FixedString' && args?.length === 1) return { kind: 'fixed', width: positiveInteger(args[0], type) };
  if (head === 'Decimal' && args?.length === 2) {
    const precision = positiveInteger(args[0], type);
    return { kind: 'fixed', width: precision <= 9 ? 4 : precision <= 18 ? 8 : precision <= 38 ? 16 : 32 };
  }
  const width = fixedWidths.get(head);
  if (width !== undefined) return { kind: 'fixed', width };
  if (head === 'Nullable' && args?.length === 1) return { kind: 'nullable', nested: parseLayout(args[0] ?? '') };
  if (head === 'Array' && args?.length === 1) return { kind: 'array', element: parseLayout(args[0] ?? '') };
  // A Map is written as an Array of (key, value) tuples.
  if (head === 'Map' && args?.length === 2) return { kind: 'array', element: { kind: 'tuple', elements: args.map((arg) => parseLayout(arg)) } };
  // An empty tuple writes one byte per row, as Nothing does.
  if (head === 'Tuple' && args?.length === 0) return { kind: 'fixed', width: 1 };
  if (head === 'Tuple' && args !== undefined) return { kind: 'tuple', elements: args.map((arg) => parseLayout(withoutElementName(arg))) };
  // A SimpleAggregateFunction column holds values of its last argument's type.
  if (head === 'SimpleAggregateFunction' && args !== undefined && args.length >= 2) return parseLayout(args.at(-1) ?? '');
  if (head === 'LowCardinality' && args?.length === 1) {
    const nested = splitType(args[0] ?? '');
    const nullable = nested.head === 'Nullable' && nested.args?.length === 1;
    const keys = parseLayout(nullable ? (nested.args?.[0] ?? '') : (args[0] ?? ''));
    if (keys.kind !== 'fixed' && keys.kind !== 'string') throw new UnwalkableType(type);
    return { kind: 'lowCardinality', keys, nullable };
  }
  // JSON, Dynamic, Variant, Object, AggregateFunction, Nested, ...: their layout is not walked here.
  throw new UnwalkableType(head);
}

function positiveInteger(text: string | undefined, type: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value <= 0) throw new UnwalkableType(type);
  return value;
}

/**
 * A type name's head and its top-level arguments (undefined without parentheses), with quoted
 * strings ('a,)' in an Enum) and back-quoted names (`a b` in a Tuple) kept whole.
 */
function splitType(type: string): { head: string; args: string[] | undefined } {
  const trimmed = type.trim();
  const open = trimmed.indexOf('(');
  if (open < 0) return { head: trimmed, args: undefined };
  if (!trimmed.endsWith(')')) throw new UnwalkableType(type);
  const head = trimmed.slice(0, open);
  const inner = trimmed.slice(open + 1, -1);
  const args: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let index = 0; index < inner.length; index += 1) {
    const char = inner[index];
    if (quote !== undefined) {
      if (char === '\\') index += 1;
      else if (char === quote) quote = undefined;
    } else if (char === "'" || char === '`' || char === '"') quote = char;
    else if (char === '(') depth += 1;
    else if (char === ')') depth -= 1;
    else if (char === ',' && depth === 0) {
      args.push(inner.slice(start, index).trim());
      start = index + 1;
    }
  }
  if (quote !== undefined || depth !== 0) throw new UnwalkableType(type);
  if (inner.trim() !== '') args.push(inner.slice(start).trim());
  return { head, args };
}

/** A named tuple element (`a UInt8`, `` `a b` String ``) without its name. */
function withoutElementName(element: string): string {
  if (element.startsWith('`')) {
    const close = /^`(?:[^`\\]|\\.|``)*`\s+/.exec(element);
    if (close === null) throw new UnwalkableType(element);
    return element.slice(close[0].length);
  }
  const named = /^[A-Za-z_][A-Za-z0-9_]*\s+(?=\S)/.exec(element);
  return named === null ? element : element.slice(named[0].length);
}

function containsLowCardinality(layout: Layout): boolean {
  switch (layout.kind) {
    case 'lowCardinality':
      return true;
    case 'nullable':
      return containsLowCardinality(layout.nested);
    case 'array':
      return containsLowCardinality(layout.element);
    case 'tuple':
      return layout.elements.some(containsLowCardinality);
    default:
      return false;
  }
}

/**
 * A type's name as ClickHouse's recursiveRemoveLowCardinality leaves it for old clients: each
 * LowCardinality(T) is T, and each Array, Tuple and Map is made anew, so a custom name on one
 * (Point, Ring, ..., SimpleAggregateFunction) gives way to its plain name.
 */
function withoutLowCardinalityName(type: string): string {
  const { head, args } = splitType(type);
  const geo = geoTypes.get(head);
  if (geo !== undefined && args === undefined) return withoutLowCardinalityName(geo);
  if (args === undefined) return type;
  if (head === 'LowCardinality') return args[0] ?? '';
  if (head === 'SimpleAggregateFunction') {
    const values = args.at(-1) ?? '';
    return rebuiltHeads.has(splitType(values).head) ? withoutLowCardinalityName(values) : type;
  }
  if (head === 'Array' || head === 'Map') return `${head}(${args.map(withoutLowCardinalityName).join(', ')})`;
  if (head === 'Tuple') {
    const elements = args.map((arg) => {
      const elementType = withoutElementName(arg);
      return `${arg.slice(0, arg.length - elementType.length)}${withoutLowCardinalityName(elementType)}`;
    });
    return `Tuple(${elements.join(', ')})`;
  }
  return type;
}

const rebuiltHeads = new Set(['LowCardinality', 'Array', 'Tuple', 'Map', ...geoTypes.keys()]);

/** LowCardinality's serialization version in its prefix: one dictionary per block, with keys. */
const sharedDictionariesWithAdditionalKeys = 1;
/** Bits of a LowCardinality block's index header (SerializationLowCardinality). */
const needGlobalDictionaryBit = 1 << 8;
const hasAdditionalKeysBit = 1 << 9;
const indexWidths = [1, 2, 4, 8];

/** The state prefixes of a column's data: LowCardinality's version, in the order of its types. */
function skipPrefix(reader: NativeReader, layout: Layout): void {
  switch (layout.kind) {
    case 'lowCardinality': {
      const version = reader.uint64();
      if (version !== sharedDictionariesWithAdditionalKeys) throw reader.malformed(`LowCardinality serialization version ${version}`);
      return;
    }
    case 'nullable':
      return skipPrefix(reader, layout.nested);
    case 'array':
      return skipPrefix(reader, layout.element);
    case 'tuple':
      for (const element of layout.elements) skipPrefix(reader, element);
      return;
    default:
      return;
  }
}

/** Moves past `count` values of a column's data. */
function skipData(reader: NativeReader, layout: Layout, count: number): void {
  switch (layout.kind) {
    case 'fixed':
      reader.skip(count * layout.width);
      return;
    case 'string':
      for (let index = 0; index < count; index += 1) reader.skip(reader.varUInt());
      return;
    case 'nullable':
      reader.skip(count);
      return skipData(reader, layout.nested, count);
    case 'array':
      return skipData(reader, layout.element, reader.lastOffset(count));
    case 'tuple':
      for (const element of layout.elements) skipData(reader, element, count);
      return;
    case 'lowCardinality':
      for (let read = 0; read < count; ) read += skipLowCardinalityPart(reader, layout, read === 0);
      return;
  }
}

/** Writes `count` values of a column's data with its LowCardinality columns as their plain type. */
function copyData(reader: NativeReader, layout: Layout, count: number, parts: Buffer[]): void {
  switch (layout.kind) {
    case 'fixed':
    case 'string': {
      const start = reader.position;
      skipData(reader, layout, count);
      parts.push(reader.slice(start));
      return;
    }
    case 'nullable': {
      const start = reader.position;
      reader.skip(count);
      parts.push(reader.slice(start));
      return copyData(reader, layout.nested, count, parts);
    }
    case 'array': {
      const start = reader.position;
      const elements = reader.lastOffset(count);
      parts.push(reader.slice(start));
      return copyData(reader, layout.element, elements, parts);
    }
    case 'tuple':
      for (const element of layout.elements) copyData(reader, element, count, parts);
      return;
    case 'lowCardinality': {
      // A Nullable key set's first key stands for NULL: the null map comes first, then the values.
      const read: LowCardinalityPart[] = [];
      for (let values = 0; values < count; ) {
        const part = readLowCardinalityPart(reader, layout, read.at(-1)?.keys);
        read.push(part);
        values += part.indexes.length;
      }
      if (layout.nullable) for (const part of read) parts.push(Buffer.from(part.indexes.map((key) => (key === 0 ? 1 : 0))));
      for (const part of read) for (const key of part.indexes) parts.push(part.keys[key] ?? Buffer.alloc(0));
      return;
    }
  }
}

interface LowCardinalityPart {
  /** Each key's bytes, as its plain type writes it. */
  keys: Buffer[];
  indexes: number[];
}

/** A LowCardinality part's header: how wide its indexes are, and whether keys come before them. */
function lowCardinalityHeader(reader: NativeReader): { indexWidth: number; hasKeys: boolean } {
  const header = reader.uint64();
  if ((header & needGlobalDictionaryBit) !== 0) throw reader.malformed('a LowCardinality global dictionary');
  const indexWidth = indexWidths[header & 0xff];
  if (indexWidth === undefined) throw reader.malformed(`LowCardinality index type ${header & 0xff}`);
  return { indexWidth, hasKeys: (header & hasAdditionalKeysBit) !== 0 };
}

/** Moves past one part of a LowCardinality column; returns how many values it holds. */
function skipLowCardinalityPart(reader: NativeReader, layout: Layout & { kind: 'lowCardinality' }, first: boolean): number {
  const { indexWidth, hasKeys } = lowCardinalityHeader(reader);
  if (hasKeys) skipData(reader, layout.keys, reader.uint64());
  else if (first) throw reader.malformed('LowCardinality indexes without keys');
  const indexCount = reader.uint64();
  if (indexCount === 0) throw reader.malformed('an empty LowCardinality part');
  reader.skip(indexCount * indexWidth);
  return indexCount;
}

/**
 * One part of a LowCardinality column, read: its keys' bytes and its indexes. chDB writes one part
 * per block; a part without keys uses the previous part's.
 */
function readLowCardinalityPart(reader: NativeReader, layout: Layout & { kind: 'lowCardinality' }, previousKeys?: Buffer[]): LowCardinalityPart {
  const { indexWidth, hasKeys } = lowCardinalityHeader(reader);
  let keys = previousKeys ?? [];
  if (hasKeys) {
    const keyCount = reader.uint64();
    keys = [];
    for (let index = 0; index < keyCount; index += 1) {
      const start = reader.position;
      skipData(reader, layout.keys, 1);
      keys.push(reader.slice(start));
    }
  } else if (previousKeys === undefined) {
    throw reader.malformed('LowCardinality indexes without keys');
  }
  const indexCount = reader.uint64();
  if (indexCount === 0) throw reader.malformed('an empty LowCardinality part');
  const indexes = new Array<number>(indexCount);
  for (let index = 0; index < indexCount; index += 1) {
    const key = reader.uintLE(indexWidth);
    if (key >= keys.length) throw reader.malformed(`LowCardinality index ${key} of ${keys.length} keys`);
    indexes[index] = key;
  }
  return { keys, indexes };
}

function encodedText(text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  const length: number[] = [];
  let rest = bytes.length;
  while (rest >= 0x80) {
    length.push((rest & 0x7f) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  length.push(rest);
  return Buffer.concat([Buffer.from(length), bytes]);
}

/** Reads chDB's Native answer; every read is bounds-checked, so a short answer is an error. */
class NativeReader {
  position = 0;

  constructor(private readonly input: Buffer) {}

  done(): boolean {
    return this.position >= this.input.length;
  }

  varUInt(): number {
    let value = 0;
    let factor = 1;
    for (let shift = 0; shift < 63; shift += 7) {
      if (this.position >= this.input.length) throw this.malformed('a number past its end');
      const byte = this.input[this.position] ?? 0;
      this.position += 1;
      value += (byte & 0x7f) * factor;
      if (byte < 0x80) return value;
      factor *= 0x80;
    }
    throw this.malformed('a number of more than 9 bytes');
  }

  text(): string {
    const length = this.varUInt();
    const start = this.position;
    this.skip(length);
    return this.input.toString('utf8', start, this.position);
  }

  uint64(): number {
    this.need(8);
    const value = this.input.readBigUInt64LE(this.position);
    this.position += 8;
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw this.malformed(`a count of ${value}`);
    return Number(value);
  }

  uintLE(width: number): number {
    this.need(width);
    const value = width === 8 ? Number(this.input.readBigUInt64LE(this.position)) : this.input.readUIntLE(this.position, width);
    this.position += width;
    return value;
  }

  /** An Array's `count` offsets, moved past; the last one is how many elements follow. */
  lastOffset(count: number): number {
    if (count === 0) return 0;
    this.skip((count - 1) * 8);
    return this.uint64();
  }

  skip(length: number): void {
    this.need(length);
    this.position += length;
  }

  slice(start: number): Buffer {
    return this.input.subarray(start, this.position);
  }

  malformed(what: string): Error {
    return new Error(`Code: 49. DB::Exception: chDB's Native answer has ${what} at byte ${this.position}: it cannot be rewritten for the client's protocol revision. (LOGICAL_ERROR)`);
  }

  private need(length: number): void {
    if (length < 0 || this.position + length > this.input.length) throw this.malformed(`${length} bytes past its end`);
  }
}
