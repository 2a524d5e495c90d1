import fc from 'fast-check';
import KafkajsDecoder from 'kafkajs/src/protocol/decoder';
import fetchRequests from 'kafkajs/src/protocol/requests/fetch';
import kafkajsFetchV11Response from 'kafkajs/src/protocol/requests/fetch/v11/response';
import { silentLogger } from '@sluice/core';
import { createKafkaBus } from './kafka-bus';
import { decodeFetchV11Response, installFetchDecoder } from './fetch-response';

// kafkajs's own request table, taken before any test installs ours (the table is the process's).
const kafkajsProtocol = fetchRequests.protocol;

/** kafkajs's batch and record encoders, to make compressed batches as a producer would. */
const { RecordBatch: encodeKafkajsBatch } = jest.requireActual<{ RecordBatch: (options: object) => Promise<{ buffer: Buffer }> }>('kafkajs/src/protocol/recordBatch/v0');
const encodeKafkajsRecord = jest.requireActual<(record: object) => unknown>('kafkajs/src/protocol/recordBatch/record/v0');

/** Bytes in Kafka's encodings, big-endian and zigzag varints, as a broker writes a fetch response. */
class Writer {
  private readonly parts: Buffer[] = [];
  private part(size: number, write: (buffer: Buffer) => void): this {
    const buffer = Buffer.alloc(size);
    write(buffer);
    this.parts.push(buffer);
    return this;
  }
  int8 = (value: number): this => this.part(1, (b) => b.writeInt8(value));
  int16 = (value: number): this => this.part(2, (b) => b.writeInt16BE(value));
  int32 = (value: number): this => this.part(4, (b) => b.writeInt32BE(value));
  int64 = (value: bigint): this => this.part(8, (b) => b.writeBigInt64BE(value));
  raw = (bytes: Buffer): this => {
    this.parts.push(bytes);
    return this;
  };
  varlong(value: bigint): this {
    let rest = BigInt.asUintN(64, (value << 1n) ^ (value >> 63n));
    const bytes: number[] = [];
    while (rest >= 0x80n) {
      bytes.push(Number(rest & 0x7fn) | 0x80);
      rest >>= 7n;
    }
    bytes.push(Number(rest));
    return this.raw(Buffer.from(bytes));
  }
  varint = (value: number): this => this.varlong(BigInt(value));
  varintBytes = (bytes: Buffer | null): this => (bytes === null ? this.varint(-1) : this.varint(bytes.length).raw(bytes));
  string = (text: string | null): this => (text === null ? this.int16(-1) : this.int16(Buffer.byteLength(text)).raw(Buffer.from(text)));
  bytes = (): Buffer => Buffer.concat(this.parts);
}

interface RecordSpec {
  attributes: number;
  timestampDelta: bigint;
  offsetDelta: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: Array<[string, Buffer | null]>;
}

interface BatchSpec {
  firstOffset: bigint;
  partitionLeaderEpoch: number;
  logAppendTime: boolean;
  transactional: boolean;
  control: boolean;
  lastOffsetDelta: number;
  firstTimestamp: bigint;
  maxTimestamp: bigint;
  producerId: bigint;
  producerEpoch: number;
  firstSequence: number;
  records: RecordSpec[];
  /** Written by kafkajs's encoder, gzipped (its records' headers and keys as kafkajs takes them). */
  gzip: boolean;
}

interface PartitionSpec {
  partition: number;
  errorCode: number;
  highWatermark: bigint;
  lastStableOffset: bigint;
  logStartOffset: bigint;
  aborted: Array<[bigint, bigint]>;
  preferredReadReplica: number;
  /** No record set (size 0 or -1), or record batches, the last one perhaps cut short. */
  records: { empty: 0 | -1 } | { batches: BatchSpec[]; cutLast: number };
}

interface ResponseSpec {
  throttle: number;
  errorCode: number;
  sessionId: number;
  topics: Array<{ name: string; partitions: PartitionSpec[] }>;
}

