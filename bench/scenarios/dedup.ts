/**
 * Dedup keys: what remembering 1M and 10M (dataset_id, insert_id) keys costs. The worker keeps
 * none in its own memory: they live in ClickHouse's event_keys table, whose sparse primary index
 * is all ClickHouse holds in memory for them. The baseline, measured in the same run, is the
 * obvious alternative: a JavaScript Set of the same keys in the worker's heap.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@sluice/core';
import { applyMigrations, openClickHouse } from '@sluice/clickhouse';
import { createStoredKeys } from '../../services/worker/src/stored-keys';
import type { Measurement, Scenario, ScenarioContext, ScenarioResult } from '../run';

const dataset = 'bench-dedup';
const lookupKeys = 1_000;
const insertChunk = 250_000;

/** The i-th insert id: a UUID-shaped string of scrambled bits, like the gateway's random ones (they compress as badly). */
function insertId(i: number): string {
  const word = (seed: number): string => {
    let x = Math.imul(i ^ seed, 0x9e3779b1);
    x = Math.imul(x ^ (x >>> 15), 0x85ebca6b);
    x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
    return ((x ^ (x >>> 16)) >>> 0).toString(16).padStart(8, '0');
  };
  const hex = word(0x1234567) + word(0x2345678) + word(0x3456789) + word(0x456789a);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

async function median(times: number, action: () => Promise<void>): Promise<{ medianMs: number; maxMs: number }> {
  const samples: number[] = [];
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    await action();
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  return { medianMs: samples[Math.floor(samples.length / 2)] ?? 0, maxMs: samples.at(-1) ?? 0 };
}

/** Heap bytes per key of a Set holding the same keys as strings, the way an in-process cache would. */
function setBytesPerKey(keys: number): { bytesPerKey: number; set: Set<string> } {
  globalThis.gc?.();
  const before = process.memoryUsage().heapUsed;
  const set = new Set<string>();
  // Flat strings, as keys read from Kafka would be (a template literal alone leaves a heavier rope).
  for (let i = 0; i < keys; i++) set.add(Buffer.from(`${dataset}/${insertId(i)}`).toString());
  globalThis.gc?.();
  return { bytesPerKey: (process.memoryUsage().heapUsed - before) / keys, set };
}

async function run(context: ScenarioContext): Promise<ScenarioResult> {
  const dataPath = mkdtempSync(join(tmpdir(), 'sluice-bench-dedup-'));
  context.onCleanup(() => rmSync(dataPath, { recursive: true, force: true }));
  const logger = createLogger({ level: 'warn' });
  const clickhouse = await openClickHouse({ dataPath, database: 'sluice_bench', logger });
  let open = true;
  context.onCleanup(async () => {
    if (open) await clickhouse.close();
    open = false;
  });
  await applyMigrations(clickhouse, logger);
  const storedKeys = createStoredKeys(clickhouse, { windowMs: 7 * 86_400_000 });
  const measurements: Measurement[] = [];
  const details: Record<string, unknown> = {};
  let loaded = 0;
  for (const target of [1_000_000, context.options.keys ?? 10_000_000]) {
    context.signal.throwIfAborted();
    const receivedAt = Date.now();
    for (let start = loaded; start < target; start += insertChunk) {
      context.signal.throwIfAborted();
      const rows = Array.from({ length: Math.min(insertChunk, target - start) }, (_, j) => ({
        dataset_id: dataset,
        insert_id: insertId(start + j),
        received_at: receivedAt,
        kafka_partition: (start + j) % 6,
        kafka_offset: start + j,
      }));
      await clickhouse.insertRows('event_keys', rows);
    }
    loaded = target;
    context.log(`${target.toLocaleString('en-US')} keys in event_keys`);
    await clickhouse.command('OPTIMIZE TABLE event_keys FINAL');
    const [parts] = await clickhouse.queryRows<{ disk: number; index: number; rows: number }>(
      `SELECT sum(bytes_on_disk) AS disk, sum(primary_key_bytes_in_memory_allocated) AS index, sum(rows) AS rows
       FROM system.parts WHERE database = currentDatabase() AND table = 'event_keys' AND active`,
    );
    const rows = parts?.rows ?? 0;
    const clickhouseMemoryPerKey = (parts?.index ?? 0) / rows;
    const diskPerKey = (parts?.disk ?? 0) / rows;
    const { bytesPerKey, set } = setBytesPerKey(target);
    // A block's lookup: half of its keys stored, half new.
    const keys = Array.from({ length: lookupKeys }, (_, i) => ({ dataset_id: dataset, insert_id: insertId(i % 2 === 0 ? i * 997 % target : target + i) }));
    const own = { partition: 99, firstOffset: '0', lastOffset: '0' };
    const lookup = await median(9, async () => {
      const found = await storedKeys.storedAmong(keys, own);
      if (found.size !== lookupKeys / 2) throw new Error(`the lookup found ${found.size} of ${lookupKeys / 2} stored keys`);
    });
    const inMemory = await median(9, () => {
      let found = 0;
      for (const key of keys) if (set.has(`${key.dataset_id}/${key.insert_id}`)) found++;
      return found === lookupKeys / 2 ? Promise.resolve() : Promise.reject(new Error(`the Set found ${found} of ${lookupKeys / 2} keys`));
    });
    const label = `${(target / 1e6).toFixed(0)}M keys`;
    context.log(
      `${label}: worker memory 0 B/key; ClickHouse index in memory ${clickhouseMemoryPerKey.toFixed(3)} B/key; on disk ${diskPerKey.toFixed(1)} B/key; ` +
        `a JavaScript Set of the same keys ${bytesPerKey.toFixed(1)} B/key of heap`,
    );
    details[label] = { rows, clickhouseIndexBytesPerKey: clickhouseMemoryPerKey, diskBytesPerKey: diskPerKey, javascriptSetBytesPerKey: bytesPerKey };
    measurements.push({ phase: label, query: `look up ${lookupKeys} keys (half stored)`, ...lookup, baselineMedianMs: inMemory.medianMs, goalMs: null, check: null });
  }
  await clickhouse.close();
  open = false;
  return { measurements, details, failures: [] };
}

export const dedupScenario: Scenario = {
  name: 'dedup',
  description: 'bytes per remembered dedup key at 1M and 10M keys (ClickHouse event_keys against a JavaScript Set), and the lookup time of one block',
  options: [{ name: 'keys', description: 'keys for the second measurement', default: 10_000_000, min: 1_000_001 }],
  run,
};
