import { SluiceError } from '@sluice/core';
import { distributedTables, loadMigrations, localTableName, shardOfPartition, type ClickHouse, type Topology } from '@sluice/clickhouse';
import { jointHead } from './insert-blocks';
import type { WorkerState } from './worker-state';

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

export function createPlacement(shards: readonly ClickHouse[], topology: Topology): Placement {
  if (shards.length === 0) throw new SluiceError('INVALID_CONFIG', 'The worker needs at least one ClickHouse to write to');
  // The cluster DDL decides which tables are a local one behind a Distributed one.
  const local = topology.mode === 'cluster' ? distributedTables(loadMigrations(), topology.cluster) : new Set<string>();
  return {
    shards,
    topology,
    shardOf: (partition) => shards[shardOfPartition(partition, shards.length)] as ClickHouse,
    tableOnShard: (table) => (local.has(table) ? localTableName(table) : table),
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
 * partition's messages, or a joint block of one shard's partitions, so it goes to one shard whole,
 * with its token.
 */
export function placedInserts(placement: Placement): Pick<ClickHouse, 'insertBlock' | 'insertRows'> {
  return {
    async insertBlock(table, rows, token) {
      const [first] = rows;
      if (first === undefined) return;
      const shard = placement.shardOf(partitionOf(first));
      if (rows.some((row) => placement.shardOf(partitionOf(row)) !== shard)) throw new SluiceError('INTERNAL', `A block for ${table} mixes the partitions of several shards; a block is one shard's`);
      await shard.insertBlock(placement.tableOnShard(table), rows, token);
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

/** The dedup keys and block log of the partition's own shard: one WorkerState per shard, picked by partition. */
export function placedWorkerState(placement: Placement, make: (shard: ClickHouse) => WorkerState): WorkerState {
  const made = new Map(placement.shards.map((shard) => [shard, make(shard)]));
  const of = (partition: number): WorkerState => made.get(placement.shardOf(partition)) as WorkerState;
  return {
    storedKeys: { storedAmong: (keys, own) => of(own.partition).storedKeys.storedAmong(keys, own) },
    keyScan: {
      async storedHashes(partitions, atMost) {
        const byShard = new Map<WorkerState, number[]>();
        for (const partition of partitions) {
          const state = of(partition);
          byShard.set(state, [...(byShard.get(state) ?? []), partition]);
        }
        const found = new Map<number, Uint32Array | undefined>();
        for (const [state, own] of byShard) for (const [partition, hashes] of await state.keyScan.storedHashes(own, atMost)) found.set(partition, hashes);
        return found;
      },
    },
    blocks: {
      recordedBlock: (topic, partition, firstOffset) => of(partition).blocks.recordedBlock(topic, partition, firstOffset),
      record: (block) => of(block.partition).blocks.record(block),
      // A joint block is one shard's partitions (the batch handler joins by shardOfPartition), and so are the ones it clears.
      recordJoint: (joint, cleared) => of(joint.blocks[0]?.partition ?? 0).blocks.recordJoint(joint, cleared),
      jointRows: (token) => of(jointHead(token).partition).blocks.jointRows(token),
    },
  };
}

/** Up when every shard answers: a shard that does not holds up its partitions. */
export function everyShardAnswers(placement: Placement): Pick<ClickHouse, 'ping'> {
  return { ping: async () => (await Promise.all(placement.shards.map((shard) => shard.ping().catch(() => false)))).every(Boolean) };
}
