import { brotliDecompressSync, deflateSync, gunzipSync, gzipSync, inflateSync } from 'node:zlib';
import { Decoder as ZstdDecoder, Encoder as ZstdEncoder } from '@toondepauw/node-zstd';
import { compressFrameSync as lz4Frame, compressSync as lz4Block, decompressFrameSync as lz4Unframe } from 'lz4-napi';
import { cityHash128Bytes } from './cityhash';
import { answerEncoding, decodeBody, encodeAnswer, encodeClickHouseBlocks, type BodyRefusal } from './http-compression';

const text = Buffer.from(Array.from({ length: 5_000 }, (_, i) => `{"id":"${i}","event_type":"search","n":${i * 7}}\n`).join(''));

function flipBit(bytes: Buffer, at: number): void {
  bytes.writeUInt8(bytes.readUInt8(at) ^ 0x01, at);
}

/** Compared as text: Jest's deep equality walks a Buffer byte by byte, which takes seconds. */
function expectBytes(actual: Buffer, expected: Buffer): void {
  expect(actual.length).toBe(expected.length);
  expect(actual.toString('latin1')).toBe(expected.toString('latin1'));
}

async function decoded(raw: Buffer, contentEncoding: string | undefined, decompress = false, limit = Infinity): Promise<Buffer> {
  const body = await decodeBody(raw, contentEncoding, decompress, limit);
  if ('status' in body) throw new Error(`refused: ${body.status} ${body.message}`);
  return body;
}

async function refusal(raw: Buffer, contentEncoding: string | undefined, decompress = false, limit = Infinity): Promise<BodyRefusal> {
  const body = await decodeBody(raw, contentEncoding, decompress, limit);
  if (!('status' in body)) throw new Error(`decoded ${body.length} bytes where a refusal was expected`);
  return body;
}

/** A zstd frame as a streaming compressor writes one: no content size, then raw and RLE blocks. */
function handMadeZstdFrame(raw: Buffer, rle: { byte: number; count: number }): Buffer {
  const blockHeader = (size: number, type: number, last: boolean): Buffer => {
    const header = Buffer.alloc(3);
    header.writeUIntLE((size << 3) | (type << 1) | (last ? 1 : 0), 0, 3);
    return header;
  };
  // Frame header descriptor 0: no content size, not single-segment, no checksum; window 1 KiB.
  return Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00]), blockHeader(raw.length, 0, false), raw, blockHeader(rle.count, 1, true), Buffer.from([rle.byte])]);
}

/** One of ClickHouse's compressed blocks, its checksum computed here. */
function clickHouseBlock(method: number, data: Buffer, uncompressedSize: number): Buffer {
  const header = Buffer.alloc(9);
  header.writeUInt8(method, 0);
  header.writeUInt32LE(9 + data.length, 1);
  header.writeUInt32LE(uncompressedSize, 5);
  const hashed = Buffer.concat([header, data]);
  return Buffer.concat([cityHash128Bytes(hashed), hashed]);
}

describe('the answer encoding ClickHouse picks from Accept-Encoding', () => {
  test.each([
    // clickhouse-connect's default: ClickHouse prefers zstd, then br, lz4, gzip, deflate.
    ['lz4,zstd,br,gzip,deflate', 'zstd'],
    ['gzip, br', 'br'],
    ['gzip,deflate', 'gzip'],
    ['lz4', 'lz4'],
    ['zstd;q=0, gzip', 'gzip'],
    ['GZIP', 'gzip'],
    ['identity', undefined],
    [undefined, undefined],
  ])('%s: %s', (header, expected) => {
    expect(answerEncoding(header)).toBe(expected);
  });
});

describe('answers', () => {
  test('every encoding comes back as the text, by a decoder of its own', async () => {
    expectBytes(gunzipSync(await encodeAnswer(text, 'gzip')), text);
    expectBytes(inflateSync(await encodeAnswer(text, 'deflate')), text);
    expectBytes(brotliDecompressSync(await encodeAnswer(text, 'br')), text);
    expectBytes(new ZstdDecoder().decodeSync(await encodeAnswer(text, 'zstd')), text);
    expectBytes(lz4Unframe(await encodeAnswer(text, 'lz4')), text);
  });

  test('lz4 and zstd answers are one frame each, which streaming readers need', async () => {
    const lz4 = await encodeAnswer(text, 'lz4');
    // Frame magic numbers: a second one would mean a second frame.
    expect(lz4.indexOf(Buffer.from([0x04, 0x22, 0x4d, 0x18]), 1)).toBe(-1);
    expectBytes(await decoded(lz4, 'lz4'), text);
    const zstd = await encodeAnswer(Buffer.concat([text, text, text]), 'zstd');
    expect(zstd.indexOf(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), 1)).toBe(-1);
    expectBytes(await decoded(zstd, 'zstd'), Buffer.concat([text, text, text]));
  });

  test('compress=1: 1 MiB blocks, each LZ4 behind a checksummed header', async () => {
    const answer = Buffer.concat(Array.from({ length: 12 }, () => text)); // ~2.6 MB: three blocks
    const blocks = await encodeClickHouseBlocks(answer);
    const sizes: number[] = [];
    for (let at = 0; at < blocks.length; ) {
      expect(blocks.readUInt8(at + 16)).toBe(0x82);
      const sizeWithHeader = blocks.readUInt32LE(at + 17);
      expect(cityHash128Bytes(blocks.subarray(at + 16, at + 16 + sizeWithHeader))).toEqual(blocks.subarray(at, at + 16));
      sizes.push(blocks.readUInt32LE(at + 21));
      at += 16 + sizeWithHeader;
    }
    expect(sizes).toEqual([1024 * 1024, 1024 * 1024, answer.length - 2 * 1024 * 1024]);
    expectBytes(await decoded(blocks, undefined, true), answer);
    expect(await encodeClickHouseBlocks(Buffer.alloc(0))).toEqual(Buffer.alloc(0));
  });
});

