// SHA-256's round constants (FIPS 180-4, 4.2.2), as the signed 32-bit words the arithmetic below uses.
const K = Int32Array.of(
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
);

// The message schedule, shared by every call so that hashing allocates nothing.
const W = new Int32Array(64);

// The longest text hashed here: 55 bytes, the end marker and the 8-byte length fill one 64-byte block.
const maxTextLength = 55;

/**
 * The first 52 bits of SHA-256 of `text`, as an integer in [0, 2^52), for ASCII text of at most
 * 55 characters; undefined for any other text, which the caller hashes with node:crypto. Nearly
 * every sampling unit is short ASCII, and for it crossing into C++ and allocating the digest cost
 * more than the hash itself.
 */
export function sha256Prefix52(text: string): number | undefined {
  const length = text.length;
  if (length > maxTextLength) return undefined;
  // ASCII only, so each char is one byte, big-endian in its word.
  let word = 0;
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x80) return undefined;
    word = (word << 8) | code;
    if ((i & 3) === 3) {
      W[i >> 2] = word;
      word = 0;
    }
  }
  // The 0x80 end marker after the last byte, zeros, then the length in bits (below 2^32, so W[14] is 0).
  W[length >> 2] = ((word << 8) | 0x80) << (24 - 8 * (length & 3));
  W.fill(0, (length >> 2) + 1, 15);
  W[15] = length * 8;

  for (let t = 16; t < 64; t++) {
    const w15 = W[t - 15]!;
    const w2 = W[t - 2]!;
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    W[t] = (W[t - 16]! + s0 + W[t - 7]! + s1) | 0;
  }

  let a = 0x6a09e667 | 0;
  let b = 0xbb67ae85 | 0;
  let c = 0x3c6ef372 | 0;
  let d = 0xa54ff53a | 0;
  let e = 0x510e527f | 0;
  let f = 0x9b05688c | 0;
  let g = 0x1f83d9ab | 0;
  let h = 0x5be0cd19 | 0;
  for (let t = 0; t < 64; t++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const choice = (e & f) ^ (~e & g);
    const t1 = (h + s1 + choice + K[t]! + W[t]!) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const majority = (a & b) ^ (a & c) ^ (b & c);
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + s0 + majority) | 0;
  }
  // Only H0 and H1 hold the 52 bits: H0 whole, then H1's top 20 bits.
  const h0 = (0x6a09e667 + a) >>> 0;
  const h1 = (0xbb67ae85 + b) >>> 0;
  return h0 * 2 ** 20 + (h1 >>> 12);
}
