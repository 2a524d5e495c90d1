import KafkajsDecoder from 'kafkajs/src/protocol/decoder';
import decodeKafkajsRecordBatch from 'kafkajs/src/protocol/recordBatch/v0/decoder';
import fetchRequests from 'kafkajs/src/protocol/requests/fetch';
import kafkajsFetchV11Response from 'kafkajs/src/protocol/requests/fetch/v11/response';
import type { FetchPartition, FetchRecord, FetchRecordBatchContext, FetchResponse, FetchResponseDecoder } from 'kafkajs/src/protocol/requests/fetch/v11/response';

/**
 * kafkajs decodes each record of a fetch through a Decoder object of its own, turns each offset
 * and timestamp into a Long from a string and back, and builds its headers by spreading an object
 * per header: 15% of the worker's busy main thread in the bench (issue 16). This decodes a fetch
 * response of version 11 (the version kafkajs 2.2.4 asks a Kafka of 2.3 or later for) into the
 * very objects kafkajs makes, from one pass over the bytes. Compressed record batches are handed
 * to kafkajs's own batch decoder; a response in the message-set format of Kafka before 0.11, or
 * any byte the fast path does not expect (a truncated record, a header named like a property of
 * every object), is decoded again by kafkajs from the start, so that kafkajs's own behaviour,
 * its errors included, is what the consumer sees.
 */

/** Thrown inside the fast path for bytes it leaves to kafkajs. */
class LeftToKafkajs extends Error {}

function leftToKafkajs(why: string): never {
  throw new LeftToKafkajs(why);
}

/** The record batch format of Kafka 0.11 and later; older message sets are kafkajs's to decode. */
const recordBatchMagic = 2;
/** Where every message format keeps its magic byte, from the start of a partition's records. */
const magicOffset = 16;
/** The bytes of a record batch before its records: a shorter tail is an incomplete batch. */
const recordBatchOverhead = 49;
const compressionCodecMask = 0x07;
const timestampTypeMask = 0x08;
const transactionalMask = 0x10;
const controlMask = 0x20;
const logAppendTime = 1;
const createTime = 0;

/** A read position in a response, and where the current part of it ends. */
class Cursor {
  offset = 0;
  constructor(
    readonly buffer: Buffer,
    public end: number,
  ) {}

  need(bytes: number): void {
    if (bytes < 0 || this.offset + bytes > this.end) leftToKafkajs('a read past the end of its part');
  }

  int8(): number {
    this.need(1);
    return this.buffer.readInt8(this.offset++);
  }

