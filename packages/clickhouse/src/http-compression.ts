/**
 * The compression of ClickHouse's HTTP interface, both ways:
 * - HTTP Content-Encoding (gzip, deflate, br, zstd, lz4) of answers (enable_http_compression with
 *   Accept-Encoding) and of request bodies;
 * - ClickHouse's own compressed blocks: `compress=1` for the answer, `decompress=1` for the body.
 *   Each block is a 16-byte CityHash128 (v1.0.2) of the rest, a method byte (0x82 LZ4, 0x90 ZSTD,
 *   0x02 none), the block's size with its 9-byte header and the data's uncompressed size (both
 *   4 bytes, little-endian), then the data (an LZ4 block, not a frame).
 * As ClickHouse layers them, the blocks are inside the HTTP encoding.
 *
 * zlib runs on Node's thread pool, lz4 (lz4-napi) and zstd compression (@toondepauw/node-zstd)
 * natively on it too, so a large answer does not stall the event loop the worker ingests on.
 * zstd bodies are decoded by fzstd, which streams: their output is counted block by block against
 * the limit. lz4 bodies are decoded a frame at a time, so past the limit by at most one frame's
 * output (LZ4 expands at most about 255 times). gzip, deflate and br stop at the limit.
 */
import { promisify } from 'node:util';
import { brotliCompress, brotliDecompress, constants as zlibConstants, deflate, gunzip, gzip, inflate } from 'node:zlib';
import { Encoder as ZstdEncoder } from '@toondepauw/node-zstd';
import { Decompress as ZstdStream } from 'fzstd';
import { compress as lz4Block, compressFrame as lz4Frame, decompressFrame as lz4Unframe, uncompressSync as lz4Unblock } from 'lz4-napi';
import { errorMessage } from '@sluice/core';
import { cityHash128Bytes } from './cityhash';

/** What ClickHouse sends for a body it cannot take: the status, and its message with its code. */
export interface BodyRefusal {
  status: number;
  message: string;
}

/** ClickHouse's http_zlib_compression_level default, which it uses for every HTTP encoding. */
const httpCompressionLevel = 3;

const [gzipAsync, deflateAsync, brotliAsync] = [promisify(gzip), promisify(deflate), promisify(brotliCompress)];
const answerEncoders = {
  zstd: (data: Buffer) => new ZstdEncoder(httpCompressionLevel).encode(data),
  br: (data: Buffer) => brotliAsync(data, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: httpCompressionLevel, [zlibConstants.BROTLI_PARAM_SIZE_HINT]: data.length } }),
  // One frame: clickhouse-connect's whole-answer reader and JDBC's (commons-compress) read only the first.
  lz4: (data: Buffer) => lz4Frame(data),
  gzip: (data: Buffer) => gzipAsync(data, { level: httpCompressionLevel }),
  deflate: (data: Buffer) => deflateAsync(data, { level: httpCompressionLevel }),
} as const satisfies Record<string, (data: Buffer) => Promise<Buffer>>;
export type AnswerEncoding = keyof typeof answerEncoders;

/** ClickHouse's order of preference (chooseHTTPCompressionMethod): zstd, br, lz4, gzip, deflate. */
const preferredEncodings = Object.keys(answerEncoders) as AnswerEncoding[];

/** The encoding ClickHouse would pick from Accept-Encoding, leaving out the ones given q=0. */
export function answerEncoding(acceptEncoding: string | undefined): AnswerEncoding | undefined {
  const accepted = new Set(
    (acceptEncoding ?? '')
      .split(',')
      .map((part) => part.trim().toLowerCase().split(';'))
      .filter(([, quality]) => quality === undefined || !/^\s*q\s*=\s*0(\.0*)?\s*$/.test(quality))
      .map(([name]) => name ?? ''),
  );
  return preferredEncodings.find((name) => accepted.has(name));
}

export function encodeAnswer(output: Buffer, encoding: AnswerEncoding): Promise<Buffer> {
  return answerEncoders[encoding](output);
}

const blockMethod = { lz4: 0x82, zstd: 0x90, none: 0x02 } as const;
const checksumSize = 16;
/** Method byte, compressed size with this header, uncompressed size. */
const blockHeaderSize = 9;
/** ClickHouse's DBMS_DEFAULT_BUFFER_SIZE: a compressed block holds at most this much of the answer. */
const answerBlockSize = 1024 * 1024;
/** ClickHouse's DBMS_MAX_COMPRESSED_SIZE: a larger block is taken for corrupted data. */
const maxBlockSize = 0x40000000;

