import type { ClickHouse } from '@sluice/clickhouse';

/** A block of one partition's messages, first to last offset inclusive, inserted as one. */
export interface InsertBlock {
  topic: string;
  partition: number;
  firstOffset: string;
  lastOffset: string;
}

/** The token ClickHouse dedups a block by: the same messages always make the same token. */
export function blockToken(block: InsertBlock): string {
  return `${block.topic}/${block.partition}/${block.firstOffset}-${block.lastOffset}`;
}

/**
 * Where a worker records a block before inserting it, so that after a crash the next attempt
 * rebuilds the same block from a re-delivered batch of any size (the insert_block_log table, a
 * key-value table keyed by topic, partition and first offset: migration 7).
 */
export interface BlockLog {
  /** The last offset of the block recorded as starting at firstOffset, if any. */
  lastOffsetOf(topic: string, partition: number, firstOffset: string): Promise<string | undefined>;
  record(block: InsertBlock): Promise<void>;
}

export function createBlockLog(clickhouse: Pick<ClickHouse, 'queryRows' | 'insertRows'>): BlockLog {
  return blockLogReading('insert_block_log', clickhouse);
}

/**
 * The block log on a cluster, a ReplicatedReplacingMergeTree versioned by recorded_at
 * (cluster-ddl.ts): a block recorded twice is two rows until a merge, and FINAL reads the one the
 * merge will keep (the latest recorded_at, and of equal ones the last written), as RocksDB's upsert
 * keeps the last. For one key FINAL merges a granule or two; argMax would break ties arbitrarily.
 */
export function createClusterBlockLog(clickhouse: Pick<ClickHouse, 'queryRows' | 'insertRows'>): BlockLog {
  return blockLogReading('insert_block_log FINAL', clickhouse);
}

function blockLogReading(from: string, clickhouse: Pick<ClickHouse, 'queryRows' | 'insertRows'>): BlockLog {
  return {
    async lastOffsetOf(topic, partition, firstOffset) {
      const [row] = await clickhouse.queryRows<{ last_offset: string }>(
        `SELECT toString(last_offset) AS last_offset FROM ${from}
         WHERE kafka_topic = {topic:String} AND kafka_partition = {partition:UInt32} AND first_offset = {firstOffset:UInt64}`,
        { topic, partition, firstOffset },
      );
      return row?.last_offset;
    },
    async record(block) {
      await clickhouse.insertRows('insert_block_log', [
        { kafka_topic: block.topic, kafka_partition: block.partition, first_offset: block.firstOffset, last_offset: block.lastOffset },
      ]);
    },
  };
}
