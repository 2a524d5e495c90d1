import { SluiceError } from '@sluice/core';
import type { ClickHouse } from '@sluice/clickhouse';
import type { EventRow } from './event-row';

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

/** The blocks of several partitions inserted as one, under one token: joint-blocks.ts. */
export interface JointBlock {
  blocks: readonly InsertBlock[];
  rows: readonly EventRow[];
}

/** A joint block's token: its blocks' tokens, in the order they were joined. */
export function jointToken(blocks: readonly InsertBlock[]): string {
  return blocks.map(blockToken).join('+');
}

/** What the log says of a block an earlier attempt recorded. */
export interface RecordedBlock {
  lastOffset: string;
  /** The token of the joint block it went into; absent for a block inserted alone. */
  joint?: string;
}

/**
 * Where a worker records a block before inserting it, so that after a crash the next attempt
 * repeats the same insert: a block inserted alone is rebuilt from a re-delivered batch of any size
 * (insert_block_log, migration 7); a joint block is repeated from the rows recorded with its first
 * block (insert_joint_log, migration 8), since its other partitions may be another worker's by then.
 * Both are key-value tables keyed by topic, partition and first offset.
 */
export interface BlockLog {
  recordedBlock(topic: string, partition: number, firstOffset: string): Promise<RecordedBlock | undefined>;
  record(block: InsertBlock): Promise<void>;
  /**
   * Records every block of a joint block under its token, its rows with the first block; and
   * clears the rows of joint blocks since committed (`cleared`), in the same write.
   */
  recordJoint(joint: JointBlock, cleared: readonly (readonly InsertBlock[])[]): Promise<void>;
  /** The rows of the joint block with this token; undefined once cleared (every block of it committed). */
  jointRows(token: string): Promise<EventRow[] | undefined>;
}

export function createBlockLog(clickhouse: Pick<ClickHouse, 'queryRows' | 'insertRows'>): BlockLog {
  return blockLogReading({ blocks: 'insert_block_log', joints: 'insert_joint_log' }, clickhouse);
}

/**
 * The block logs on a cluster, ReplicatedReplacingMergeTree tables versioned by recorded_at
 * (cluster-ddl.ts): a block recorded twice is two rows until a merge, and FINAL reads the one the
 * merge will keep (the latest recorded_at, and of equal ones the last written), as RocksDB's upsert
 * keeps the last. For one key FINAL merges a granule or two; argMax would break ties arbitrarily.
 */
export function createClusterBlockLog(clickhouse: Pick<ClickHouse, 'queryRows' | 'insertRows'>): BlockLog {
  return blockLogReading({ blocks: 'insert_block_log FINAL', joints: 'insert_joint_log FINAL' }, clickhouse);
}

/** The first block of a joint block, whose row carries the rows: the first token of the joint token. */
export function jointHead(token: string): { topic: string; partition: number; firstOffset: string } {
  // Kafka topic names have no slash: [a-zA-Z0-9._-].
  const match = /^([^/]+)\/(\d+)\/(\d+)-\d+(\+|$)/.exec(token);
  if (match === null) throw new SluiceError('INTERNAL', `${JSON.stringify(token.slice(0, 200))} is not a joint block's token`);
  return { topic: match[1] as string, partition: Number(match[2]), firstOffset: match[3] as string };
}

function blockLogReading(from: { blocks: string; joints: string }, clickhouse: Pick<ClickHouse, 'queryRows' | 'insertRows'>): BlockLog {
  const byKey = 'kafka_topic = {topic:String} AND kafka_partition = {partition:UInt32} AND first_offset = {firstOffset:UInt64}';
  const jointRecord = (block: InsertBlock, token: string, rows: string) => ({
    kafka_topic: block.topic,
    kafka_partition: block.partition,
    first_offset: block.firstOffset,
    last_offset: block.lastOffset,
    joint_token: token,
    joint_rows: rows,
  });
  return {
    async recordedBlock(topic, partition, firstOffset) {
      // One round trip for both logs: a block is recorded in one of them.
      const [row] = await clickhouse.queryRows<{ last_offset: string; joint_token: string }>(
        `SELECT toString(last_offset) AS last_offset, '' AS joint_token FROM ${from.blocks} WHERE ${byKey}
         UNION ALL
         SELECT toString(last_offset) AS last_offset, joint_token FROM ${from.joints} WHERE ${byKey}`,
        { topic, partition, firstOffset },
      );
      if (row === undefined) return undefined;
      return row.joint_token === '' ? { lastOffset: row.last_offset } : { lastOffset: row.last_offset, joint: row.joint_token };
    },
    async record(block) {
      await clickhouse.insertRows('insert_block_log', [
        { kafka_topic: block.topic, kafka_partition: block.partition, first_offset: block.firstOffset, last_offset: block.lastOffset },
      ]);
    },
    async recordJoint(joint, cleared) {
      const token = jointToken(joint.blocks);
      const records = joint.blocks.map((block, i) => jointRecord(block, token, i === 0 ? JSON.stringify(joint.rows) : ''));
      for (const blocks of cleared) {
        const [head] = blocks;
        if (head !== undefined) records.push(jointRecord(head, jointToken(blocks), ''));
      }
      await clickhouse.insertRows('insert_joint_log', records);
    },
    async jointRows(token) {
      const [row] = await clickhouse.queryRows<{ joint_rows: string }>(`SELECT joint_rows FROM ${from.joints} WHERE ${byKey}`, jointHead(token));
      return row === undefined || row.joint_rows === '' ? undefined : (JSON.parse(row.joint_rows) as EventRow[]);
    },
  };
}