/** The answer as ClickHouse's compressed blocks (compress=1), LZ4 as ClickHouse's default codec. */
export async function encodeClickHouseBlocks(output: Buffer): Promise<Buffer> {
  const blocks: Buffer[] = [];
  for (let at = 0; at < output.length; at += answerBlockSize) {
    const data = output.subarray(at, at + answerBlockSize);
    // lz4-napi puts the uncompressed size in front of the block; ClickHouse has it in its header.
    const compressed = (await lz4Block(data)).subarray(4);
    const header = Buffer.alloc(blockHeaderSize);
    header.writeUInt8(blockMethod.lz4, 0);
    header.writeUInt32LE(blockHeaderSize + compressed.length, 1);
    header.writeUInt32LE(data.length, 5);
    const hashed = Buffer.concat([header, compressed]);
    blocks.push(cityHash128Bytes(hashed), hashed);
  }
  return Buffer.concat(blocks);
}

/**
 * The request body as ClickHouse reads it: the HTTP Content-Encoding undone, then ClickHouse's
 * blocks when `decompress`; or why it cannot be read. The decoded body may hold `limit` bytes.
 * A body that does not decode is refused, never run as it came: the chDB front once took an lz4
 * insert body (clickhouse-connect's default) for an empty query tail, answered 200, stored nothing.
 */
export async function decodeBody(raw: Buffer, contentEncoding: string | undefined, decompress: boolean, limit: number): Promise<Buffer | BodyRefusal> {
  // No body (a GET), whatever its headers say: nothing to decode.
  if (raw.length === 0) return raw;
  const encoding = (contentEncoding ?? '').trim().toLowerCase();
  let body: Buffer | BodyRefusal = raw;
  if (encoding !== '' && encoding !== 'identity') {
    const decoder = bodyDecoders[encoding];
    if (decoder === undefined) {
      return { status: 415, message: `Code: 89. DB::Exception: Unknown Content-Encoding ${JSON.stringify(encoding)}: send the body uncompressed or with gzip, deflate, br, zstd or lz4. (UNKNOWN_COMPRESSION_METHOD)` };
    }
    body = await decoder(raw, limit);
  }
  if ('status' in body || !decompress) return body;
  return decodeClickHouseBlocks(body, limit);
}

/** Too much output: ClickHouse has no such limit of its own, so it gets no code of its own. */
function tooLarge(limit: number): BodyRefusal {
  return { status: 413, message: `Code: 0. DB::Exception: The request body is larger than ${limit} bytes once decompressed. (UNKNOWN)` };
}

function undecodable(code: number, name: string, what: string): BodyRefusal {
  return { status: 400, message: `Code: ${code}. DB::Exception: ${what}. (${name})` };
}

/** zlib refuses past maxOutputLength with this code. */
const zlibTooLarge = 'ERR_BUFFER_TOO_LARGE';

function zlibDecoder(decode: (raw: Buffer, options: { maxOutputLength?: number }) => Promise<Buffer>, code: number, name: string, label: string) {
  return async (raw: Buffer, limit: number): Promise<Buffer | BodyRefusal> => {
    try {
      return await decode(raw, Number.isFinite(limit) ? { maxOutputLength: limit } : {});
    } catch (error) {
      if ((error as { code?: unknown }).code === zlibTooLarge) return tooLarge(limit);
      return undecodable(code, name, `The request body is not valid ${label}: ${errorMessage(error)}`);
    }
  };
}

const gunzipBody = zlibDecoder(promisify(gunzip), 354, 'ZLIB_INFLATE_FAILED', 'gzip');
const bodyDecoders: Record<string, (raw: Buffer, limit: number) => Promise<Buffer | BodyRefusal>> = {
  gzip: gunzipBody,
  'x-gzip': gunzipBody,
  deflate: zlibDecoder(promisify(inflate), 354, 'ZLIB_INFLATE_FAILED', 'deflate'),
  br: zlibDecoder(promisify(brotliDecompress), 448, 'BROTLI_READ_FAILED', 'br'),
  zstd: (raw, limit) => Promise.resolve(decodeZstd(raw, limit)),
  lz4: decodeLz4Frames,
};

/** A fault in compressed data: where it is and what is wrong. */
class Malformed extends Error {}

