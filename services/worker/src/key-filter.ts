import { errorMessage, type ConsumerProgressEvent, type Logger } from '@sluice/core';
import type { Envelope } from '@sluice/envelope';
import type { OwnMessages, StoredKeys } from './steps/deduplicate';

/**
 * The text a key's filter hash is taken of, the same in JavaScript and in ClickHouse's scan
 * (stored-keys.ts). Two keys may share it (a dataset id with a "/"): that only costs a lookup.
 */
export function filterText(key: Pick<Envelope, 'dataset_id' | 'insert_id'>): string {
  return `${key.dataset_id}/${key.insert_id}`;
}

/** Where each key's UTF-8 bytes are written to be hashed, rather than a buffer of their own per key. */
let scratch = Buffer.alloc(1024);

/** MurmurHash3 x86_32, seed 0, of the text's UTF-8 bytes: ClickHouse's murmurHash3_32 of the same string. */
export function filterHash(text: string): number {
  const length = Buffer.byteLength(text, 'utf8');
  if (length > scratch.length) scratch = Buffer.alloc(length * 2);
  scratch.write(text, 0, 'utf8');
  const whole = length & ~3;
  let h = 0;
  for (let i = 0; i < whole; i += 4) {
    const k = Math.imul(rotateLeft(Math.imul(scratch.readInt32LE(i), c1), 15), c2);
    h = (Math.imul(rotateLeft(h ^ k, 13), 5) + 0xe6546b64) | 0;
  }
  let tail = 0;
  for (let i = length - 1; i >= whole; i--) tail = (tail << 8) | (scratch[i] as number);
  if (length > whole) h ^= Math.imul(rotateLeft(Math.imul(tail, c1), 15), c2);
  return mix(h ^ length);
}

const c1 = 0xcc9e2d51;
const c2 = 0x1b873593;

function rotateLeft(value: number, bits: number): number {
  return (value << bits) | (value >>> (32 - bits));
}

