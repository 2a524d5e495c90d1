/**
 * Dedup keys: what remembering 1M and 10M (dataset_id, insert_id) keys costs, and how long one
 * block's lookup of 1,000 keys takes. The worker keeps no keys in its own memory: they live in
 * ClickHouse's dedup_keys table (EmbeddedRocksDB). Two baselines are measured in the same run: the
 * previous design, a MergeTree table ordered by the key (its lookups touch granules all over the
 * table), and a JavaScript Set of the same keys in the worker's heap.
 *
 * Memory is measured as a process would see it: a fresh process opens the data directory, and its
 * RSS growth over 50 lookups, divided by the keys, is the memory per key (an upper bound: it also
 * holds what the queries themselves allocated).
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@sluice/core';
import { applyMigrations, openClickHouse, type ClickHouse } from '@sluice/clickhouse';
import { createStoredKeys } from '@sluice/worker';
import type { Measurement, Scenario, ScenarioContext, ScenarioResult } from '../run';

const dataset = 'bench-dedup';
const database = 'sluice_bench';
const lookupKeys = 1_000;
const lookups = 9;
/** The previous design, kept here only as the baseline. */
const mergeTreeTable = 'event_keys_mergetree';

/** The insert id of key number n: UUID-shaped and scrambled, like the gateway's random ones; computed by ClickHouse so 10M keys load in seconds. */
const insertIdSql = (n: string): string => `toString(reinterpretAsUUID(sipHash128(${n})))`;

async function timed(times: number, action: () => Promise<void>): Promise<{ medianMs: number; maxMs: number }> {
  const samples: number[] = [];
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    await action();
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  return { medianMs: samples[Math.floor(samples.length / 2)] ?? 0, maxMs: samples.at(-1) ?? 0 };
}

/**
 * Heap bytes per key of a Set holding `total` keys as strings, the way an in-process cache would:
 * the given ones, and random UUIDs of the same shape for the rest.
 */
function setBytesPerKey(given: readonly string[], total: number): { bytesPerKey: number; set: Set<string> } {
  globalThis.gc?.();
  const before = process.memoryUsage().heapUsed;
  const set = new Set<string>();
  // Flat strings, as keys read from Kafka would be (a template literal alone leaves a heavier rope).
  for (const id of given) set.add(Buffer.from(`${dataset}/${id}`).toString());
  while (set.size < total) set.add(Buffer.from(`${dataset}/${randomUUID()}`).toString());
  globalThis.gc?.();
  return { bytesPerKey: (process.memoryUsage().heapUsed - before) / total, set };
}

function directoryBytes(path: string): number {
  let total = 0;
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const full = join(path, entry.name);
    total += entry.isDirectory() ? directoryBytes(full) : statSync(full).size;
  }
  return total;
}