function need(data: Buffer, end: number, what: string): void {
  if (end > data.length) throw new Malformed(`${what} is cut short: ${end - data.length} more bytes were expected`);
}

/** Skippable frames (LZ4's and zstd's share them) carry nothing to decode. */
function skippableFrameEnd(data: Buffer, at: number): number | undefined {
  need(data, at + 4, 'A frame');
  if ((data.readUInt32LE(at) & 0xfffffff0) !== 0x184d2a50) return undefined;
  need(data, at + 8, 'A skippable frame');
  const end = at + 8 + data.readUInt32LE(at + 4);
  need(data, end, 'A skippable frame');
  return end;
}

interface Frame {
  start: number;
  end: number;
  /** The size of the frame's content, when its header says. */
  contentSize: number | undefined;
}

/** A frame format that LZ4's and zstd's walks share: a magic number, then a frame read from its header. */
interface FrameFormat {
  name: string;
  magic: number;
  /** The magic number as its bytes appear, for the refusal. */
  magicBytes: string;
  /** Where the frame that starts at `start` ends, checked as far as its header and blocks go. */
  frameAt(data: Buffer, start: number): Omit<Frame, 'start'>;
}

/** The frames of a body, skippable frames left out. */
function framesOf(data: Buffer, format: FrameFormat): Frame[] {
  const frames: Frame[] = [];
  for (let at = 0; at < data.length; ) {
    const skipped = skippableFrameEnd(data, at);
    if (skipped !== undefined) {
      at = skipped;
      continue;
    }
    if (data.readUInt32LE(at) !== format.magic) throw new Malformed(`No ${format.name} frame at byte ${at} (its magic number is ${format.magicBytes})`);
    const frame = { start: at, ...format.frameAt(data, at) };
    frames.push(frame);
    at = frame.end;
  }
  return frames;
}

const lz4BlockMaxSizes: Record<number, number> = { 4: 64 * 1024, 5: 256 * 1024, 6: 1024 * 1024, 7: 4 * 1024 * 1024 };

/**
 * LZ4 frames, found by their headers and block sizes: lz4-napi decodes one frame and ignores the
 * rest (clickhouse-connect sends a frame per block), and takes a cut frame for a shorter one.
 */
const lz4Format: FrameFormat = {
  name: 'LZ4',
  magic: 0x184d2204,
  magicBytes: '04 22 4D 18',
  frameAt(data, start) {
    let at = start;
    need(data, at + 7, 'An LZ4 frame header');
    const flags = data.readUInt8(at + 4);
    const blockMaxSize = lz4BlockMaxSizes[(data.readUInt8(at + 5) >> 4) & 7];
    if (flags >> 6 !== 1 || (flags & 2) !== 0 || blockMaxSize === undefined) throw new Malformed(`The LZ4 frame header at byte ${at} is not one of version 1`);
    const blockChecksums = (flags & 0x10) !== 0;
    const hasContentSize = (flags & 0x08) !== 0;
    const contentChecksum = (flags & 0x04) !== 0;
    at += 6;
    let contentSize: number | undefined;
    if (hasContentSize) {
      need(data, at + 8, 'An LZ4 frame header');
      contentSize = Number(data.readBigUInt64LE(at));
      at += 8;
    }
    if ((flags & 1) !== 0) at += 4;
    at += 1;
    for (;;) {
      need(data, at + 4, 'An LZ4 frame');
      const blockSize = data.readUInt32LE(at) & 0x7fffffff;
      at += 4;
      if (blockSize === 0) break;
      if (blockSize > blockMaxSize) throw new Malformed(`An LZ4 block of ${blockSize} bytes is larger than its frame allows (${blockMaxSize})`);
      at += blockSize + (blockChecksums ? 4 : 0);
    }
    if (contentChecksum) at += 4;
    need(data, at, 'An LZ4 frame');
    return { end: at, contentSize };
  },
};

async function decodeLz4Frames(raw: Buffer, limit: number): Promise<Buffer | BodyRefusal> {
  const decoded: Buffer[] = [];
  let total = 0;
  try {
    for (const frame of framesOf(raw, lz4Format)) {
      if (frame.contentSize !== undefined && total + frame.contentSize > limit) return tooLarge(limit);
      const content = await lz4Unframe(raw.subarray(frame.start, frame.end));
      if (frame.contentSize !== undefined && content.length !== frame.contentSize) throw new Malformed(`An LZ4 frame holds ${content.length} bytes where its header says ${frame.contentSize}`);
      total += content.length;
      if (total > limit) return tooLarge(limit);
      decoded.push(content);
    }
  } catch (error) {
    return undecodable(618, 'LZ4_DECODER_FAILED', `The request body is not valid lz4 (LZ4 frames): ${errorMessage(error)}`);
  }
  return Buffer.concat(decoded, total);
}