  int16(): number {
    this.need(2);
    const value = this.buffer.readInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  int32(): number {
    this.need(4);
    const value = this.buffer.readInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  /** A 64-bit integer: as a number when it is one exactly (else undefined), and as kafkajs writes it, in decimal. */
  int64(): Int64 {
    this.need(8);
    const high = this.buffer.readInt32BE(this.offset);
    const low = this.buffer.readUInt32BE(this.offset + 4);
    const start = this.offset;
    this.offset += 8;
    // |high| up to 2^21 keeps the value within 2^53.
    if (high >= -0x200000 && high < 0x200000) {
      const value = high * 0x100000000 + low;
      return { value, text: String(value) };
    }
    return { value: undefined, text: this.buffer.readBigInt64BE(start).toString() };
  }

  int64Text(): string {
    return this.int64().text;
  }

  /** kafkajs's varint: zigzag over 32 bits, with kafkajs's arithmetic. */
  varint(): number {
    let result = 0;
    let shift = 0;
    let byte: number;
    do {
      if (this.offset >= this.end || shift > 28) leftToKafkajs('a varint past the end or over 5 bytes');
      byte = this.buffer[this.offset++] as number;
      result += (byte & 0x7f) << shift;
      shift += 7;
    } while (byte >= 0x80);
    return (result >>> 1) ^ -(result & 1);
  }

  /** A zigzag varlong as a number when it fits in 49 bits (every real timestamp delta does), else a bigint. */
  varlong(): number | bigint {
    let result = 0;
    let shift = 0;
    let byte: number;
    const start = this.offset;
    do {
      if (this.offset >= this.end) leftToKafkajs('a varlong past the end');
      byte = this.buffer[this.offset++] as number;
      result += (byte & 0x7f) * 2 ** shift;
      shift += 7;
    } while (byte >= 0x80 && shift < 49);
    if (byte < 0x80) return result % 2 === 0 ? result / 2 : -(result + 1) / 2;
    this.offset = start;
    return this.bigVarlong();
  }

  private bigVarlong(): bigint {
    let result = 0n;
    let shift = 0n;
    let byte: number;
    do {
      if (this.offset >= this.end || shift > 63n) leftToKafkajs('a varlong past the end or over 9 bytes');
      byte = this.buffer[this.offset++] as number;
      result += BigInt(byte & 0x7f) << shift;
      shift += 7n;
    } while (byte >= 0x80);
    // kafkajs's Long is a bigint that does not wrap at 64 bits.
    return (result >> 1n) ^ -(result & 1n);
  }

  /** A varint length, then that many bytes, as a view of the response (kafkajs's slice); null for -1. */
  varintBytes(): Buffer | null {
    const length = this.varint();
    if (length === -1) return null;
    this.need(length);
    const bytes = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += length;
    return bytes;
  }

  varintString(): string | null {
    return this.utf8(this.varint());
  }

  /** kafkajs's string: a 16-bit length, then UTF-8; null for -1. */
  string(): string | null {
    return this.utf8(this.int16());
  }

  private utf8(length: number): string | null {
    if (length === -1) return null;
    this.need(length);
    const text = this.buffer.toString('utf8', this.offset, this.offset + length);
    this.offset += length;
    return text;
  }

  /** A 32-bit count, -1 for none (kafkajs reads it as an empty list, and fails on any other below 0). */
  count(): number {
    return countOf(this.int32());
  }
}

interface Int64 {
  value: number | undefined;
  text: string;
}

function countOf(count: number): number {
  if (count < -1) leftToKafkajs('a negative count');
  return Math.max(count, 0);
}

/** A base plus a delta, as kafkajs's Long sums them (a bigint, which does not wrap), in decimal. */
function sumText(base: Int64, delta: number | bigint): string {
  if (base.value !== undefined && typeof delta === 'number') {
    const sum = base.value + delta;
    if (Number.isSafeInteger(sum)) return String(sum);
  }
  return (BigInt(base.text) + BigInt(delta)).toString();
}

/** Headers as kafkajs gathers them: one value per name, a list for a name sent more than once. */
function readHeaders(cursor: Cursor): Record<string, Buffer | null | Array<Buffer | null>> {
  const headers: Record<string, Buffer | null | Array<Buffer | null>> = {};
  const count = countOf(cursor.varint());
  for (let i = 0; i < count; i++) {
    const key = cursor.varintString();
    // kafkajs would look a name such as "constructor" up on the object's prototype, and keep what it found there.
    if (key === null || key in Object.prototype) leftToKafkajs('a header name that is null or a property of every object');
    const value = cursor.varintBytes();
    const seen = headers[key];
    headers[key] = seen === undefined ? value : Array.isArray(seen) ? seen.concat([value]) : [seen, value];
  }
  return headers;
}

function readRecord(cursor: Cursor, context: FetchRecordBatchContext, firstOffset: Int64, firstTimestamp: Int64): FetchRecord {
  const length = cursor.varint();
  if (length < 0) leftToKafkajs('a record of negative length');
  cursor.need(length);
  const batchEnd = cursor.end;
  const recordEnd = cursor.offset + length;
  cursor.end = recordEnd;
  const attributes = cursor.int8();
  const timestampDelta = cursor.varlong();
  const timestamp = context.timestampType === logAppendTime ? context.maxTimestamp : sumText(firstTimestamp, timestampDelta);
  const offset = sumText(firstOffset, cursor.varint());
  const key = cursor.varintBytes();
  const value = cursor.varintBytes();
  const headers = readHeaders(cursor);
  cursor.offset = recordEnd;
  cursor.end = batchEnd;
  return { magicByte: context.magicByte, attributes, timestamp, offset, key, value, headers, isControlRecord: context.isControlBatch, batchContext: context };
}

/**
 * The records of one partition, as kafkajs's decodeMessages returns them: every complete record
 * batch's, in order; a batch cut short by the fetch's byte limit ends them.
 */
async function readPartitionRecords(cursor: Cursor): Promise<FetchRecord[]> {
  const size = cursor.int32();
  if (size <= 0) return [];
  // kafkajs returns no records for a size beyond the response, without reading past it.
  if (size > cursor.end - cursor.offset) leftToKafkajs('records beyond the response');
  const start = cursor.offset;
  const end = start + size;
  if (size <= magicOffset || cursor.buffer.readInt8(start + magicOffset) !== recordBatchMagic) leftToKafkajs('a message set older than record batches');
  const records: FetchRecord[] = [];
  const outerEnd = cursor.end;
  cursor.end = end;
  while (end - cursor.offset >= recordBatchOverhead) {
    const batchStart = cursor.offset;
    const firstOffset = cursor.int64();
    const length = cursor.int32();
    if (length < 0) leftToKafkajs('a record batch of negative length');
    // The last batch may be cut short by the fetch's byte limit: its records come in the next fetch.
    if (end - cursor.offset < length) break;
    const batchEnd = cursor.offset + length;
    cursor.end = batchEnd;
    const partitionLeaderEpoch = cursor.int32();
    const magicByte = cursor.int8();
    cursor.int32(); // the CRC, which kafkajs does not check either
    const attributes = cursor.int16();
    if ((attributes & compressionCodecMask) !== 0) {
      records.push(...(await kafkajsBatchRecords(cursor.buffer.subarray(start, end), batchStart - start)));
      cursor.offset = batchEnd;
      cursor.end = end;
      continue;
    }
    const lastOffsetDelta = cursor.int32();
    const firstTimestamp = cursor.int64();
    const maxTimestamp = cursor.int64Text();
    const producerId = cursor.int64Text();
    const producerEpoch = cursor.int16();
    const firstSequence = cursor.int32();
    const context: FetchRecordBatchContext = {
      firstOffset: firstOffset.text,
      firstTimestamp: firstTimestamp.text,
      partitionLeaderEpoch,
      inTransaction: (attributes & transactionalMask) > 0,
      isControlBatch: (attributes & controlMask) > 0,
      lastOffsetDelta,
      producerId,
      producerEpoch,
      firstSequence,
      maxTimestamp,
      timestampType: (attributes & timestampTypeMask) > 0 ? logAppendTime : createTime,
      magicByte,
    };
    const count = cursor.count();
    for (let i = 0; i < count; i++) records.push(readRecord(cursor, context, firstOffset, firstTimestamp));
    cursor.offset = batchEnd;
    cursor.end = end;
  }
  cursor.offset = end;
  cursor.end = outerEnd;
  return records;
}

/** A compressed batch's records, decoded by kafkajs (which decompresses them) from where the batch starts. */
async function kafkajsBatchRecords(partitionRecords: Buffer, batchStart: number): Promise<FetchRecord[]> {
  const decoder = new KafkajsDecoder(partitionRecords);
  decoder.offset = batchStart;
  return (await decodeKafkajsRecordBatch(decoder)).records;
}

async function readPartition(cursor: Cursor): Promise<FetchPartition> {
  const partition = cursor.int32();
  const errorCode = cursor.int16();
  const highWatermark = cursor.int64Text();
  const lastStableOffset = cursor.int64Text();
  const lastStartOffset = cursor.int64Text();
  const abortedTransactions: FetchPartition['abortedTransactions'] = [];
  for (let i = cursor.count(); i > 0; i--) abortedTransactions.push({ producerId: cursor.int64Text(), firstOffset: cursor.int64Text() });
  const preferredReadReplica = cursor.int32();
  const messages = await readPartitionRecords(cursor);
  return { partition, errorCode, highWatermark, lastStableOffset, lastStartOffset, abortedTransactions, preferredReadReplica, messages };
}

/** A fetch response of version 11, decoded into what kafkajs's own decoder returns. */
export async function decodeFetchV11Response(bytes: Buffer): Promise<FetchResponse> {
  try {
    const cursor = new Cursor(bytes, bytes.length);
    const clientSideThrottleTime = cursor.int32();
    const errorCode = cursor.int16();
    const sessionId = cursor.int32();
    const responses: FetchResponse['responses'] = [];
    for (let topics = cursor.count(); topics > 0; topics--) {
      const topicName = cursor.string();
      const partitions: FetchPartition[] = [];
      for (let count = cursor.count(); count > 0; count--) partitions.push(await readPartition(cursor));
      responses.push({ topicName, partitions });
    }
    // kafkajs reports no throttle of its own: the broker expects the client to throttle itself.
    return { throttleTime: 0, clientSideThrottleTime, errorCode, sessionId, responses };
  } catch (error) {
    if (!(error instanceof LeftToKafkajs)) throw error;
    return kafkajsFetchV11Response.decode(bytes);
  }
}

const fastV11Response: FetchResponseDecoder = { decode: decodeFetchV11Response, parse: kafkajsFetchV11Response.parse };

let installed = false;

/** Makes kafkajs decode its fetch responses of version 11 with decodeFetchV11Response. Once per process; later calls do nothing. */
export function installFetchDecoder(): void {
  if (installed) return;
  installed = true;
  const kafkajsProtocol = fetchRequests.protocol;
  fetchRequests.protocol = ({ version }) => {
    const kafkajsRequest = kafkajsProtocol({ version });
    if (Number(version) !== 11) return kafkajsRequest;
    return (args) => ({ ...kafkajsRequest(args), response: fastV11Response });
  };
}
