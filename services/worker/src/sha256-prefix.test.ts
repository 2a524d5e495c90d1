import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { samplePoint } from './sampling';
import { sha256Prefix52 } from './sha256-prefix';

/** The first 13 hex digits (52 bits) of node:crypto's SHA-256 of the text's UTF-8. */
const cryptoPrefix52 = (text: string): number => parseInt(createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 13), 16);

/** What sha256Prefix52 must give: crypto's prefix for ASCII text of at most 55 chars, else undefined. */
const expected = (text: string): number | undefined => (/^[\x00-\x7f]{0,55}$/.test(text) ? cryptoPrefix52(text) : undefined);

/** samplePoint as it was: node:crypto for every text. */
function cryptoPoint(datasetId: string, unit: string): number {
  const digest = createHash('sha256').update(`${datasetId}\n${unit}`, 'utf8').digest();
  return (digest.readUInt32BE(0) * 2 ** 20 + (digest.readUInt32BE(4) >>> 12)) / 2 ** 52;
}

// Mostly ASCII (controls and DEL included), with non-ASCII, lone surrogates, emoji and any UTF-16 unit.
const char = fc.oneof(
  { arbitrary: fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 1 }), weight: 12 },
  { arbitrary: fc.constantFrom('é', 'ß', '€', '中', '\u0080', '\u07ff', '\u0800', '\uffff', '😀', '👍🏽'), weight: 1 },
  { arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code)), weight: 1 },
  { arbitrary: fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)), weight: 1 },
);
// Lengths spread over 0 to 80 (size 'max'; the default keeps nearly all under 10), half of them pure ASCII.
const text = fc.oneof(fc.string({ unit: 'binary-ascii', maxLength: 80, size: 'max' }), fc.string({ unit: char, maxLength: 80, size: 'max' }));

describe('sha256Prefix52', () => {
  test('gives the first 52 bits of the standard vectors: "" and "abc"', () => {
    // e3b0c442 98fc1c14 ... and ba7816bf 8f01cfea ... (FIPS 180-4's examples).
    expect(sha256Prefix52('')).toBe(0xe3b0c442 * 2 ** 20 + (0x98fc1c14 >>> 12));
    expect(sha256Prefix52('abc')).toBe(0xba7816bf * 2 ** 20 + (0x8f01cfea >>> 12));
  });

  test('hashes 55 bytes, one block, and leaves 56, two blocks, to node:crypto (the 56-byte standard vector too)', () => {
    expect(sha256Prefix52('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).toBeUndefined();
    expect(sha256Prefix52('k'.repeat(55))).toBe(cryptoPrefix52('k'.repeat(55)));
    expect(sha256Prefix52('k'.repeat(56))).toBeUndefined();
  });

  test('agrees with node:crypto for ASCII text of every length from 0 to 80, every char code 0 to 127 in every byte position', () => {
    const wrong: string[] = [];
    for (let length = 0; length <= 80; length++) {
      for (let offset = 0; offset < 128; offset++) {
        const ascii = Array.from({ length }, (_, i) => String.fromCharCode((offset + i * 37) % 128)).join('');
        if (sha256Prefix52(ascii) !== expected(ascii)) wrong.push(ascii);
      }
    }
    expect(wrong).toEqual([]);
  });

  test('leaves any non-ASCII char to node:crypto, wherever it is', () => {
    for (const other of ['\u0080', 'é', '€', '\ud800', '\udfff', '😀']) {
      for (let at = 0; at <= 20; at++) expect(sha256Prefix52(`${'a'.repeat(at)}${other}${'b'.repeat(20 - at)}`)).toBeUndefined();
    }
  });

  test('agrees with node:crypto, or leaves the text to it, for random text up to 80 chars', () => {
    fc.assert(
      fc.property(text, (t) => {
        expect(sha256Prefix52(t)).toBe(expected(t));
      }),
      { numRuns: 10_000 },
    );
  });
});

describe('samplePoint', () => {
  // Short ASCII ids and units as well, so that joined they often fit the fast path.
  const shortAscii = (maxLength: number) => fc.string({ unit: 'binary-ascii', maxLength, size: 'max' });

  test('is the crypto-based point for typical, long, non-ASCII and surrogate-bearing units', () => {
    const examples: [string, string][] = [
      ['shop-eu', 'request:req-123456'],
      ['docs-search', 'insert:v-98765'],
      ['ds', ''],
      ['', ''],
      ['d'.repeat(27), `insert:${'i'.repeat(20)}`],
      ['d'.repeat(27), `insert:${'i'.repeat(21)}`],
      ['shop-eu', `request:${'r'.repeat(300)}`],
      ['boutique-é', 'request:r1'],
      ['ds', 'insert:😀'],
      ['ds', 'insert:\ud800x'],
    ];
    for (const [datasetId, unit] of examples) expect([datasetId, unit, samplePoint(datasetId, unit)]).toEqual([datasetId, unit, cryptoPoint(datasetId, unit)]);
    fc.assert(
      fc.property(fc.oneof(shortAscii(20), text), fc.oneof(shortAscii(40), text, fc.string({ unit: char, minLength: 50, maxLength: 400, size: 'max' })), (datasetId, unit) => {
        expect(samplePoint(datasetId, unit)).toBe(cryptoPoint(datasetId, unit));
      }),
      { numRuns: 5_000 },
    );
  });
});
