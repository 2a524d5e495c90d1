/**
 * The worker's state in ClickHouse, read the way each mode stores it: the dedup keys and the block
 * log as key-value tables (EmbeddedRocksDB) on one node, and as ReplicatedReplacingMergeTree tables
 * on a cluster. chDB has no Keeper, so the cluster's tables are created from the cluster DDL with
 * the engine the Replicated one wraps (withoutReplication): the same columns, key, version and
 * settings, read by the same queries. Merges are stopped there, so every row written stays a row of
 * its own, as it is on a cluster until a merge comes, whenever that is.
 */
import { openClickHouse, type ClickHouse, type Topology } from '@sluice/clickhouse';
import { createWorkerState, filterHash, filterText, jointToken, type EventRow, type WorkerState } from '@sluice/worker';
import { createClusterStateTables } from '../helpers/cluster-state';
import { chdbPathForThisProcess, lastOffsetOf, openTestClickHouse, testLogger, uniqueName } from '../helpers/pipeline';

const windowMs = 7 * 86_400_000;
const dataset = 'ds-state';
/** The block being inserted in the lookups below: partition 1, offsets 100 to 199. */
const own = { partition: 1, firstOffset: '100', lastOffset: '199' };

const stores: Record<Topology['mode'], ClickHouse | undefined> = { single: undefined, cluster: undefined };

beforeAll(async () => {
  stores.single = await openTestClickHouse();
  const cluster = await openClickHouse({ database: uniqueName('cluster_state'), dataPath: chdbPathForThisProcess(), logger: testLogger });
  stores.cluster = cluster;
  await createClusterStateTables(cluster);
  for (const table of ['dedup_keys', 'insert_block_log']) await cluster.command(`SYSTEM STOP MERGES ${table}`);
});

afterAll(async () => {
  for (const clickhouse of Object.values(stores)) {
    if (clickhouse === undefined) continue;
    await clickhouse.command(`DROP DATABASE IF EXISTS ${clickhouse.database}`);
    await clickhouse.close();
  }
});

function store(mode: Topology['mode']): ClickHouse {
  const clickhouse = stores[mode];
  if (clickhouse === undefined) throw new Error(`no ${mode} store`);
  return clickhouse;
}

/** A key as the materialized view stores it, written `ageMs` ago by ClickHouse's clock; each call is an insert of its own. */
async function storeKey(clickhouse: ClickHouse, insertId: string, at: { partition: number; offset: number; ageMs?: number; dataset?: string }): Promise<void> {
  await clickhouse.command(
    `INSERT INTO dedup_keys SELECT '${at.dataset ?? dataset}', '${insertId}', now64(3) - toIntervalMillisecond(${at.ageMs ?? 0}), ${at.partition}, ${at.offset}`,
  );
}

async function storedAmong(state: WorkerState, insertIds: readonly string[], keyDataset = dataset): Promise<string[]> {
  const stored = await state.storedKeys.storedAmong(
    insertIds.map((insert_id) => ({ dataset_id: keyDataset, insert_id })),
    own,
  );
  return [...stored].sort();
}

const identity = (insertId: string, keyDataset = dataset): string => `${keyDataset.length}:${keyDataset}${insertId}`;

