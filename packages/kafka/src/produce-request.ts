import produceRequests from 'kafkajs/src/protocol/requests/produce';
import type { ProduceArguments, ProduceMessage, ProduceRequest } from 'kafkajs/src/protocol/requests/produce';

/**
 * kafkajs encodes a produce request through an Encoder object per record, per header and per
 * record batch, each a zero-filled 512-byte buffer grown by doubling and copied into the next:
 * 22-26 µs a message in sends of 24 (a microbenchmark), most of kafkajs's 37% of the gateway's
 * CPU per single event and about half of its Kafka thread's during the batch door (issue 16).
 * This writes the same bytes into one buffer of the exact size. Produce v3 to v7 share one
 * request layout (kafkajs's v4 to v7 are v3's bytes), so only the encoding changes: the version,
 * the response and everything around the send stay kafkajs's. Compressed sends, and messages with
 * their own timestamps or with keys, values or headers that are neither text nor bytes, keep
 * kafkajs's encoding.
 */

type Bytes = string | Buffer;

/** Bytes of a string or buffer as sent; -1 for null, as Kafka encodes a missing key or value. */
function lengthOf(bytes: Bytes | null | undefined): number {
  if (bytes === null || bytes === undefined) return -1;
  return typeof bytes === 'string' ? Buffer.byteLength(bytes, 'utf8') : bytes.length;
}

/** Kafka's varints are zigzag-encoded, seven bits a byte. */
function varintSize(value: number): number {
  let rest = ((value << 1) ^ (value >> 31)) >>> 0;
  let size = 1;
  while (rest >= 0x80) {
    rest >>>= 7;
    size++;
  }
  return size;
}

