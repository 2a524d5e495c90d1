import type { ClickHouse, Topology } from '@sluice/clickhouse';
import { createBlockLog, createClusterBlockLog, type BlockLog } from './insert-blocks';
import type { StoredKeys } from './steps/deduplicate';
import type { StoredKeyScan } from './key-filter';
import { createClusterStoredKeys, createStoredKeyScan, createStoredKeys } from './stored-keys';

/** What the worker keeps in ClickHouse between batches: the dedup keys it looks up (or scans, for its filter) and the blocks it records. */
export interface WorkerState {
  storedKeys: StoredKeys;
  keyScan: StoredKeyScan;
  blocks: BlockLog;
}

/**
 * The readers for the tables the mode's DDL creates: key-value tables (EmbeddedRocksDB) on one
 * node, ReplicatedReplacingMergeTree tables on a cluster (cluster-ddl.ts), where the worker reads
 * its shard's.
 */
export function createWorkerState(
  clickhouse: Pick<ClickHouse, 'queryRows' | 'insertRows'>,
  options: { mode: Topology['mode']; windowMs: number },
): WorkerState {
  const keyScan = createStoredKeyScan(clickhouse, options);
  if (options.mode === 'cluster') {
    return { storedKeys: createClusterStoredKeys(clickhouse, { windowMs: options.windowMs }), keyScan, blocks: createClusterBlockLog(clickhouse) };
  }
  return { storedKeys: createStoredKeys(clickhouse, { windowMs: options.windowMs }), keyScan, blocks: createBlockLog(clickhouse) };
}