describe.each(['single', 'cluster'] as const)('in %s mode', (mode) => {
  let clickhouse: ClickHouse;
  let state: WorkerState;
  /** Insert ids no other test of this mode uses. */
  let id: (name: string) => string;

  beforeAll(() => {
    clickhouse = store(mode);
    state = createWorkerState(clickhouse, { mode, windowMs });
    id = (name) => `${mode}-${name}`;
  });

  test('keys stored by earlier blocks are found, new ones are not, and a key counts for its own dataset only', async () => {
    await storeKey(clickhouse, id('earlier-a'), { partition: 1, offset: 10 });
    await storeKey(clickhouse, id('earlier-b'), { partition: 2, offset: 150 });
    await storeKey(clickhouse, id('other-dataset'), { partition: 1, offset: 11, dataset: 'ds-other' });
    expect(await storedAmong(state, [id('earlier-a'), id('earlier-b'), id('new'), id('other-dataset')])).toEqual(
      [identity(id('earlier-a')), identity(id('earlier-b'))].sort(),
    );
    expect(await storedAmong(state, [id('other-dataset')], 'ds-other')).toEqual([identity(id('other-dataset'), 'ds-other')]);
  });

  test("a key stored by the block's own messages is not a duplicate of itself; the same offsets on another partition, or just outside the block, are", async () => {
    await storeKey(clickhouse, id('own-first'), { partition: 1, offset: 100 });
    await storeKey(clickhouse, id('own-last'), { partition: 1, offset: 199 });
    await storeKey(clickhouse, id('other-partition'), { partition: 0, offset: 150 });
    await storeKey(clickhouse, id('just-before'), { partition: 1, offset: 99 });
    await storeKey(clickhouse, id('just-after'), { partition: 1, offset: 200 });
    expect(await storedAmong(state, [id('own-first'), id('own-last'), id('other-partition'), id('just-before'), id('just-after')])).toEqual(
      [identity(id('other-partition')), identity(id('just-before')), identity(id('just-after'))].sort(),
    );
  });

  test('a key stored before the dedup window counts as new; one stored inside it does not', async () => {
    await storeKey(clickhouse, id('eight-days'), { partition: 1, offset: 12, ageMs: 8 * 86_400_000 });
    await storeKey(clickhouse, id('six-days'), { partition: 1, offset: 13, ageMs: 6 * 86_400_000 });
    expect(await storedAmong(state, [id('eight-days'), id('six-days')])).toEqual([identity(id('six-days'))]);
  });

  test('a key stored again by a later block counts once, judged by its latest copy as the upsert keeps it', async () => {
    // Stored by two earlier blocks: found once.
    await storeKey(clickhouse, id('twice'), { partition: 1, offset: 14 });
    await storeKey(clickhouse, id('twice'), { partition: 1, offset: 15 });
    // Stored before the window, then again by this block (a retry of it): new, as it was the first time.
    await storeKey(clickhouse, id('expired-then-own'), { partition: 1, offset: 16, ageMs: 8 * 86_400_000 });
    await storeKey(clickhouse, id('expired-then-own'), { partition: 1, offset: 120 });
    // Stored by an earlier block on another partition, then by this block's own messages: the latest copy is this block's.
    await storeKey(clickhouse, id('earlier-then-own'), { partition: 0, offset: 17 });
    await storeKey(clickhouse, id('earlier-then-own'), { partition: 1, offset: 121 });
    // Stored by this block's messages, then by a later block: the latest copy is not this block's.
    await storeKey(clickhouse, id('own-then-later'), { partition: 1, offset: 122 });
    await storeKey(clickhouse, id('own-then-later'), { partition: 1, offset: 300 });
    const lookup = [id('twice'), id('twice'), id('expired-then-own'), id('earlier-then-own'), id('own-then-later')];
    expect(await storedAmong(state, lookup)).toEqual([identity(id('twice')), identity(id('own-then-later'))].sort());
  });

  test("the key scan gives the filter hash (computed the same in JavaScript) of each key stored from the partitions within the window, and nothing when there are more than asked for", async () => {
    // Partitions 7 to 9 are this test's own.
    await storeKey(clickhouse, id('scan-a'), { partition: 7, offset: 1 });
    await storeKey(clickhouse, id('scan-café-😀'), { partition: 8, offset: 1, dataset: 'ds-ünï' });
    await storeKey(clickhouse, id('scan-old'), { partition: 7, offset: 2, ageMs: 8 * 86_400_000 });
    await storeKey(clickhouse, id('scan-elsewhere'), { partition: 9, offset: 1 });
    await storeKey(clickhouse, id('scan-b'), { partition: 7, offset: 3 });
    const hash = (datasetId: string, insertId: string): number => filterHash(filterText({ dataset_id: datasetId, insert_id: insertId }));
    const scanned = await state.keyScan.storedHashes([7, 8, 6], 10);
    expect([...(scanned.get(7) ?? [])].sort()).toEqual([hash(dataset, id('scan-a')), hash(dataset, id('scan-b'))].sort());
    expect([...(scanned.get(8) ?? [])]).toEqual([hash('ds-ünï', id('scan-café-😀'))]);
    expect(scanned.get(6) ?? new Uint32Array(0)).toEqual(new Uint32Array(0));
    // Partition 7 has two keys: more than asked for, so none of them; partition 8's one still comes.
    const capped = await state.keyScan.storedHashes([7, 8], 1);
    expect([capped.has(7), capped.get(7), capped.get(8)?.length]).toEqual([true, undefined, 1]);
  });

  test('a lookup of more keys than one query carries finds the stored ones in every query', async () => {
    const ids = Array.from({ length: 12_000 }, (_, i) => id(`many-${i}`));
    // Every third one stored, in one insert.
    await clickhouse.command(
      `INSERT INTO dedup_keys SELECT '${dataset}', concat('${id('many-')}', toString(number)), now64(3), 2, number FROM numbers(12000) WHERE number % 3 = 0`,
    );
    const stored = await storedAmong(state, ids);
    expect(stored).toEqual(ids.filter((_, i) => i % 3 === 0).map((insertId) => identity(insertId)).sort());
  });

  test('the block log gives the last offset of a recorded block, nothing for an unrecorded one, and the latest record of a block recorded twice', async () => {
    const topic = id('topic');
    await state.blocks.record({ topic, partition: 3, firstOffset: '1000', lastOffset: '1099' });
    await state.blocks.record({ topic, partition: 4, firstOffset: '1000', lastOffset: '1049' });
    expect(await lastOffsetOf(state.blocks, topic, 3, '1000')).toBe('1099');
    expect(await lastOffsetOf(state.blocks, topic, 4, '1000')).toBe('1049');
    expect(await lastOffsetOf(state.blocks, topic, 3, '1100')).toBeUndefined();
    expect(await lastOffsetOf(state.blocks, id('other-topic'), 3, '1000')).toBeUndefined();
    // Recorded again, at once (the same recorded_at, to the millisecond, is likely), then again later: the latest record wins each time.
    await state.blocks.record({ topic, partition: 3, firstOffset: '1000', lastOffset: '1079' });
    expect(await lastOffsetOf(state.blocks, topic, 3, '1000')).toBe('1079');
    await new Promise((resolve) => setTimeout(resolve, 5));
    await state.blocks.record({ topic, partition: 3, firstOffset: '1000', lastOffset: '1089' });
    expect(await lastOffsetOf(state.blocks, topic, 3, '1000')).toBe('1089');
    // Offsets beyond 2^53 come back exactly.
    await state.blocks.record({ topic, partition: 3, firstOffset: '9007199254740993', lastOffset: '9007199254740999' });
    expect(await lastOffsetOf(state.blocks, topic, 3, '9007199254740993')).toBe('9007199254740999');
  });

  test("a joint block's blocks are found under its token, its rows with its first block, until a later joint record clears them", async () => {
    const topic = id('joint-topic');
    const blocks = [
      { topic, partition: 2, firstOffset: '500', lastOffset: '509' },
      { topic, partition: 6, firstOffset: '70', lastOffset: '70' },
    ];
    const rows = [{ insert_id: 'a', kafka_partition: 2, kafka_offset: '500', properties: '{"x":"ü 😀"}' }, { insert_id: 'b', kafka_partition: 6, kafka_offset: '70' }] as unknown as EventRow[];
    await state.blocks.recordJoint({ blocks, rows }, []);
    const token = jointToken(blocks);
    expect(await state.blocks.recordedBlock(topic, 2, '500')).toEqual({ lastOffset: '509', joint: token });
    expect(await state.blocks.recordedBlock(topic, 6, '70')).toEqual({ lastOffset: '70', joint: token });
    expect(await state.blocks.jointRows(token)).toEqual(rows);
    // A block alone beside it is told apart.
    await state.blocks.record({ topic, partition: 6, firstOffset: '71', lastOffset: '80' });
    expect(await state.blocks.recordedBlock(topic, 6, '71')).toEqual({ lastOffset: '80' });
    await new Promise((resolve) => setTimeout(resolve, 5));
    const later = [{ topic, partition: 2, firstOffset: '510', lastOffset: '510' }, { topic, partition: 6, firstOffset: '81', lastOffset: '81' }];
    await state.blocks.recordJoint({ blocks: later, rows: [] }, [blocks]);
    expect(await state.blocks.jointRows(token)).toBeUndefined();
    expect(await state.blocks.recordedBlock(topic, 2, '500')).toEqual({ lastOffset: '509', joint: token });
    expect(await state.blocks.jointRows(jointToken(later))).toEqual([]);
  });
});

test('the cluster tables keep every row written while merges are stopped, as a cluster does between merges (so the tests above see unmerged copies)', async () => {
  const [row] = await store('cluster').queryRows<{ engine: string; rows: number }>(
    `SELECT engine, (SELECT count() FROM dedup_keys WHERE insert_id = 'cluster-twice') AS rows FROM system.tables WHERE database = currentDatabase() AND name = 'dedup_keys'`,
  );
  expect(row).toEqual({ engine: 'ReplacingMergeTree', rows: 2 });
});