describe('request bodies', () => {
  test('every Content-Encoding is undone', async () => {
    expectBytes(await decoded(gzipSync(text), 'gzip'), text);
    expectBytes(await decoded(gzipSync(text), 'x-gzip'), text);
    expectBytes(await decoded(deflateSync(text), 'deflate'), text);
    expectBytes(await decoded(await encodeAnswer(text, 'br'), 'br'), text);
    expectBytes(await decoded(new ZstdEncoder(3).encodeSync(text), 'zstd'), text);
    expectBytes(await decoded(lz4Frame(text), 'LZ4'), text);
    expectBytes(await decoded(text, undefined), text);
    expectBytes(await decoded(text, 'identity'), text);
    // A GET has no body, whatever Content-Encoding a client sets on all its requests.
    expect(await decoded(Buffer.alloc(0), 'gzip', true)).toHaveLength(0);
  });

  test('concatenated frames are all read (clickhouse-connect sends an lz4 frame per block)', async () => {
    const [first, second] = [text.subarray(0, 1000), text.subarray(1000)];
    expectBytes(await decoded(Buffer.concat([lz4Frame(first), lz4Frame(second)]), 'lz4'), text);
    expectBytes(await decoded(Buffer.concat([new ZstdEncoder(1).encodeSync(first), new ZstdEncoder(1).encodeSync(second)]), 'zstd'), text);
  });

  test('a zstd frame without a content size, with raw and RLE blocks, is read', async () => {
    const frame = handMadeZstdFrame(Buffer.from('abc'), { byte: 0x78, count: 5 });
    expect((await decoded(frame, 'zstd')).toString()).toBe('abcxxxxx');
  });

  test('an encoding this interface does not know gets 415 with UNKNOWN_COMPRESSION_METHOD', async () => {
    expect(await refusal(text, 'snappy')).toEqual({ status: 415, message: expect.stringMatching(/^Code: 89\. DB::Exception: Unknown Content-Encoding "snappy"/) as unknown });
  });

  test.each([
    ['gzip', 'not gzip', 354, 'ZLIB_INFLATE_FAILED'],
    ['br', 'not brotli at all', 448, 'BROTLI_READ_FAILED'],
    // The magic number then plain text: what the old front took for a query tail and answered 200.
    ['lz4', Buffer.concat([Buffer.from([0x04, 0x22, 0x4d, 0x18]), Buffer.from('{"id":"lz4"}\n')]), 618, 'LZ4_DECODER_FAILED'],
    ['lz4', Buffer.from([0x04, 0x22, 0x4d, 0x18]), 618, 'LZ4_DECODER_FAILED'],
    ['lz4', lz4Frame(text).subarray(0, 500), 618, 'LZ4_DECODER_FAILED'],
    ['lz4', Buffer.concat([lz4Frame(text), Buffer.from('trailing')]), 618, 'LZ4_DECODER_FAILED'],
    ['zstd', new ZstdEncoder(3).encodeSync(text).subarray(0, 300), 561, 'ZSTD_DECODER_FAILED'],
    ['zstd', 'not zstd', 561, 'ZSTD_DECODER_FAILED'],
    // A header that asks for a 1 GiB window (fzstd would allocate it): refused before anything is.
    ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0xa0, 0x01, 0x00, 0x00]), 561, 'ZSTD_DECODER_FAILED'],
  ])('a body that is not valid %s gets 400 with its code', async (encoding, body, code, name) => {
    const refused = await refusal(Buffer.from(body), encoding);
    expect(refused.status).toBe(400);
    expect(refused.message).toMatch(new RegExp(`^Code: ${code}\\. DB::Exception: .*\\(${name}\\)$`));
  });

  test('a corrupted lz4 frame with checksums is refused, not decoded into other bytes', async () => {
    const frame = Buffer.from(lz4Frame(text, { blockChecksums: true, contentChecksum: true }));
    flipBit(frame, frame.length - 40);
    expect((await refusal(frame, 'lz4')).status).toBe(400);
  });

  test('a body that decodes past the limit gets 413, whatever its encoding', async () => {
    const zeros = Buffer.alloc(4 * 1024 * 1024);
    for (const [encoding, body] of [
      ['gzip', gzipSync(zeros)],
      ['br', await encodeAnswer(zeros, 'br')],
      ['zstd', new ZstdEncoder(3).encodeSync(zeros)],
      ['zstd', handMadeZstdFrame(Buffer.alloc(0), { byte: 0, count: 128 * 1024 })],
      ['lz4', lz4Frame(zeros)],
    ] as const) {
      const refused = await refusal(body, encoding, false, 64 * 1024);
      expect(refused).toEqual({ status: 413, message: 'Code: 0. DB::Exception: The request body is larger than 65536 bytes once decompressed. (UNKNOWN)' });
    }
    expect((await refusal(await encodeClickHouseBlocks(zeros), undefined, true, 64 * 1024)).status).toBe(413);
  });
});