/** RSS growth of a fresh process that opens the data directory and runs 50 lookups on `table`. */
function lookupMemory(dataPath: string, table: string, ids: readonly string[]): number {
  const probe = join(__dirname, 'dedup-memory-probe.ts');
  const result = spawnSync(process.execPath, ['--import', 'tsx', probe, dataPath, database, table, dataset, JSON.stringify(ids)], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  const line = result.stdout.trim().split('\n').at(-1) ?? '';
  const parsed = /^rss growth (\d+)$/.exec(line);
  if (result.status !== 0 || !parsed?.[1]) throw new Error(`the memory probe failed (${result.status}): ${result.stderr.slice(-500)}`);
  return Number(parsed[1]);
}

async function load(clickhouse: ClickHouse, from: number, to: number): Promise<void> {
  const select = `SELECT '${dataset}', ${insertIdSql('number')}, now64(3), number % 6, number FROM numbers(${from}, ${to - from})`;
  await clickhouse.command(`INSERT INTO dedup_keys ${select}`);
  await clickhouse.command(`INSERT INTO ${mergeTreeTable} ${select}`);
}

async function run(context: ScenarioContext): Promise<ScenarioResult> {
  const dataPath = mkdtempSync(join(tmpdir(), 'sluice-bench-dedup-'));
  context.onCleanup(() => rmSync(dataPath, { recursive: true, force: true }));
  const logger = createLogger({ level: 'warn' });
  let clickhouse: ClickHouse | undefined = await openClickHouse({ dataPath, database, logger });
  context.onCleanup(async () => {
    await clickhouse?.close();
    clickhouse = undefined;
  });
  await applyMigrations(clickhouse, logger);
  await clickhouse.command(
    `CREATE TABLE ${mergeTreeTable} (dataset_id LowCardinality(String), insert_id String, received_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)), kafka_partition UInt32, kafka_offset UInt64)
     ENGINE = ReplacingMergeTree ORDER BY (dataset_id, insert_id)`,
  );
  const [rocksPath] = await clickhouse.queryRows<{ path: string }>(`SELECT data_paths[1] AS path FROM system.tables WHERE database = currentDatabase() AND name = 'dedup_keys'`);
  if (rocksPath === undefined) throw new Error('dedup_keys has no data path');

  const measurements: Measurement[] = [];
  const details: Record<string, unknown> = {};
  let loaded = 0;
  for (const target of [1_000_000, context.options.keys ?? 10_000_000]) {
    context.signal.throwIfAborted();
    await load(clickhouse, loaded, target);
    loaded = target;
    await clickhouse.command(`OPTIMIZE TABLE ${mergeTreeTable} FINAL`);
    context.log(`${target.toLocaleString('en-US')} keys stored`);

    // A block's lookup: half of its keys stored, half new.
    const [sample] = await clickhouse.queryRows<{ ids: string[] }>(
      `SELECT groupArray(${insertIdSql('if(number % 2 = 0, (number * 997) % ' + target + ', ' + target + ' + number)')}) AS ids FROM numbers(${lookupKeys})`,
    );
    const ids = sample?.ids ?? [];
    const keys = ids.map((insert_id) => ({ dataset_id: dataset, insert_id }));
    const own = { partition: 99, firstOffset: '0', lastOffset: '0' };
    const expectHalf = (found: number, what: string): void => {
      if (found !== lookupKeys / 2) throw new Error(`${what} found ${found} of ${lookupKeys / 2} stored keys`);
    };
    const rocksLookups = createStoredKeys(clickhouse, { windowMs: 7 * 86_400_000 });
    const rocks = await timed(lookups, async () => expectHalf((await rocksLookups.storedAmong(keys, own)).size, 'dedup_keys'));
    const mergeTree = await timed(lookups, async () => {
      const rows = await clickhouse?.queryRows(`SELECT DISTINCT insert_id FROM ${mergeTreeTable} WHERE dataset_id = {d:String} AND insert_id IN {ids:Array(String)}`, { d: dataset, ids });
      expectHalf(rows?.length ?? 0, mergeTreeTable);
    });
    // The Set baseline holds as many keys of the same shape, the stored half of the lookup among them.
    const { bytesPerKey: setBytes, set } = setBytesPerKey(ids.filter((_, i) => i % 2 === 0), target);
    const inMemory = await timed(lookups, () => Promise.resolve(expectHalf(keys.filter((k) => set.has(`${k.dataset_id}/${k.insert_id}`)).length, 'the Set')));
    set.clear();

    const rocksDisk = directoryBytes(rocksPath.path) / target;
    const [mergeTreeParts] = await clickhouse.queryRows<{ disk: number; index: number }>(
      `SELECT sum(bytes_on_disk) AS disk, sum(primary_key_bytes_in_memory_allocated) AS index FROM system.parts WHERE database = currentDatabase() AND table = '${mergeTreeTable}' AND active`,
    );
    // The probe opens the data directory itself: chDB allows one process per directory.
    await clickhouse.close();
    clickhouse = undefined;
    const rocksMemory = lookupMemory(dataPath, 'dedup_keys', ids) / target;
    const mergeTreeMemory = lookupMemory(dataPath, mergeTreeTable, ids) / target;
    clickhouse = await openClickHouse({ dataPath, database, logger });

    const label = `${(target / 1e6).toFixed(0)}M keys`;
    context.log(
      `${label}: worker heap 0 B/key. dedup_keys (RocksDB): ${rocksMemory.toFixed(2)} B/key of ClickHouse memory, ${rocksDisk.toFixed(1)} B/key on disk, lookup ${rocks.medianMs.toFixed(1)} ms. ` +
        `MergeTree: ${mergeTreeMemory.toFixed(2)} B/key of memory (primary index ${((mergeTreeParts?.index ?? 0) / target).toFixed(3)}), ${((mergeTreeParts?.disk ?? 0) / target).toFixed(1)} B/key on disk, lookup ${mergeTree.medianMs.toFixed(1)} ms. ` +
        `JavaScript Set: ${setBytes.toFixed(1)} B/key of heap, lookup ${inMemory.medianMs.toFixed(2)} ms`,
    );
    details[label] = {
      workerHeapBytesPerKey: 0,
      dedupKeys: { memoryBytesPerKey: rocksMemory, diskBytesPerKey: rocksDisk, lookupMedianMs: rocks.medianMs },
      mergeTreeBaseline: { memoryBytesPerKey: mergeTreeMemory, primaryIndexBytesPerKey: (mergeTreeParts?.index ?? 0) / target, diskBytesPerKey: (mergeTreeParts?.disk ?? 0) / target, lookupMedianMs: mergeTree.medianMs },
      javascriptSetBaseline: { heapBytesPerKey: setBytes, lookupMedianMs: inMemory.medianMs },
    };
    measurements.push({
      phase: label,
      name: `look up ${lookupKeys} keys (half stored) in dedup_keys`,
      value: rocks.medianMs,
      unit: 'ms',
      better: 'lower',
      baseline: { value: mergeTree.medianMs, what: 'a MergeTree keyed table (before)' },
      goal: null,
      check: null,
      note: `max ${rocks.maxMs.toFixed(1)} ms; JS Set ${inMemory.medianMs.toFixed(2)} ms`,
    });
    measurements.push({
      phase: label,
      name: 'memory per remembered key (ClickHouse RSS growth)',
      value: rocksMemory,
      unit: 'B/key',
      better: 'lower',
      baseline: { value: setBytes, what: 'a JavaScript Set in the worker' },
      goal: null,
      check: null,
      note: `worker heap 0 B/key; disk ${rocksDisk.toFixed(1)} B/key`,
    });
  }
  await clickhouse.close();
  clickhouse = undefined;
  return { measurements, details, failures: [] };
}

export const dedupScenario: Scenario = {
  name: 'dedup',
  description: 'bytes per remembered dedup key at 1M and 10M keys and one block lookup (dedup_keys against a MergeTree table and a JavaScript Set)',
  options: [{ name: 'keys', description: 'keys for the second measurement', default: 10_000_000, min: 1_000_001 }],
  run,
};