/** libzstd's default limit of a decoder's window (ZSTD_WINDOWLOG_LIMIT_DEFAULT), as ClickHouse's. */
const zstdMaxWindow = 2 ** 27;
const zstdMaxBlockSize = 128 * 1024;

/**
 * zstd frames, checked before fzstd allocates a frame's window (its header says how large) and
 * decodes it.
 */
const zstdFormat: FrameFormat = {
  name: 'zstd',
  magic: 0xfd2fb528,
  magicBytes: '28 B5 2F FD',
  frameAt(data, start) {
    let at = start;
    need(data, at + 6, 'A zstd frame header');
    const descriptor = data.readUInt8(at + 4);
    at += 5;
    const singleSegment = (descriptor & 0x20) !== 0;
    if ((descriptor & 0x08) !== 0) throw new Malformed('A zstd frame header has its reserved bit set');
    if ((descriptor & 3) !== 0) throw new Malformed('A zstd frame needs a dictionary');
    let window = 0;
    if (!singleSegment) {
      const windowDescriptor = data.readUInt8(at);
      const base = 2 ** (10 + (windowDescriptor >> 3));
      window = base + (base / 8) * (windowDescriptor & 7);
      at += 1;
    }
    const contentSizeBytes = [singleSegment ? 1 : 0, 2, 4, 8][descriptor >> 6] ?? 0;
    need(data, at + contentSizeBytes, 'A zstd frame header');
    let contentSize: number | undefined;
    if (contentSizeBytes > 0) {
      contentSize = contentSizeBytes === 8 ? Number(data.readBigUInt64LE(at)) : data.readUIntLE(at, contentSizeBytes) + (contentSizeBytes === 2 ? 256 : 0);
      at += contentSizeBytes;
    }
    if (singleSegment) window = contentSize ?? 0;
    if (window > zstdMaxWindow) throw new Malformed(`A zstd frame needs a window of ${window} bytes, more than ${zstdMaxWindow}`);
    for (let last = false; !last; ) {
      need(data, at + 3, 'A zstd frame');
      const blockHeader = data.readUIntLE(at, 3);
      last = (blockHeader & 1) === 1;
      const type = (blockHeader >> 1) & 3;
      const blockSize = blockHeader >>> 3;
      if (type === 3) throw new Malformed('A zstd block has the reserved type');
      if (blockSize > zstdMaxBlockSize) throw new Malformed(`A zstd block of ${blockSize} bytes is larger than 128 KiB`);
      at += 3 + (type === 1 ? 1 : blockSize);
    }
    if ((descriptor & 0x04) !== 0) at += 4;
    need(data, at, 'A zstd frame');
    return { end: at, contentSize };
  },
};

/** The content of zstd frames; output past `limit` is refused as it arrives. */
function zstdContent(raw: Buffer, limit: number): Buffer {
  const decoded: Uint8Array[] = [];
  let total = 0;
  for (const frame of framesOf(raw, zstdFormat)) {
    if (frame.contentSize !== undefined && total + frame.contentSize > limit) throw new OutputPastLimit();
    const frameStart = total;
    const stream = new ZstdStream((chunk) => {
      total += chunk.length;
      if (total > limit) throw new OutputPastLimit();
      decoded.push(chunk);
    });
    stream.push(raw.subarray(frame.start, frame.end), true);
    if (frame.contentSize !== undefined && total - frameStart !== frame.contentSize) throw new Malformed(`A zstd frame holds ${total - frameStart} bytes where its header says ${frame.contentSize}`);
  }
  return Buffer.concat(decoded, total);
}

function decodeZstd(raw: Buffer, limit: number): Buffer | BodyRefusal {
  try {
    return zstdContent(raw, limit);
  } catch (error) {
    if (error instanceof OutputPastLimit) return tooLarge(limit);
    return undecodable(561, 'ZSTD_DECODER_FAILED', `The request body is not valid zstd: ${errorMessage(error)}`);
  }
}