describe('decompress=1 bodies: ClickHouse compressed blocks', () => {
  const lz4Data = lz4Block(text).subarray(4);

  test('LZ4, ZSTD and uncompressed blocks follow one another', async () => {
    const body = Buffer.concat([
      clickHouseBlock(0x82, lz4Data, text.length),
      clickHouseBlock(0x90, new ZstdEncoder(3).encodeSync(text), text.length),
      clickHouseBlock(0x02, Buffer.from('tail'), 4),
      // An empty block, as JDBC's client writes when it flushes nothing.
      clickHouseBlock(0x82, lz4Block(Buffer.alloc(0)).subarray(4), 0),
    ]);
    expectBytes(await decoded(body, undefined, true), Buffer.concat([text, text, Buffer.from('tail')]));
  });

  test('inside an HTTP Content-Encoding, as ClickHouse layers them', async () => {
    expectBytes(await decoded(gzipSync(clickHouseBlock(0x82, lz4Data, text.length)), 'gzip', true), text);
  });

  test('a checksum that does not match is CHECKSUM_DOESNT_MATCH (40), a 400', async () => {
    const block = clickHouseBlock(0x82, lz4Data, text.length);
    const flippedData = Buffer.from(block);
    flipBit(flippedData, 100);
    const flippedChecksum = Buffer.from(block);
    flipBit(flippedChecksum, 3);
    for (const body of [flippedData, flippedChecksum]) {
      const refused = await refusal(body, undefined, true);
      expect(refused.status).toBe(400);
      expect(refused.message).toMatch(/^Code: 40\. DB::Exception: Checksum doesn't match: corrupted data\. Reference: [0-9a-f]{32}\. Actual: [0-9a-f]{32}\. Size of compressed block: \d+\. \(CHECKSUM_DOESNT_MATCH\)$/);
    }
  });

  test.each([
    ['an unknown method', () => clickHouseBlock(0x91, Buffer.from('x'), 1), 89, 'UNKNOWN_COMPRESSION_METHOD'],
    ['a cut header', () => clickHouseBlock(0x82, lz4Data, text.length).subarray(0, 20), 33, 'CANNOT_READ_ALL_DATA'],
    ['a cut block', () => clickHouseBlock(0x82, lz4Data, text.length).subarray(0, 200), 33, 'CANNOT_READ_ALL_DATA'],
    ['an uncompressed size that is wrong', () => clickHouseBlock(0x82, lz4Data, text.length + 1), 271, 'CANNOT_DECOMPRESS'],
    ['a ZSTD block that holds more than it says', () => clickHouseBlock(0x90, new ZstdEncoder(3).encodeSync(text), 100), 271, 'CANNOT_DECOMPRESS'],
    ['an uncompressed block of another size', () => clickHouseBlock(0x02, Buffer.from('tail'), 5), 271, 'CANNOT_DECOMPRESS'],
    ['LZ4 data that is not LZ4', () => clickHouseBlock(0x82, Buffer.from([0xff, 0xff, 0xff]), 10), 271, 'CANNOT_DECOMPRESS'],
    [
      'a block larger than 1 GiB',
      () => {
        const block = clickHouseBlock(0x82, lz4Data, text.length);
        block.writeUInt32LE(0x40000001, 17);
        return block;
      },
      39,
      'TOO_LARGE_SIZE_COMPRESSED',
    ],
    [
      'a size smaller than its header',
      () => {
        const block = clickHouseBlock(0x82, lz4Data, text.length);
        block.writeUInt32LE(3, 17);
        return block;
      },
      246,
      'CORRUPTED_DATA',
    ],
  ])('%s is refused with a 400 and its code', async (_, body, code, name) => {
    const refused = await refusal(body(), undefined, true);
    expect(refused.status).toBe(400);
    expect(refused.message).toMatch(new RegExp(`^Code: ${code}\\. DB::Exception: .*\\(${name}\\)$`));
  });
});
