import { SluiceError } from '@sluice/core';
import { localTableName, shardOfPartition, type ClickHouse, type Topology } from '@sluice/clickhouse';
import type { BlockLog } from './insert-blocks';
import type { StoredKeys } from './steps/deduplicate';

/**
 * Where each Kafka partition's rows go: the one ClickHouse, or with several shards the shard
 * shardOfPartition names, so that a partition's events, dead letters, dedup keys and block log sit
 * together on one shard. Every copy of an insert_id shares a partition (the message key is
 * <dataset_id>/<insert_id>), so its dedup decision is one shard's to make, and a block's token is
 * remembered where the block is inserted.
 */
export interface Placement {
  /** Every shard, in shard order; one for a single node. */
  readonly shards: readonly ClickHouse[];
  /** Cluster tables or one schema per shard: which migrations run, and the names of the tables. */
  readonly topology: Topology;
  shardOf(partition: number): ClickHouse;
  /** A table the worker writes, as it is named on a shard: the local table behind a Distributed one on a cluster. */
  tableOnShard(table: string): string;
}

/** The tables the worker writes that a cluster puts behind Distributed ones. */
const shardedTables = new Set(['events', 'events_rejected', 'events_replayed']);

export function createPlacement(shards: readonly ClickHouse[], topology: Topology): Placement {
  if (shards.length === 0) throw new SluiceError('INVALID_CONFIG', 'The worker needs at least one ClickHouse to write to');
  return {
    shards,
    topology,
    shardOf: (partition) => shards[shardOfPartition(partition, shards.length)] as ClickHouse,
    tableOnShard: (table) => (topology.mode === 'cluster' && shardedTables.has(table) ? localTableName(table) : table),
  };
}

/** Rows that name their Kafka partition, as events and events_rejected rows do. */
function partitionOf(row: object): number {
  const partition = (row as { kafka_partition?: unknown }).kafka_partition;
  if (typeof partition !== 'number') throw new SluiceError('INTERNAL', 'A row the worker writes has no kafka_partition to place it by');
  return partition;
}

/**
 * Inserts that go to the shard of their rows' partition, into its table there. A block is one
 * partition's messages, so it goes to one shard whole, with its token.
 */
export function placedInserts(placement: Placement): Pick<ClickHouse, 'insertBlock' | 'insertRows'> {
  return {
    async insertBlock(table, rows, token) {
      const [first] = rows;
      if (first === undefined) return;
      const partition = partitionOf(first);
      if (rows.some((row) => partitionOf(row) !== partition)) throw new SluiceError('INTERNAL', `A block for ${table} mixes Kafka partitions; a block is one partition's messages`);
      await placement.shardOf(partition).insertBlock(placement.tableOnShard(table), rows, token);
    },
    async insertRows(table, rows) {
      const byShard = new Map<ClickHouse, object[]>();
      for (const row of rows) {
        const shard = placement.shardOf(partitionOf(row));
        const shardRows = byShard.get(shard);
        if (shardRows === undefined) byShard.set(shard, [row]);
        else shardRows.push(row);
      }
      for (const [shard, shardRows] of byShard) await shard.insertRows(placement.tableOnShard(table), shardRows);
    },
  };
}

/** Each shard's own instance of a per-partition store (dedup keys, block log), picked by partition. */
function perShard<T>(placement: Placement, make: (shard: ClickHouse) => T): (partition: number) => T {
  const made = new Map(placement.shards.map((shard) => [shard, make(shard)]));
  return (partition) => made.get(placement.shardOf(partition)) as T;
}

export function placedStoredKeys(placement: Placement, make: (shard: ClickHouse) => StoredKeys): StoredKeys {
  const of = perShard(placement, make);
  return { storedAmong: (keys, own) => of(own.partition).storedAmong(keys, own) };
}

export function placedBlockLog(placement: Placement, make: (shard: ClickHouse) => BlockLog): BlockLog {
  const of = perShard(placement, make);
  return {
    lastOffsetOf: (topic, partition, firstOffset) => of(partition).lastOffsetOf(topic, partition, firstOffset),
    record: (block) => of(block.partition).record(block),
  };
}

/** Up when every shard answers: a shard that does not holds up its partitions. */
export function everyShardAnswers(placement: Placement): Pick<ClickHouse, 'ping'> {
  return { ping: async () => (await Promise.all(placement.shards.map((shard) => shard.ping().catch(() => false)))).every(Boolean) };
}
