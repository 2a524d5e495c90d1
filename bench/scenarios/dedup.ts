/**
 * Dedup keys: what remembering 1M and 10M (dataset_id, insert_id) keys costs, and how long one
 * block's lookup of 1,000 keys takes, in both stores the worker has (createWorkerState). The worker
 * keeps no keys in its own memory: they live in ClickHouse's dedup_keys table, an EmbeddedRocksDB
 * table on a single node, and on a cluster a ReplicatedReplacingMergeTree ordered by the key, read
 * with FINAL. The cluster's table is created from the cluster DDL with the engine the Replicated one
 * wraps (chDB has no Keeper): replication does not change the read path measured, since a replica
 * answers a SELECT from its own parts exactly as the plain engine does, and Keeper takes part only
 * in writes and merges. Its parts are merged into one before the lookups, as a shard's settle
 * between inserts. A JavaScript Set of the same keys in the worker's heap is measured as well.
 *
 * Lookups are timed by the clock and by this process's CPU time (chDB runs in it), which the other
 * work on a shared machine does not inflate.
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
import { createWorkerState } from '@sluice/worker';
import { createClusterStateTables } from '../../test/helpers/cluster-state';
import type { Measurement, Scenario, ScenarioContext, ScenarioResult } from '../run';

const dataset = 'bench-dedup';
const database = 'sluice_bench';
const lookupKeys = 1_000;
const lookups = 9;
/** The cluster's dedup_keys lives in a database of its own, beside the single node's. */
const clusterDatabase = 'sluice_bench_cluster';

/** The insert id of key number n: UUID-shaped and scrambled, like the gateway's random ones; computed by ClickHouse so 10M keys load in seconds. */
const insertIdSql = (n: string): string => `toString(reinterpretAsUUID(sipHash128(${n})))`;

interface Timing {
  medianMs: number;
  maxMs: number;
  /** CPU time of this process (chDB's threads included), median. */
  cpuMedianMs: number;
}

const median = (samples: number[]): number => samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)] ?? 0;

async function timed(times: number, action: () => Promise<void>): Promise<Timing> {
  const samples: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    await action();
    const cpuUsed = process.cpuUsage(cpuBefore);
    samples.push(performance.now() - started);
    cpu.push((cpuUsed.user + cpuUsed.system) / 1000);
  }
  return { maxMs: Math.max(...samples), medianMs: median(samples), cpuMedianMs: median(cpu) };
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