class OutputPastLimit extends Error {}

/** ClickHouse's compressed blocks (decompress=1) decoded, each checked against its checksum. */
function decodeClickHouseBlocks(data: Buffer, limit: number): Buffer | BodyRefusal {
  const decoded: Buffer[] = [];
  let total = 0;
  for (let at = 0; at < data.length; ) {
    const headerEnd = at + checksumSize + blockHeaderSize;
    if (headerEnd > data.length) return undecodable(33, 'CANNOT_READ_ALL_DATA', `Cannot read all data. Bytes read: ${data.length - at}. Bytes expected: ${checksumSize + blockHeaderSize}`);
    const method = data.readUInt8(at + checksumSize);
    const sizeWithHeader = data.readUInt32LE(at + checksumSize + 1);
    const uncompressedSize = data.readUInt32LE(at + checksumSize + 5);
    if (method !== blockMethod.lz4 && method !== blockMethod.zstd && method !== blockMethod.none) {
      return undecodable(89, 'UNKNOWN_COMPRESSION_METHOD', `Unknown compression method. Method byte: 0x${method.toString(16).padStart(2, '0')} (this interface reads 0x82 LZ4, 0x90 ZSTD and 0x02 none)`);
    }
    if (sizeWithHeader < blockHeaderSize) return undecodable(246, 'CORRUPTED_DATA', `Too small size_compressed_without_checksum: ${sizeWithHeader}. Most likely corrupted data`);
    if (sizeWithHeader > maxBlockSize || uncompressedSize > maxBlockSize) return undecodable(39, 'TOO_LARGE_SIZE_COMPRESSED', `Too large size_compressed_without_checksum: ${sizeWithHeader}. Most likely corrupted data`);
    const blockEnd = at + checksumSize + sizeWithHeader;
    if (blockEnd > data.length) return undecodable(33, 'CANNOT_READ_ALL_DATA', `Cannot read all data. Bytes read: ${data.length - at - checksumSize}. Bytes expected: ${sizeWithHeader}`);
    const hashed = data.subarray(at + checksumSize, blockEnd);
    const checksum = cityHash128Bytes(hashed);
    if (!checksum.equals(data.subarray(at, at + checksumSize))) {
      return undecodable(40, 'CHECKSUM_DOESNT_MATCH', `Checksum doesn't match: corrupted data. Reference: ${data.subarray(at, at + checksumSize).toString('hex')}. Actual: ${checksum.toString('hex')}. Size of compressed block: ${sizeWithHeader}`);
    }
    if (total + uncompressedSize > limit) return tooLarge(limit);
    const block = decodeBlock(method, hashed.subarray(blockHeaderSize), uncompressedSize);
    if (!(block instanceof Buffer)) return block;
    decoded.push(block);
    total += block.length;
    at = blockEnd;
  }
  return Buffer.concat(decoded, total);
}

function decodeBlock(method: number, data: Buffer, uncompressedSize: number): Buffer | BodyRefusal {
  const cannotDecompress = (what: string): BodyRefusal => undecodable(271, 'CANNOT_DECOMPRESS', `Cannot decompress ${what}`);
  if (method === blockMethod.none) return data.length === uncompressedSize ? data : cannotDecompress(`a block stored uncompressed: it holds ${data.length} bytes where its header says ${uncompressedSize}`);
  if (method === blockMethod.zstd) {
    try {
      const block = zstdContent(data, uncompressedSize);
      return block.length === uncompressedSize ? block : cannotDecompress(`ZSTD-encoded data: it holds ${block.length} bytes where its header says ${uncompressedSize}`);
    } catch (error) {
      return cannotDecompress(`ZSTD-encoded data: ${error instanceof OutputPastLimit ? `it holds more than the ${uncompressedSize} bytes its header says` : errorMessage(error)}`);
    }
  }
  try {
    // lz4-napi takes the uncompressed size in front of the block.
    const sized = Buffer.alloc(4 + data.length);
    sized.writeUInt32LE(uncompressedSize, 0);
    data.copy(sized, 4);
    const block = lz4Unblock(sized);
    return block.length === uncompressedSize ? block : cannotDecompress(`LZ4-encoded data: it holds ${block.length} bytes where its header says ${uncompressedSize}`);
  } catch (error) {
    return cannotDecompress(`LZ4-encoded data: ${errorMessage(error)}`);
  }
}
