import type { ClickHouse, Topology } from '@sluice/clickhouse';
import type { StoredKeyScan } from './key-filter';
import { dedupIdentity, type StoredKeys } from './steps/deduplicate';

/**
 * Keys per lookup query: many, because a query's cost per key falls with its size (1,000 keys
 * cost 11-16 µs each, 10,000 about 7), but bounded in characters too, since over HTTP the keys
 * travel in the URL, and ClickHouse caps URLs at 1 MiB.
 */
const maxKeysPerQuery = 10_000;
const maxKeyCharactersPerQuery = 200_000;

/** Consecutive runs of ids within both limits. */
export function lookupChunks(ids: readonly string[]): string[][] {
  const chunks: string[][] = [];
  let current: string[] = [];
  let characters = 0;
  for (const id of ids) {
    if (current.length > 0 && (current.length >= maxKeysPerQuery || characters + id.length > maxKeyCharactersPerQuery)) {
      chunks.push(current);
      current = [];
      characters = 0;
    }
    current.push(id);
    characters += id.length;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/**
 * Looks keys up in dedup_keys, a key-value table (EmbeddedRocksDB) that a materialized view fills
 * from every insert into events (packages/clickhouse/migrations/0005_dedup_keys.sql). The condition
 * `dataset_id = X AND insert_id IN (...)` is what makes ClickHouse read the keys point by point;
 * other shapes (a tuple IN, an OR) scan the whole table. Keys stored longer ago than the window
 * count as new. dedup_keys.received_at is when the key was stored, by ClickHouse's clock (migration
 * 6), so a client's own received_at cannot move an event out of the window, nor hold it open.
 */
export function createStoredKeys(clickhouse: Pick<ClickHouse, 'queryRows'>, options: { windowMs: number }): StoredKeys {
  return storedKeysReading('dedup_keys', clickhouse, options);
}

/**
 * The same lookups on a cluster, where dedup_keys is a ReplicatedReplacingMergeTree ordered by the
 * key (cluster-ddl.ts): a key written twice is two rows until a merge, whenever that comes. FINAL
 * keeps the last row written per key before the conditions apply, which is the row RocksDB's upsert
 * would hold, and it merges only the granules the key index picked. (A plain read would judge
 * every row of the key, so an earlier block's copy would still count once this block's own copy
 * replaced it; dedup_keys has no version column that argMax could order rows by.)
 */
export function createClusterStoredKeys(clickhouse: Pick<ClickHouse, 'queryRows'>, options: { windowMs: number }): StoredKeys {
  return storedKeysReading('dedup_keys FINAL', clickhouse, options);
}

function storedKeysReading(from: string, clickhouse: Pick<ClickHouse, 'queryRows'>, options: { windowMs: number }): StoredKeys {
  return {
    async storedAmong(keys, own) {
      const idsByDataset = new Map<string, string[]>();
      for (const key of keys) {
        const ids = idsByDataset.get(key.dataset_id);
        if (ids === undefined) idsByDataset.set(key.dataset_id, [key.insert_id]);
        else ids.push(key.insert_id);
      }
      const stored = new Set<string>();
      for (const [datasetId, ids] of idsByDataset) {
        for (const chunk of lookupChunks(ids)) {
          const rows = await clickhouse.queryRows<{ insert_id: string }>(
            `SELECT insert_id FROM ${from}
             WHERE dataset_id = {datasetId:String} AND insert_id IN {ids:Array(String)}
               AND received_at >= now64(3) - toIntervalMillisecond({windowMs:UInt64})
               AND NOT (kafka_partition = {partition:UInt32} AND kafka_offset BETWEEN {firstOffset:UInt64} AND {lastOffset:UInt64})`,
            { datasetId, ids: chunk, windowMs: options.windowMs, ...own },
          );
          for (const row of rows) stored.add(dedupIdentity({ dataset_id: datasetId, insert_id: row.insert_id }));
        }
      }
      return stored;
    },
  };
}

/**
 * Reads every key stored from the partitions within the window, as the key filter's hashes
 * (key-filter.ts: murmurHash3_32 of "<dataset_id>/<insert_id>"): one scan of the table, grouped by
 * partition, each partition's hashes as 4 big-endian bytes a key in base64 (about 5.3 characters a
 * key over the wire, where a JSON array of numbers took 11 and its parsing most of the load's
 * memory). `dedup_keys FINAL` on a cluster, as for the lookups.
 */
export function createStoredKeyScan(clickhouse: Pick<ClickHouse, 'queryRows'>, options: { windowMs: number; mode: Topology['mode'] }): StoredKeyScan {
  const from = options.mode === 'cluster' ? 'dedup_keys FINAL' : 'dedup_keys';
  return {
    async storedHashes(partitions, atMost) {
      const rows = await clickhouse.queryRows<{ partition: number; keys: string; hashes: string }>(
        `SELECT kafka_partition AS partition, toString(count()) AS keys,
                base64Encode(arrayStringConcat(arrayMap(h -> unhex(leftPad(hex(h), 8, '0')), groupArray({atMost:UInt64})(murmurHash3_32(concat(dataset_id, '/', insert_id)))))) AS hashes
         FROM ${from}
         WHERE kafka_partition IN {partitions:Array(UInt32)} AND received_at >= now64(3) - toIntervalMillisecond({windowMs:UInt64})
         GROUP BY kafka_partition`,
        { partitions, atMost, windowMs: options.windowMs },
      );
      return new Map(rows.map((row) => [row.partition, Number(row.keys) > atMost ? undefined : bigEndianWords(Buffer.from(row.hashes, 'base64'))]));
    },
  };
}

function bigEndianWords(bytes: Buffer): Uint32Array {
  const words = new Uint32Array(bytes.length / 4);
  for (let i = 0; i < words.length; i++) words[i] = bytes.readUInt32BE(i * 4);
  return words;
}
