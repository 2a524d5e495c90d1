import { lookupChunks } from './stored-keys';

test('lookups carry up to 10,000 keys each', () => {
  const ids = Array.from({ length: 25_000 }, (_, i) => `k${i}`);
  const chunks = lookupChunks(ids);
  expect(chunks.map((c) => c.length)).toEqual([10_000, 10_000, 5_000]);
  expect(chunks.flat()).toEqual(ids);
});

test('long keys close a lookup at 200,000 characters, so a URL stays under 1 MiB', () => {
  const ids = Array.from({ length: 2_000 }, (_, i) => `${i}`.padStart(256, 'x'));
  const chunks = lookupChunks(ids);
  expect(chunks.map((c) => c.length)).toEqual([781, 781, 438]);
  expect(chunks.flat()).toEqual(ids);
});

test('no keys, no lookups; one key longer than the limit still gets its own', () => {
  expect(lookupChunks([])).toEqual([]);
  expect(lookupChunks(['x'.repeat(300_000), 'y'])).toEqual([['x'.repeat(300_000)], ['y']]);
});