function recordBytes(record: RecordSpec): Buffer {
  const body = new Writer().int8(record.attributes).varlong(record.timestampDelta).varint(record.offsetDelta).varintBytes(record.key).varintBytes(record.value).varint(record.headers.length);
  for (const [key, value] of record.headers) body.varintBytes(Buffer.from(key)).varintBytes(value);
  const bytes = body.bytes();
  return new Writer().varint(bytes.length).raw(bytes).bytes();
}

async function batchBytes(batch: BatchSpec): Promise<Buffer> {
  if (batch.gzip) {
    const records = batch.records.map((r) => encodeKafkajsRecord({ offsetDelta: r.offsetDelta, timestampDelta: Number(r.timestampDelta), key: r.key, value: r.value, headers: Object.fromEntries(r.headers) }));
    const encoded = await encodeKafkajsBatch({ compression: 1, firstOffset: batch.firstOffset.toString(), firstTimestamp: Number(batch.firstTimestamp), maxTimestamp: Number(batch.maxTimestamp), records });
    return encoded.buffer;
  }
  const attributes = (batch.logAppendTime ? 0x08 : 0) | (batch.transactional ? 0x10 : 0) | (batch.control ? 0x20 : 0);
  const body = new Writer()
    .int32(batch.partitionLeaderEpoch)
    .int8(2)
    .int32(0)
    .int16(attributes)
    .int32(batch.lastOffsetDelta)
    .int64(batch.firstTimestamp)
    .int64(batch.maxTimestamp)
    .int64(batch.producerId)
    .int16(batch.producerEpoch)
    .int32(batch.firstSequence)
    .int32(batch.records.length);
  for (const record of batch.records) body.raw(recordBytes(record));
  const bytes = body.bytes();
  return new Writer().int64(batch.firstOffset).int32(bytes.length).raw(bytes).bytes();
}

async function responseBytes(spec: ResponseSpec): Promise<Buffer> {
  const out = new Writer().int32(spec.throttle).int16(spec.errorCode).int32(spec.sessionId).int32(spec.topics.length);
  for (const topic of spec.topics) {
    out.string(topic.name).int32(topic.partitions.length);
    for (const p of topic.partitions) {
      out.int32(p.partition).int16(p.errorCode).int64(p.highWatermark).int64(p.lastStableOffset).int64(p.logStartOffset).int32(p.aborted.length);
      for (const [producerId, firstOffset] of p.aborted) out.int64(producerId).int64(firstOffset);
      out.int32(p.preferredReadReplica);
      if ('empty' in p.records) {
        out.int32(p.records.empty);
        continue;
      }
      const batches = Buffer.concat(await Promise.all(p.records.batches.map(batchBytes)));
      // A broker cuts only the last batch short, never below a magic byte (kafkajs fails there: the damaged-bytes test covers it).
      const records = batches.subarray(0, batches.length - Math.min(p.records.cutLast, batches.length - 17));
      out.int32(records.length).raw(records);
    }
  }
  return out.bytes();
}

const int64 = fc.oneof(fc.bigInt({ min: -1n, max: 10n ** 7n }), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }));
const bytes = fc.oneof(fc.constant(null), fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)));
const headerName = fc.oneof(fc.constantFrom('trace', 'sluice-source', 'é'), fc.string({ unit: 'binary', maxLength: 12 }));
const record = (timestamps: fc.Arbitrary<bigint>): fc.Arbitrary<RecordSpec> =>
  fc.record({
    attributes: fc.integer({ min: -128, max: 127 }),
    timestampDelta: timestamps,
    offsetDelta: fc.oneof(fc.nat(10_000), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })),
    key: bytes,
    value: bytes,
    headers: fc.array(fc.tuple(headerName, bytes), { maxLength: 4 }),
  });
