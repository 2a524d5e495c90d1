import type { ClickHouse, Topology } from '@sluice/clickhouse';
import { jointToken } from './insert-blocks';
import { createPlacement, everyShardAnswers, placedInserts, placedWorkerState } from './placement';

interface Recorded {
  inserts: Array<{ table: string; partitions: number[]; token?: string }>;
}

/** A shard that records what is written to it. */
function fakeShard(name: string, answers: () => Promise<boolean> = async () => true): ClickHouse & Recorded & { name: string } {
  const inserts: Recorded['inserts'] = [];
  const partitions = (rows: readonly object[]): number[] => rows.map((row) => (row as { kafka_partition: number }).kafka_partition);
  return {
    name,
    inserts,
    mode: 'server',
    database: 'sluice',
    command: async () => undefined,
    queryRows: async () => [],
    insertRows: async (table, rows) => void inserts.push({ table, partitions: partitions(rows) }),
    insertBlock: async (table, rows, token) => void inserts.push({ table, partitions: partitions(rows), token }),
    ping: answers,
    close: async () => undefined,
  };
}

const cluster: Topology = { mode: 'cluster', cluster: 'c1' };
const single: Topology = { mode: 'single' };
const row = (partition: number): object => ({ kafka_partition: partition, insert_id: `e-${partition}` });

test('partition p goes to shard p mod the number of shards, into the local table on a cluster and the same name otherwise', async () => {
  const shards = [fakeShard('a'), fakeShard('b')];
  const placement = createPlacement(shards, cluster);
  expect([0, 1, 2, 3, 4, 5].map((p) => (placement.shardOf(p) as ReturnType<typeof fakeShard>).name)).toEqual(['a', 'b', 'a', 'b', 'a', 'b']);
  const inserts = placedInserts(placement);
  await inserts.insertBlock('events', [row(3), row(3)], 'events/3/10-11');
  expect([shards[0]?.inserts, shards[1]?.inserts]).toEqual([[], [{ table: 'events_local', partitions: [3, 3], token: 'events/3/10-11' }]]);
  expect(['events', 'events_rejected', 'events_replayed', 'dedup_keys', 'insert_block_log'].map((t) => placement.tableOnShard(t))).toEqual([
    'events_local',
    'events_rejected_local',
    'events_replayed_local',
    'dedup_keys',
    'insert_block_log',
  ]);
  expect(createPlacement(shards, single).tableOnShard('events')).toBe('events');
});

test("dead-letter rows from several partitions are split by shard; a joint block of one shard's partitions goes there whole, one that mixes shards is refused", async () => {
  const shards = [fakeShard('a'), fakeShard('b')];
  const inserts = placedInserts(createPlacement(shards, single));
  await inserts.insertRows('events_rejected', [row(0), row(1), row(2), row(5)]);
  expect([shards[0]?.inserts, shards[1]?.inserts]).toEqual([[{ table: 'events_rejected', partitions: [0, 2] }], [{ table: 'events_rejected', partitions: [1, 5] }]]);
  await expect(inserts.insertBlock('events', [row(0), row(1)], 't')).rejects.toThrow('mixes the partitions of several shards');
  await expect(inserts.insertBlock('events', [{ insert_id: 'x' }], 't')).rejects.toThrow('no kafka_partition');
  await inserts.insertBlock('events', [], 't');
  expect(shards.map((s) => s.inserts.length)).toEqual([1, 1]);
  await inserts.insertBlock('events', [row(3), row(1), row(5)], 't');
  expect(shards[1]?.inserts.at(-1)).toEqual({ table: 'events', partitions: [3, 1, 5], token: 't' });
});

test("dedup lookups, key scans and the block log go to the partition's own shard", async () => {
  const shards = [fakeShard('a'), fakeShard('b'), fakeShard('c')];
  const placement = createPlacement(shards, single);
  const asked: string[] = [];
  const { storedKeys, keyScan, blocks } = placedWorkerState(placement, (shard) => {
    const name = (shard as ReturnType<typeof fakeShard>).name;
    return {
      storedKeys: {
        storedAmong: async () => {
          asked.push(`keys@${name}`);
          return new Set<string>();
        },
      },
      keyScan: {
        storedHashes: async (partitions) => {
          asked.push(`scan ${partitions.join()}@${name}`);
          return new Map(partitions.map((partition) => [partition, Uint32Array.of(partition)]));
        },
      },
      blocks: {
        recordedBlock: async () => void asked.push(`last@${name}`),
        record: async () => void asked.push(`record@${name}`),
        recordJoint: async () => void asked.push(`joint@${name}`),
        jointRows: async () => void asked.push(`rows@${name}`),
      },
    };
  });
  await storedKeys.storedAmong([], { partition: 4, firstOffset: '0', lastOffset: '1' });
  await blocks.recordedBlock('events', 5, '0');
  await blocks.record({ topic: 'events', partition: 6, firstOffset: '0', lastOffset: '1' });
  // A joint block of partitions 1 and 4 (shard b), found again by its first block's partition.
  const joint = [1, 4].map((partition) => ({ topic: 'events', partition, firstOffset: '0', lastOffset: '9' }));
  await blocks.recordJoint({ blocks: joint, rows: [] }, []);
  await blocks.jointRows(jointToken(joint));
  // Each shard scans its own partitions, once.
  expect(await keyScan.storedHashes([0, 1, 3, 4], 10)).toEqual(new Map([0, 3, 1, 4].map((partition) => [partition, Uint32Array.of(partition)])));
  expect(asked).toEqual(['keys@b', 'last@c', 'record@a', 'joint@b', 'rows@b', 'scan 0,3@a', 'scan 1,4@b']);
});

test('healthy only when every shard answers', async () => {
  const up = fakeShard('a');
  expect(await everyShardAnswers(createPlacement([up, fakeShard('b')], single)).ping()).toBe(true);
  expect(await everyShardAnswers(createPlacement([up, fakeShard('b', async () => false)], single)).ping()).toBe(false);
  expect(await everyShardAnswers(createPlacement([up, fakeShard('b', () => Promise.reject(new Error('refused')))], single)).ping()).toBe(false);
  expect(() => createPlacement([], single)).toThrow('at least one ClickHouse');
});