/** MurmurHash3's finaliser: every input bit affects every output bit. */
function mix(value: number): number {
  let h = value;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Bits per key and probes: about 1% of keys never stored are taken for stored, and looked up. */
const bitsPerKey = 10;
const probes = 7;

/**
 * A Bloom filter of 32-bit key hashes that grows: when a segment holds as many keys as it was
 * sized for, a new one twice its size takes the next keys. It never forgets a key; a key the
 * filter never saw was certainly never added.
 */
interface Segment {
  bits: Uint32Array;
  /** Bits in use: capacity × bitsPerKey. */
  size: number;
  capacity: number;
  count: number;
}

export class GrowingBloomFilter {
  private readonly segments: Segment[] = [];

  /** `capacity`: the keys the first segment is sized for. */
  constructor(capacity = 1 << 20) {
    this.grow(capacity);
  }

  add(hash: number): void {
    let last = this.segments[this.segments.length - 1] as Segment;
    if (last.count >= last.capacity) last = this.grow(last.capacity * 2);
    last.count++;
    const step = mix(hash ^ 0x9e3779b9) | 1;
    for (let i = 0, at = hash; i < probes; i++, at = (at + step) >>> 0) {
      const bit = at % last.size;
      last.bits[bit >>> 5] = (last.bits[bit >>> 5] as number) | (1 << (bit & 31));
    }
  }

  mightContain(hash: number): boolean {
    const step = mix(hash ^ 0x9e3779b9) | 1;
    for (const segment of this.segments) {
      let all = true;
      for (let i = 0, at = hash; i < probes; i++, at = (at + step) >>> 0) {
        const bit = at % segment.size;
        if (((segment.bits[bit >>> 5] as number) & (1 << (bit & 31))) === 0) {
          all = false;
          break;
        }
      }
      if (all) return true;
    }
    return false;
  }

  /** Bytes the filter holds. */
  bytes(): number {
    return this.segments.reduce((sum, segment) => sum + segment.bits.byteLength, 0);
  }

  private grow(capacity: number): Segment {
    const size = capacity * bitsPerKey;
    const segment = { bits: new Uint32Array(Math.ceil(size / 32)), size, capacity, count: 0 };
    this.segments.push(segment);
    return segment;
  }
}

/**
 * Every key stored from some partitions within the dedup window, as filter hashes, by partition:
 * undefined for a partition with more than `atMost`; a partition with none may be left out.
 */
export interface StoredKeyScan {
  storedHashes(partitions: readonly number[], atMost: number): Promise<ReadonlyMap<number, Uint32Array | undefined>>;
}

/** Above this many stored keys a partition goes without a filter: its load would hold too much at once (10 million keys took about 300 MiB more while the scan ran). */
export const filterMaxLoadedKeys = 10_000_000;

export interface FilteredStoredKeys extends StoredKeys {
  remember(keys: readonly Pick<Envelope, 'dataset_id' | 'insert_id'>[]): void;
  observe(event: ConsumerProgressEvent): void;
  /** Resolves once the loads started so far are done (tests). */
  loaded(): Promise<void>;
}

/**
 * Lookups only for keys that may be stored. A worker-wide filter holds every key this worker
 * looked up or stored, plus, for each partition it is assigned, every key stored from that
 * partition before (one scan of dedup_keys). Until a partition's scan is in, its keys are all
 * looked up. So a key the filter never saw, on a partition whose scan is in, is certainly not
 * stored from that partition, and skips the lookup; every copy of an event is on one partition
 * (the message key is the event's), which makes that exact. A copy on another partition, from a
 * producer that keys its messages otherwise, is caught only if this worker stored the first.
 */
export function createFilteredStoredKeys(deps: { lookup: StoredKeys; scan: StoredKeyScan; logger: Logger; retryMs?: number; maxLoadedKeys?: number }): FilteredStoredKeys {
  const filter = new GrowingBloomFilter();
  /** The partitions assigned, each with the load that makes its filter complete; ready once it is in. */
  const held = new Map<number, { ready: boolean }>();
  const loads = new Set<Promise<void>>();

  async function load(partitions: readonly number[]): Promise<void> {
    const states = partitions.map((partition) => ({ partition, state: held.get(partition) }));
    for (let attempt = 0; ; attempt++) {
      // A partition revoked, or assigned again since, is another load's.
      const wanted = states.filter(({ partition, state }) => state !== undefined && held.get(partition) === state).map(({ partition }) => partition);
      if (wanted.length === 0) return;
      try {
        const found = await deps.scan.storedHashes(wanted, deps.maxLoadedKeys ?? filterMaxLoadedKeys);
        let keys = 0;
        for (const { partition, state } of states) {
          if (state === undefined || held.get(partition) !== state) continue;
          const hashes = found.has(partition) ? found.get(partition) : new Uint32Array(0);
          if (hashes === undefined) {
            deps.logger.warn('too many stored keys to load into the dedup filter; this partition looks every key up', { partition });
            continue;
          }
          for (const hash of hashes) filter.add(hash);
          state.ready = true;
          keys += hashes.length;
        }
        deps.logger.info('dedup filter loaded', { partitions: wanted, keys, filterBytes: filter.bytes() });
        return;
      } catch (error) {
        deps.logger.warn('could not load stored keys into the dedup filter yet; looking every key of these partitions up meanwhile', { partitions: wanted, error: errorMessage(error), attempt });
        await new Promise((resolve) => setTimeout(resolve, deps.retryMs ?? 5_000));
      }
    }
  }

  const hashesOf = (keys: readonly Pick<Envelope, 'dataset_id' | 'insert_id'>[]): number[] => keys.map((key) => filterHash(filterText(key)));

  return {
    async storedAmong(keys, own: OwnMessages) {
      const hashes = hashesOf(keys);
      const maybe = held.get(own.partition)?.ready === true ? keys.filter((_key, i) => filter.mightContain(hashes[i] as number)) : keys;
      // Added before the answer: every key that may be stored from now on is in the filter.
      for (const hash of hashes) filter.add(hash);
      return maybe.length === 0 ? new Set() : deps.lookup.storedAmong(maybe, own);
    },
    remember(keys) {
      for (const hash of hashesOf(keys)) filter.add(hash);
    },
    observe(event) {
      if (event.kind !== 'assigned') return;
      const assigned = new Set(event.partitions.map(({ partition }) => partition));
      for (const partition of held.keys()) if (!assigned.has(partition)) held.delete(partition);
      const fresh = [...assigned].filter((partition) => !held.has(partition));
      if (fresh.length === 0) return;
      for (const partition of fresh) held.set(partition, { ready: false });
      const loading = load(fresh).finally(() => loads.delete(loading));
      loads.add(loading);
    },
    loaded: async () => {
      await Promise.all([...loads]);
    },
  };
}