const batch: fc.Arbitrary<BatchSpec> = fc.boolean().chain((gzip) =>
  fc.record({
    firstOffset: gzip ? fc.bigInt({ min: 0n, max: 10n ** 9n }) : int64,
    partitionLeaderEpoch: fc.integer({ min: -1, max: 1_000 }),
    logAppendTime: fc.boolean(),
    transactional: fc.boolean(),
    control: fc.boolean(),
    lastOffsetDelta: fc.integer({ min: 0, max: 10_000 }),
    firstTimestamp: gzip ? fc.bigInt({ min: 0n, max: 2n ** 41n }) : int64,
    maxTimestamp: gzip ? fc.bigInt({ min: 0n, max: 2n ** 41n }) : int64,
    producerId: int64,
    producerEpoch: fc.integer({ min: -1, max: 32_767 }),
    firstSequence: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
    // kafkajs's encoder writes one header per name, no null header values, and timestamp deltas as numbers.
    records: fc.array(gzip ? record(fc.bigInt({ min: -(2n ** 40n), max: 2n ** 40n })).map((r) => ({ ...r, headers: [...new Map(r.headers.map(([name, value]) => [name, value ?? Buffer.alloc(0)]))] })) : record(int64), {
      maxLength: 5,
    }),
    gzip: fc.constant(gzip),
  }),
);
const partition: fc.Arbitrary<PartitionSpec> = fc.record({
  partition: fc.nat(1_000),
  errorCode: fc.constantFrom(0, 0, 0, 1),
  highWatermark: int64,
  lastStableOffset: int64,
  logStartOffset: int64,
  aborted: fc.array(fc.tuple(int64, int64), { maxLength: 2 }),
  preferredReadReplica: fc.integer({ min: -1, max: 3 }),
  records: fc.oneof(
    fc.record({ empty: fc.constantFrom(0 as const, -1 as const) }),
    fc.record({ batches: fc.array(batch, { minLength: 1, maxLength: 3 }), cutLast: fc.oneof(fc.constant(0), fc.nat(60)) }),
  ),
});
const response: fc.Arbitrary<ResponseSpec> = fc.record({
  throttle: fc.nat(1_000),
  errorCode: fc.constantFrom(0, 0, 1),
  sessionId: fc.nat(),
  topics: fc.array(fc.record({ name: fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }), partitions: fc.array(partition, { maxLength: 4 }) }), { maxLength: 3 }),
});

/** A header name kafkajs would look up on Object.prototype: left to kafkajs. */
const decodedAgainByKafkajs = (spec: ResponseSpec): boolean =>
  spec.topics.some((t) => t.partitions.some((p) => 'batches' in p.records && p.records.batches.some((b) => !b.gzip && b.records.some((r) => r.headers.some(([name]) => name in Object.prototype)))));

/** What a decoder gives for the bytes: its result, or the error it throws. */
async function outcome(decode: (bytes: Buffer) => Promise<unknown>, bytes: Buffer): Promise<{ result: unknown } | { error: string }> {
  try {
    return { result: await decode(bytes) };
  } catch (error) {
    return { error: String(error) };
  }
}

afterEach(() => jest.restoreAllMocks());

test("a fetch response is decoded into kafkajs's own objects, without kafkajs decoding it again", async () => {
  await fc.assert(
    fc.asyncProperty(response, async (spec) => {
      const bytes = await responseBytes(spec);
      const expected = await kafkajsFetchV11Response.decode(bytes);
      const kafkajsDecode = jest.spyOn(kafkajsFetchV11Response, 'decode');
      const decoded = await decodeFetchV11Response(bytes);
      expect(decoded).toStrictEqual(expected);
      expect(kafkajsDecode).toHaveBeenCalledTimes(decodedAgainByKafkajs(spec) ? 1 : 0);
      kafkajsDecode.mockRestore();
    }),
    { numRuns: 400 },
  );
});