/** RSS growth of a fresh process that opens the data directory and runs 50 lookups on `from` (a table, read FINAL on a cluster) in `inDatabase`. */
function lookupMemory(dataPath: string, inDatabase: string, from: string, ids: readonly string[]): number {
  const probe = join(__dirname, 'dedup-memory-probe.ts');
  const result = spawnSync(process.execPath, ['--import', 'tsx', probe, dataPath, inDatabase, from, dataset, JSON.stringify(ids)], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  const line = result.stdout.trim().split('\n').at(-1) ?? '';
  const parsed = /^rss growth (\d+)$/.exec(line);
  if (result.status !== 0 || !parsed?.[1]) throw new Error(`the memory probe failed (${result.status}): ${result.stderr.slice(-500)}`);
  return Number(parsed[1]);
}

async function load(clickhouse: ClickHouse, from: number, to: number): Promise<void> {
  const select = `SELECT '${dataset}', ${insertIdSql('number')}, now64(3), number % 6, number FROM numbers(${from}, ${to - from})`;
  await clickhouse.command(`INSERT INTO dedup_keys ${select}`);
  await clickhouse.command(`INSERT INTO ${clusterDatabase}.dedup_keys ${select}`);
}

async function run(context: ScenarioContext): Promise<ScenarioResult> {
  const dataPath = mkdtempSync(join(tmpdir(), 'sluice-bench-dedup-'));
  context.onCleanup(() => rmSync(dataPath, { recursive: true, force: true }));
  const logger = createLogger({ level: 'warn' });
  let clickhouse: ClickHouse | undefined = await openClickHouse({ dataPath, database, logger });
  let cluster: ClickHouse | undefined = await openClickHouse({ dataPath, database: clusterDatabase, logger });
  context.onCleanup(async () => {
    await clickhouse?.close();
    await cluster?.close();
    clickhouse = undefined;
    cluster = undefined;
  });
  await applyMigrations(clickhouse, logger);
  await createClusterStateTables(cluster);
  const [rocksPath] = await clickhouse.queryRows<{ path: string }>(`SELECT data_paths[1] AS path FROM system.tables WHERE database = currentDatabase() AND name = 'dedup_keys'`);
  if (rocksPath === undefined) throw new Error('dedup_keys has no data path');

  const measurements: Measurement[] = [];
  const details: Record<string, unknown> = {};
  let loaded = 0;
  for (const target of [1_000_000, context.options.keys ?? 10_000_000]) {
    context.signal.throwIfAborted();
    await load(clickhouse, loaded, target);
    loaded = target;
    await clickhouse.command(`OPTIMIZE TABLE ${clusterDatabase}.dedup_keys FINAL`);
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
    const windowMs = 7 * 86_400_000;
    const { storedKeys: rocksLookups } = createWorkerState(clickhouse, { mode: 'single', windowMs });
    const { storedKeys: clusterLookups } = createWorkerState(cluster, { mode: 'cluster', windowMs });
    const rocks = await timed(lookups, async () => expectHalf((await rocksLookups.storedAmong(keys, own)).size, 'dedup_keys (RocksDB)'));
    const clusterLookup = await timed(lookups, async () => expectHalf((await clusterLookups.storedAmong(keys, own)).size, "the cluster's dedup_keys"));
    // The Set baseline holds as many keys of the same shape, the stored half of the lookup among them.
    const { bytesPerKey: setBytes, set } = setBytesPerKey(ids.filter((_, i) => i % 2 === 0), target);
    const inMemory = await timed(lookups, () => Promise.resolve(expectHalf(keys.filter((k) => set.has(`${k.dataset_id}/${k.insert_id}`)).length, 'the Set')));
    set.clear();

    const rocksDisk = directoryBytes(rocksPath.path) / target;
    const [clusterParts] = await clickhouse.queryRows<{ disk: number; index: number }>(
      `SELECT sum(bytes_on_disk) AS disk, sum(primary_key_bytes_in_memory_allocated) AS index FROM system.parts WHERE database = '${clusterDatabase}' AND table = 'dedup_keys' AND active`,
    );
    const clusterDisk = (clusterParts?.disk ?? 0) / target;
    const clusterIndex = (clusterParts?.index ?? 0) / target;
    // The probe opens the data directory itself: chDB allows one process per directory.
    await clickhouse.close();
    await cluster?.close();
    clickhouse = undefined;
    cluster = undefined;
    const rocksMemory = lookupMemory(dataPath, database, 'dedup_keys', ids) / target;
    const clusterMemory = lookupMemory(dataPath, clusterDatabase, 'dedup_keys FINAL', ids) / target;
    clickhouse = await openClickHouse({ dataPath, database, logger });
    cluster = await openClickHouse({ dataPath, database: clusterDatabase, logger });

    const label = `${(target / 1e6).toFixed(0)}M keys`;
    const lookupNote = (timing: Timing): string => `max ${timing.maxMs.toFixed(1)} ms, CPU ${timing.cpuMedianMs.toFixed(1)} ms`;
    context.log(
      `${label}: worker heap 0 B/key. Single node, dedup_keys (RocksDB): ${rocksMemory.toFixed(2)} B/key of ClickHouse memory, ${rocksDisk.toFixed(1)} B/key on disk, lookup ${rocks.medianMs.toFixed(1)} ms (${lookupNote(rocks)}). ` +
        `Cluster, dedup_keys (ReplacingMergeTree, FINAL): ${clusterMemory.toFixed(2)} B/key of memory (primary index ${clusterIndex.toFixed(3)}), ${clusterDisk.toFixed(1)} B/key on disk, lookup ${clusterLookup.medianMs.toFixed(1)} ms (${lookupNote(clusterLookup)}). ` +
        `JavaScript Set: ${setBytes.toFixed(1)} B/key of heap, lookup ${inMemory.medianMs.toFixed(2)} ms`,
    );
    details[label] = {
      workerHeapBytesPerKey: 0,
      singleNodeRocksDb: { memoryBytesPerKey: rocksMemory, diskBytesPerKey: rocksDisk, lookupMedianMs: rocks.medianMs, lookupMaxMs: rocks.maxMs, lookupCpuMedianMs: rocks.cpuMedianMs },
      clusterReplacingMergeTree: {
        memoryBytesPerKey: clusterMemory,
        primaryIndexBytesPerKey: clusterIndex,
        diskBytesPerKey: clusterDisk,
        lookupMedianMs: clusterLookup.medianMs,
        lookupMaxMs: clusterLookup.maxMs,
        lookupCpuMedianMs: clusterLookup.cpuMedianMs,
      },
      javascriptSetBaseline: { heapBytesPerKey: setBytes, lookupMedianMs: inMemory.medianMs },
    };
    measurements.push({
      phase: label,
      name: `single node: look up ${lookupKeys} keys (half stored) in dedup_keys (EmbeddedRocksDB)`,
      value: rocks.medianMs,
      unit: 'ms',
      better: 'lower',
      baseline: null,
      goal: null,
      check: null,
      note: `${lookupNote(rocks)}; JS Set ${inMemory.medianMs.toFixed(2)} ms`,
    });
    measurements.push({
      phase: label,
      name: `cluster: look up ${lookupKeys} keys (half stored) in dedup_keys (ReplicatedReplacingMergeTree, FINAL)`,
      value: clusterLookup.medianMs,
      unit: 'ms',
      better: 'lower',
      baseline: { value: rocks.medianMs, what: "the single node's EmbeddedRocksDB" },
      goal: null,
      check: null,
      note: lookupNote(clusterLookup),
    });
    measurements.push({
      phase: label,
      name: 'single node: memory per remembered key (ClickHouse RSS growth)',
      value: rocksMemory,
      unit: 'B/key',
      better: 'lower',
      baseline: { value: setBytes, what: 'a JavaScript Set in the worker' },
      goal: null,
      check: null,
      note: `worker heap 0 B/key; disk ${rocksDisk.toFixed(1)} B/key`,
    });
    measurements.push({
      phase: label,
      name: 'cluster: memory per remembered key (ClickHouse RSS growth)',
      value: clusterMemory,
      unit: 'B/key',
      better: 'lower',
      baseline: { value: rocksMemory, what: "the single node's EmbeddedRocksDB" },
      goal: null,
      check: null,
      note: `disk ${clusterDisk.toFixed(1)} B/key (RocksDB ${rocksDisk.toFixed(1)}); primary index ${clusterIndex.toFixed(3)} B/key`,
    });
  }
  await clickhouse.close();
  await cluster.close();
  clickhouse = undefined;
  cluster = undefined;
  return { measurements, details, failures: [] };
}

export const dedupScenario: Scenario = {
  name: 'dedup',
  description: "bytes per remembered dedup key at 1M and 10M keys and one block lookup, in both modes' dedup_keys (EmbeddedRocksDB on a single node, the cluster's ReplacingMergeTree read FINAL) and a JavaScript Set",
  options: [{ name: 'keys', description: 'keys for the second measurement', default: 10_000_000, min: 1_000_001 }],
  run,
};