function writeVarint(buffer: Buffer, offset: number, value: number): number {
  let rest = ((value << 1) ^ (value >> 31)) >>> 0;
  while (rest >= 0x80) {
    buffer[offset++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  buffer[offset++] = rest;
  return offset;
}

/** A varint length, then the bytes (none for null). */
function sizedBytesSize(length: number): number {
  return varintSize(length) + Math.max(length, 0);
}

function writeSizedBytes(buffer: Buffer, offset: number, bytes: Bytes | null | undefined, length: number): number {
  offset = writeVarint(buffer, offset, length);
  if (length <= 0 || bytes === null || bytes === undefined) return offset;
  if (typeof bytes === 'string') buffer.write(bytes, offset, length, 'utf8');
  else bytes.copy(buffer, offset);
  return offset + length;
}

/** A message's headers as kafkajs sends them: one header per value, a list giving several of one name. */
function headerPairs(message: ProduceMessage): Bytes[] {
  const pairs: Bytes[] = [];
  const headers = message.headers ?? {};
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (Array.isArray(value)) for (const one of value) pairs.push(name, one);
    else if (value !== undefined) pairs.push(name, value);
  }
  return pairs;
}

/** Eight tables of 256 (slicing-by-8): eight bytes a step, 1.1-1.8 ns a byte against 3.3 one byte at a time (700 bytes, microbenchmark). */
const crcTables = (() => {
  const tables = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    tables[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    for (let t = 1; t < 8; t++) {
      const previous = tables[(t - 1) * 256 + n]!;
      tables[t * 256 + n] = (previous >>> 8) ^ tables[previous & 0xff]!;
    }
  }
  return tables;
})();

/** CRC-32C (Castagnoli), which a record batch carries over everything after its own field. */
export function crc32c(buffer: Buffer, start: number, end: number): number {
  const t = crcTables;
  let crc = -1;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    const low = crc ^ (buffer[i]! | (buffer[i + 1]! << 8) | (buffer[i + 2]! << 16) | (buffer[i + 3]! << 24));
    crc =
      t[7 * 256 + (low & 0xff)]! ^
      t[6 * 256 + ((low >>> 8) & 0xff)]! ^
      t[5 * 256 + ((low >>> 16) & 0xff)]! ^
      t[4 * 256 + (low >>> 24)]! ^
      t[3 * 256 + buffer[i + 4]!]! ^
      t[2 * 256 + buffer[i + 5]!]! ^
      t[256 + buffer[i + 6]!]! ^
      t[buffer[i + 7]!]!;
  }
  for (; i < end; i++) crc = t[(crc ^ buffer[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

const isBytes = (value: unknown): boolean => typeof value === 'string' || Buffer.isBuffer(value);
const isBytesOrNone = (value: unknown): boolean => value === null || value === undefined || isBytes(value);

/** Whether a message is what encodeProduceRequest writes: no timestamp of its own, and text or bytes (or nothing) in every key, value and header. */
function isPlain(message: ProduceMessage): boolean {
  if ((message.timestamp !== null && message.timestamp !== undefined) || !isBytesOrNone(message.key) || !isBytesOrNone(message.value)) return false;
  const headers = message.headers ?? {};
  return Object.keys(headers).every((name) => {
    const value: unknown = headers[name];
    return value === undefined || isBytes(value) || (Array.isArray(value) && value.every(isBytes));
  });
}

/** Whether kafkajs's own encoding is needed: a compressed send, or any message that is not plain. */
function needsKafkajs(args: ProduceArguments): boolean {
  if ((args.compression ?? 0) !== 0) return true;
  return args.topicData.some(({ partitions }) => partitions.some(({ messages }) => !messages.every(isPlain)));
}

const batchHeaderBytes = 2 + 4 + 8 + 8 + 8 + 2 + 4 + 4; // attributes to the record count
const transactionalFlag = 16;
const recordBatchMagic = 2;

/**
 * The body of a produce request (v3 to v7), byte for byte what kafkajs's v3 request encodes for
 * uncompressed messages without timestamps, stamped with one `now`.
 */
export function encodeProduceRequest(args: ProduceArguments, now: number = Date.now()): Buffer {
  const transactionalId = args.transactionalId ?? null;
  const producerId = BigInt(args.producerId === undefined ? -1 : typeof args.producerId === 'object' ? args.producerId.value : args.producerId);
  // Sizes first: each message's record body and header pairs, each partition's records.
  const recordBodyBytes: number[] = [];
  const headersOf: Bytes[][] = [];
  const recordsBytesOf: number[] = [];
  let total = 2 + Math.max(lengthOf(transactionalId), 0) + 2 + 4 + 4;
  for (const { topic, partitions } of args.topicData) {
    total += 2 + lengthOf(topic) + 4;
    for (const { messages } of partitions) {
      let records = 0;
      messages.forEach((message, index) => {
        const pairs = headerPairs(message);
        let body = 1 + 1 + varintSize(index) + sizedBytesSize(lengthOf(message.key)) + sizedBytesSize(lengthOf(message.value)) + varintSize(pairs.length / 2);
        for (const part of pairs) body += sizedBytesSize(lengthOf(part));
        headersOf.push(pairs);
        recordBodyBytes.push(body);
        records += varintSize(body) + body;
      });
      recordsBytesOf.push(records);
      total += 4 + 4 + 8 + 4 + 4 + 1 + 4 + batchHeaderBytes + records;
    }
  }

  const buffer = Buffer.allocUnsafe(total);
  let offset = 0;
  let messageNumber = 0;
  let partitionNumber = 0;
  offset = writeString(buffer, offset, transactionalId);
  offset = buffer.writeInt16BE(args.acks, offset);
  offset = buffer.writeInt32BE(args.timeout, offset);
  offset = buffer.writeInt32BE(args.topicData.length, offset);
  for (const { topic, partitions } of args.topicData) {
    offset = writeString(buffer, offset, topic);
    offset = buffer.writeInt32BE(partitions.length, offset);
    for (const { partition, firstSequence, messages } of partitions) {
      const batchBytes = 4 + 1 + 4 + batchHeaderBytes + recordsBytesOf[partitionNumber++]!;
      offset = buffer.writeInt32BE(partition, offset);
      offset = buffer.writeInt32BE(8 + 4 + batchBytes, offset);
      offset = buffer.writeBigInt64BE(0n, offset); // first offset
      offset = buffer.writeInt32BE(batchBytes, offset);
      offset = buffer.writeInt32BE(0, offset); // partition leader epoch
      offset = buffer.writeInt8(recordBatchMagic, offset);
      const crcAt = offset;
      offset += 4;
      const checked = offset;
      offset = buffer.writeInt16BE(transactionalId === null ? 0 : transactionalFlag, offset);
      offset = buffer.writeInt32BE(messages.length - 1, offset);
      offset = buffer.writeBigInt64BE(BigInt(now), offset); // first timestamp
      offset = buffer.writeBigInt64BE(BigInt(now), offset); // max timestamp
      offset = buffer.writeBigInt64BE(producerId, offset);
      offset = buffer.writeInt16BE(args.producerEpoch ?? 0, offset);
      offset = buffer.writeInt32BE(firstSequence ?? 0, offset);
      offset = buffer.writeInt32BE(messages.length, offset);
      messages.forEach((message, index) => {
        const pairs = headersOf[messageNumber]!;
        offset = writeVarint(buffer, offset, recordBodyBytes[messageNumber++]!);
        buffer[offset++] = 0; // attributes
        buffer[offset++] = 0; // timestamp delta: every record has the batch's timestamp
        offset = writeVarint(buffer, offset, index);
        offset = writeSizedBytes(buffer, offset, message.key, lengthOf(message.key));
        offset = writeSizedBytes(buffer, offset, message.value, lengthOf(message.value));
        offset = writeVarint(buffer, offset, pairs.length / 2);
        for (const part of pairs) offset = writeSizedBytes(buffer, offset, part, lengthOf(part));
      });
      buffer.writeUInt32BE(crc32c(buffer, checked, offset), crcAt);
    }
  }
  return buffer;
}

/** kafkajs's nullable string: a 16-bit length (-1 for null), then UTF-8. */
function writeString(buffer: Buffer, offset: number, value: string | null): number {
  if (value === null) return buffer.writeInt16BE(-1, offset);
  const length = Buffer.byteLength(value, 'utf8');
  offset = buffer.writeInt16BE(length, offset);
  buffer.write(value, offset, length, 'utf8');
  return offset + length;
}

/** What kafkajs's request framing takes from an encoder: the bytes, and a buffer to tell it by. */
function asEncoded(bytes: Buffer): { buf: Buffer; buffer: Buffer; size(): number } {
  return { buf: bytes, buffer: bytes, size: () => bytes.length };
}

let installed = false;

/** Makes kafkajs encode its produce requests (v3 and later) with encodeProduceRequest. Once per process; later calls do nothing. */
export function installProduceEncoder(): void {
  if (installed) return;
  installed = true;
  const kafkajsProtocol = produceRequests.protocol;
  produceRequests.protocol = ({ version }) => {
    const kafkajsRequest = kafkajsProtocol({ version });
    if (version < 3) return kafkajsRequest;
    return (args): ProduceRequest => {
      const built = kafkajsRequest(args);
      if (needsKafkajs(args)) return built;
      return { ...built, request: { ...built.request, encode: () => Promise.resolve(asEncoded(encodeProduceRequest(args))) } };
    };
  };
}
