import { createHash } from 'node:crypto';
import { cityHash128, cityHash128Bytes } from './cityhash';

/** Deterministic bytes, made the same way by the Python side that computed the expected values. */
function bytes(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let state = seed;
  for (let i = 0; i < length; i += 1) {
    state = (state * 69069 + 1) % 2 ** 32;
    out[i] = Math.floor(state / 2 ** 24);
  }
  return out;
}

const hex = (data: Uint8Array): string => {
  const { first, second } = cityHash128(data);
  return first.toString(16).padStart(16, '0') + second.toString(16).padStart(16, '0');
};

// Computed by PyPI's clickhouse-cityhash 1.0.2.6 (the C++ CityHash v1.0.2 clickhouse-driver
// uses), which prints `first` then `second`; test/integration/clickhouse-compression.test.ts
// compares the two on many more inputs.
describe('CityHash128 v1.0.2', () => {
  test.each([
    [0, '3df09dfc64c09a2b3cb540c392e51e29'],
    [1, 'a04b71ab61de6422f768684937e23970'],
    [3, '9444346dc1c467dc7ca868dab5cb9098'],
    [4, 'a3370bd88f9fa1726a1c35018ada6401'],
    [8, 'cfd2065aed995bb3378e147b94f1d25e'],
    [15, '441f8b62929016707b775447e3c1015f'],
    [16, 'd06fa4c4e2385a1a56e98d211458b896'],
    [17, 'ffaa008b31a7d5bf09ac31ae4f7a9ecf'],
    [33, '3668106a7b6a2674518924bd356d8133'],
    [127, '48b43119dcb6c8f49ec9c394d6e07ed1'],
    [128, '4fe5c2a0c3c78b89c409da913ccb31e0'],
    [129, '356a7e4110c1161df5f68e827ed915f0'],
    // 16 bytes seed the hash of the rest: 127 and 128 bytes of rest are each side of the long path.
    [143, 'd7bd9a849f16a0066b235584066845c0'],
    [144, 'a1d368f409a2d7aa318e7cdd7e8228e0'],
    [200, '781559a5d71e31bde287814d5ace9fc2'],
    [1000, '8b9a5101ae620628453bf4c93759a8d5'],
  ])('of %i bytes', (length, expected) => {
    expect(hex(bytes(length, length + 1))).toBe(expected);
  });

  test('of every length from 0 to 300 (their digest) and of a megabyte', () => {
    const all = Array.from({ length: 301 }, (_, length) => hex(bytes(length, length + 1))).join('\n');
    expect(createHash('sha256').update(all).digest('hex')).toBe('451086d689bfecfb2ec4d2f0d9dce98e6acab862f60a6d07bceca535601ce646');
    expect(hex(bytes(1_000_003, 7))).toBe('316ace1ad836f965b8738d3defb6c7f2');
  });

  test('of a view into a larger buffer is the hash of the bytes it shows', () => {
    const text = Buffer.from('xxhello worldyy').subarray(2, 13);
    expect(hex(text)).toBe('7dfb52dd24b29c7b0f6075c357e384d0');
  });

  test('as ClickHouse writes it: first, then second, little-endian', () => {
    expect(cityHash128Bytes(Buffer.from('hello world')).toString('hex')).toBe('7b9cb224dd52fb7dd084e357c375600f');
  });
});