test('offsets and timestamps beyond 2^53 are summed as kafkajs sums them, without wrapping at 64 bits', async () => {
  const base = { partitionLeaderEpoch: 0, logAppendTime: false, transactional: false, control: false, lastOffsetDelta: 0, producerId: -1n, producerEpoch: 0, firstSequence: 0, gzip: false };
  const edge = (firstOffset: bigint, firstTimestamp: bigint, offsetDelta: number, timestampDelta: bigint): BatchSpec => ({
    ...base,
    firstOffset,
    firstTimestamp,
    maxTimestamp: firstTimestamp,
    records: [{ attributes: 0, timestampDelta, offsetDelta, key: null, value: Buffer.from('v'), headers: [] }],
  });
  const batches = [edge(2n ** 53n - 1n, 2n ** 53n - 1n, 1, 1n), edge(2n ** 63n - 1n, 2n ** 63n - 1n, 1, 1n), edge(-(2n ** 63n), 0n, -1, -(2n ** 63n)), edge(0n, 1_700_000_000_000n, 5, 2n ** 50n)];
  const p: PartitionSpec = { partition: 0, errorCode: 0, highWatermark: 0n, lastStableOffset: 0n, logStartOffset: 0n, aborted: [], preferredReadReplica: -1, records: { batches, cutLast: 0 } };
  const bytes = await responseBytes({ throttle: 0, errorCode: 0, sessionId: 0, topics: [{ name: 't', partitions: [p] }] });
  const decoded = await decodeFetchV11Response(bytes);
  expect(decoded).toStrictEqual(await kafkajsFetchV11Response.decode(bytes));
  expect(decoded.responses[0]?.partitions[0]?.messages.map((m) => [m.offset, m.timestamp])).toEqual([
    ['9007199254740992', '9007199254740992'],
    ['9223372036854775808', '9223372036854775808'],
    ['-9223372036854775809', '-9223372036854775808'],
    ['5', String(1_700_000_000_000 + 2 ** 50)],
  ]);
});

/**
 * kafkajs reads a record's header count, then that many headers even past the record's end, where
 * each read gives an empty name and value: a damaged count of a billion builds a billion headers
 * until the heap runs out (a broker never sends such a record; it checks every record it stores).
 * For damaged bytes the reference is kafkajs with the count bounded by the bytes left.
 */
function boundKafkajsHeaderCounts(): void {
  const readVarIntArray = KafkajsDecoder.prototype.readVarIntArray;
  jest.spyOn(KafkajsDecoder.prototype, 'readVarIntArray').mockImplementation(function <T>(this: KafkajsDecoder, reader: (decoder: KafkajsDecoder) => T): T[] {
    const start = this.offset;
    const count = this.readVarInt();
    this.offset = start;
    if (count > this.buffer.length - start) throw new Error(`${count} headers in ${this.buffer.length - start} bytes`);
    return readVarIntArray.call(this, reader) as T[];
  });
}

test('damaged bytes get what kafkajs makes of them: the same objects, or the same error', async () => {
  boundKafkajsHeaderCounts();
  await fc.assert(
    fc.asyncProperty(response, fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 }), fc.nat(), async (spec, flips, cut) => {
      const bytes = Buffer.from(await responseBytes(spec));
      for (const [at, value] of flips) if (bytes.length > 0) bytes[at % bytes.length] = value;
      const damaged = cut % 3 === 0 ? bytes.subarray(0, cut % (bytes.length + 1)) : bytes;
      expect(await outcome(decodeFetchV11Response, damaged)).toStrictEqual(await outcome(kafkajsFetchV11Response.decode, damaged));
    }),
    { numRuns: 400 },
  );
});

test('making a Kafka bus puts the fetch decoder in place', () => {
  expect(fetchRequests.protocol).toBe(kafkajsProtocol);
  createKafkaBus({ brokers: ['127.0.0.1:1'], clientId: 'fetch-decoder-test', logger: silentLogger });
  expect(fetchRequests.protocol({ version: 11 })({ maxWaitTime: 100, minBytes: 1, maxBytes: 1024, topics: [] }).response.decode).toBe(decodeFetchV11Response);
});

test('only version 11 is decoded by Sluice; installing twice changes nothing', () => {
  const args = { maxWaitTime: 100, minBytes: 1, maxBytes: 1024, topics: [] };
  installFetchDecoder();
  const installed = fetchRequests.protocol;
  installFetchDecoder();
  expect(fetchRequests.protocol).toBe(installed);
  expect(fetchRequests.protocol({ version: 11 })(args).response.decode).toBe(decodeFetchV11Response);
  expect(fetchRequests.protocol({ version: '11' })(args).response.decode).toBe(decodeFetchV11Response);
  expect(fetchRequests.protocol({ version: 10 })(args).response).toBe(kafkajsProtocol({ version: 10 })(args).response);
});
