/**
 * CityHash128 as of CityHash v1.0.2, the version ClickHouse keeps (contrib/cityhash102) for the
 * checksum of its compressed blocks: later CityHash versions, and most other ports, give other
 * values. A port of the reference code with BigInt words; every word stays in 0..2^64-1.
 */

const mask64 = (1n << 64n) - 1n;
// Some primes between 2^63 and 2^64, as the reference names them.
const k0 = 0xc3a5c85c97cb3127n;
const k1 = 0xb492b66fbe98f273n;
const k2 = 0x9ae16a3b2f90404fn;
const k3 = 0xc949d7c7509e6557n;
const kMul = 0x9ddfea08eb382d69n;

/** The two words of the hash: ClickHouse writes `first`, then `second`, each little-endian. */
export interface Uint128 {
  first: bigint;
  second: bigint;
}

const add = (a: bigint, b: bigint): bigint => (a + b) & mask64;
const sub = (a: bigint, b: bigint): bigint => (a - b) & mask64;
const mul = (a: bigint, b: bigint): bigint => (a * b) & mask64;
const rotate = (value: bigint, shift: number): bigint => (shift === 0 ? value : ((value >> BigInt(shift)) | (value << BigInt(64 - shift))) & mask64);
const shiftMix = (value: bigint): bigint => value ^ (value >> 47n);

function hash128to64(low: bigint, high: bigint): bigint {
  let a = mul(low ^ high, kMul);
  a ^= a >> 47n;
  let b = mul(high ^ a, kMul);
  b ^= b >> 47n;
  return mul(b, kMul);
}

class Input {
  private readonly view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  fetch64(at: number): bigint {
    return this.view.getBigUint64(at, true);
  }
  fetch32(at: number): bigint {
    return BigInt(this.view.getUint32(at, true));
  }
  byte(at: number): bigint {
    return BigInt(this.bytes[at] ?? 0);
  }
}

function hashLen0to16(input: Input, at: number, length: number): bigint {
  if (length > 8) {
    const a = input.fetch64(at);
    const b = input.fetch64(at + length - 8);
    return hash128to64(a, rotate(add(b, BigInt(length)), length)) ^ b;
  }
  if (length >= 4) {
    const a = input.fetch32(at);
    return hash128to64(add(BigInt(length), a << 3n), input.fetch32(at + length - 4));
  }
  if (length > 0) {
    const y = input.byte(at) + (input.byte(at + (length >> 1)) << 8n);
    const z = BigInt(length) + (input.byte(at + length - 1) << 2n);
    return mul(shiftMix(mul(y, k2) ^ mul(z, k3)), k2);
  }
  return k2;
}

/** A 16-byte hash of the 32 bytes at `at` and the seeds a and b. */
function weakHashLen32WithSeeds(input: Input, at: number, seedA: bigint, seedB: bigint): [bigint, bigint] {
  const w = input.fetch64(at);
  const x = input.fetch64(at + 8);
  const y = input.fetch64(at + 16);
  const z = input.fetch64(at + 24);
  let a = add(seedA, w);
  let b = rotate(add(add(seedB, a), z), 21);
  const c = a;
  a = add(add(a, x), y);
  b = add(b, rotate(a, 44));
  return [add(a, z), add(b, c)];
}

/** CityHash128WithSeed for fewer than 128 bytes. */
function cityMurmur(input: Input, start: number, length: number, seed: Uint128): Uint128 {
  let a = seed.first;
  let b = seed.second;
  let c: bigint;
  let d: bigint;
  if (length <= 16) {
    a = mul(shiftMix(mul(a, k1)), k1);
    c = add(mul(b, k1), hashLen0to16(input, start, length));
    d = shiftMix(add(a, length >= 8 ? input.fetch64(start) : c));
  } else {
    c = hash128to64(add(input.fetch64(start + length - 8), k1), a);
    d = hash128to64(add(b, BigInt(length)), add(c, input.fetch64(start + length - 16)));
    a = add(a, d);
    for (let at = start, left = length - 16; left > 0; at += 16, left -= 16) {
      a ^= mul(shiftMix(mul(input.fetch64(at), k1)), k1);
      a = mul(a, k1);
      b ^= a;
      c ^= mul(shiftMix(mul(input.fetch64(at + 8), k1)), k1);
      c = mul(c, k1);
      d ^= c;
    }
  }
  a = hash128to64(a, c);
  b = hash128to64(d, b);
  return { first: a ^ b, second: hash128to64(b, a) };
}

function cityHash128WithSeed(input: Input, start: number, length: number, seed: Uint128): Uint128 {
  if (length < 128) return cityMurmur(input, start, length, seed);
  let x = seed.first;
  let y = seed.second;
  let z = mul(BigInt(length), k1);
  let v0 = add(mul(rotate(y ^ k1, 49), k1), input.fetch64(start));
  let v1 = add(mul(rotate(v0, 42), k1), input.fetch64(start + 8));
  let w0 = add(mul(rotate(add(y, z), 35), k1), x);
  let w1 = mul(rotate(add(x, input.fetch64(start + 88)), 53), k1);
  let at = start;
  let left = length;
  // The reference unrolls this loop twice and runs it while at least 128 bytes are left.
  do {
    for (let half = 0; half < 2; half += 1) {
      x = mul(rotate(add(add(add(x, y), v0), input.fetch64(at + 16)), 37), k1);
      y = mul(rotate(add(add(y, v1), input.fetch64(at + 48)), 42), k1);
      x ^= w1;
      y ^= v0;
      z = rotate(z ^ w0, 33);
      [v0, v1] = weakHashLen32WithSeeds(input, at, mul(v1, k1), add(x, w0));
      [w0, w1] = weakHashLen32WithSeeds(input, at + 32, add(z, w1), y);
      [z, x] = [x, z];
      at += 64;
    }
    left -= 128;
  } while (left >= 128);
  y = add(y, add(mul(rotate(w0, 37), k0), z));
  x = add(x, mul(rotate(add(v0, z), 49), k0));
  // Up to 4 chunks of 32 bytes from the end hash what the loop left.
  for (let tailDone = 0; tailDone < left; ) {
    tailDone += 32;
    y = add(mul(rotate(sub(y, x), 42), k0), v1);
    w0 = add(w0, input.fetch64(at + left - tailDone + 16));
    x = add(mul(rotate(x, 49), k0), w0);
    w0 = add(w0, v0);
    [v0, v1] = weakHashLen32WithSeeds(input, at + left - tailDone, v0, v1);
  }
  x = hash128to64(x, v0);
  y = hash128to64(y, w0);
  return { first: add(hash128to64(add(x, v1), w1), y), second: hash128to64(add(x, w1), add(y, v1)) };
}

export function cityHash128(bytes: Uint8Array): Uint128 {
  const input = new Input(bytes);
  const length = bytes.length;
  if (length >= 16) return cityHash128WithSeed(input, 16, length - 16, { first: input.fetch64(0) ^ k3, second: input.fetch64(8) });
  if (length >= 8) return cityHash128WithSeed(input, 0, 0, { first: input.fetch64(0) ^ mul(BigInt(length), k0), second: input.fetch64(length - 8) ^ k1 });
  return cityHash128WithSeed(input, 0, length, { first: k0, second: k1 });
}

/** The hash as the 16 bytes ClickHouse puts before a compressed block. */
export function cityHash128Bytes(bytes: Uint8Array): Buffer {
  const { first, second } = cityHash128(bytes);
  const out = Buffer.alloc(16);
  out.writeBigUInt64LE(first, 0);
  out.writeBigUInt64LE(second, 8);
  return out;
}
