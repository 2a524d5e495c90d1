import { silentLogger } from '@sluice/core';
import { createFilteredStoredKeys, filterHash, filterText, GrowingBloomFilter, type StoredKeyScan } from './key-filter';
import type { StoredKeys } from './steps/deduplicate';

test("the filter hash is MurmurHash3 x86_32 of the UTF-8 bytes, ClickHouse's murmurHash3_32", () => {
  // Reference values of MurmurHash3_x86_32 with seed 0.
  expect(filterHash('')).toBe(0);
  expect(filterHash('hello')).toBe(0x248bfa47);
  expect(filterHash('The quick brown fox jumps over the lazy dog')).toBe(0x2e4ff723);
  // Non-ASCII text is hashed as its UTF-8 bytes: chDB's SELECT murmurHash3_32('ds/café-😀').
  expect(filterHash('ds/café-😀')).toBe(3011588140);
  expect(filterText({ dataset_id: 'ds', insert_id: 'a/b' })).toBe('ds/a/b');
});

test('the Bloom filter never forgets a key, also past the size it started with, and takes few unseen keys for seen ones', () => {
  const filter = new GrowingBloomFilter(10_000);
  const added = 30_000;
  for (let i = 0; i < added; i++) filter.add(filterHash(`ds/seen-${i}`));
  let missed = 0;
  for (let i = 0; i < added; i++) if (!filter.mightContain(filterHash(`ds/seen-${i}`))) missed++;
  expect(missed).toBe(0);
  let falsePositives = 0;
  const unseen = 100_000;
  for (let i = 0; i < unseen; i++) if (filter.mightContain(filterHash(`ds/unseen-${i}`))) falsePositives++;
  expect(falsePositives / unseen).toBeLessThan(0.03);
  // Segments for 10,000 and 20,000 keys, at 10 bits a key.
  expect(filter.bytes()).toBe((30_000 * 10) / 8);
});

/** A lookup recording the insert ids it is asked about, answering that `stored` are stored. */
function recordingLookup(stored: readonly string[] = []) {
  const asked: string[][] = [];
  const lookup: StoredKeys = {
    storedAmong: async (keys) => {
      asked.push(keys.map((key) => key.insert_id));
      return new Set(keys.filter((key) => stored.includes(key.insert_id)).map((key) => `2:${key.dataset_id}${key.insert_id}`));
    },
  };
  return { lookup, asked };
}

const scanOf = (storedByPartition: Record<number, string[]>): StoredKeyScan & { scans: number[][] } => {
  const scans: number[][] = [];
  return {
    scans,
    storedHashes: async (partitions) => {
      scans.push([...partitions]);
      return new Map(partitions.map((partition) => [partition, Uint32Array.from((storedByPartition[partition] ?? []).map((id) => filterHash(`ds/${id}`)))]));
    },
  };
};

const keys = (...ids: string[]) => ids.map((insert_id) => ({ dataset_id: 'ds', insert_id }));
const own = (partition: number) => ({ partition, firstOffset: '0', lastOffset: '9' });
const assigned = (...partitions: number[]) => ({ kind: 'assigned' as const, partitions: partitions.map((partition) => ({ topic: 'events', partition })) });

test("once a partition's stored keys are loaded, only keys stored before, looked up before or remembered are looked up", async () => {
  const { lookup, asked } = recordingLookup(['old']);
  const scan = scanOf({ 0: ['old'] });
  const filtered = createFilteredStoredKeys({ lookup, scan, logger: silentLogger });
  filtered.observe(assigned(0, 1));
  await filtered.loaded();
  expect(scan.scans).toEqual([[0, 1]]);
  expect(await filtered.storedAmong(keys('old', 'new'), own(0))).toEqual(new Set(['2:dsold']));
  expect(asked).toEqual([['old']]);
  // 'new' was looked up, so it may be stored now: it is looked up again.
  expect(await filtered.storedAmong(keys('new', 'newer'), own(0))).toEqual(new Set());
  expect(asked).toEqual([['old'], ['new']]);
  filtered.remember?.(keys('joined'));
  await filtered.storedAmong(keys('joined', 'fresh'), own(1));
  expect(asked).toEqual([['old'], ['new'], ['joined']]);
  // Nothing may be stored: no lookup at all.
  await filtered.storedAmong(keys('fresher'), own(1));
  expect(asked).toHaveLength(3);
});

test('a partition whose keys are not loaded yet, or that is assigned again after another worker had it, has every key looked up', async () => {
  const { lookup, asked } = recordingLookup();
  let finishScan = (): void => undefined;
  const scans: number[][] = [];
  const scan: StoredKeyScan = {
    storedHashes: (partitions) => {
      scans.push([...partitions]);
      return new Promise((resolve) => (finishScan = () => resolve(new Map())));
    },
  };
  const filtered = createFilteredStoredKeys({ lookup, scan, logger: silentLogger });
  filtered.observe(assigned(0));
  await filtered.storedAmong(keys('a'), own(0));
  expect(asked).toEqual([['a']]);
  finishScan();
  await filtered.loaded();
  await filtered.storedAmong(keys('b'), own(0));
  expect(asked).toEqual([['a']]);
  // Revoked, then assigned again: what another worker stored meanwhile is not in the filter.
  filtered.observe(assigned(1));
  filtered.observe(assigned(0, 1));
  await filtered.storedAmong(keys('c'), own(0));
  expect(asked).toEqual([['a'], ['c']]);
  expect(scans).toEqual([[0], [1], [0]]);
  // A partition never assigned is looked up key by key too.
  await filtered.storedAmong(keys('d'), own(5));
  expect(asked).toEqual([['a'], ['c'], ['d']]);
});

test('a scan that fails is tried again, with every key looked up meanwhile; a partition with too many stored keys keeps looking them up, the others do not', async () => {
  const { lookup, asked } = recordingLookup();
  let failures = 1;
  const scan: StoredKeyScan = {
    // Partition 2 has more keys than the load takes; partition 3 has none, and is left out.
    storedHashes: async (partitions) => {
      if (failures-- > 0) throw new Error('ClickHouse is not answering');
      return new Map(partitions.filter((partition) => partition !== 3).map((partition) => [partition, partition === 2 ? undefined : new Uint32Array(0)]));
    },
  };
  const filtered = createFilteredStoredKeys({ lookup, scan, logger: silentLogger, retryMs: 1, maxLoadedKeys: 2 });
  filtered.observe(assigned(0));
  await filtered.storedAmong(keys('before'), own(0));
  await filtered.loaded();
  await filtered.storedAmong(keys('a'), own(0));
  expect(asked).toEqual([['before']]);
  filtered.observe(assigned(0, 2, 3));
  await filtered.loaded();
  await filtered.storedAmong(keys('b'), own(2));
  await filtered.storedAmong(keys('c'), own(3));
  expect(asked).toEqual([['before'], ['b']]);
});
