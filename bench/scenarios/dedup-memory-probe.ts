/**
 * Run by the dedup scenario as a fresh process: opens a data directory, runs 50 lookups of the
 * given keys, and prints how much its RSS grew. Usage: <dataPath> <database> <from> <dataset> <ids as JSON>, where
 * <from> is what the lookups read, as the mode's worker reads it: `dedup_keys`, or `dedup_keys FINAL` on a cluster.
 */
import { createLogger } from '@sluice/core';
import { openClickHouse } from '@sluice/clickhouse';

async function main(): Promise<void> {
  const [dataPath, database, from, dataset, idsJson] = process.argv.slice(2);
  if (!dataPath || !database || !from || !dataset || !idsJson) throw new Error('usage: <dataPath> <database> <from> <dataset> <ids as JSON>');
  const ids = JSON.parse(idsJson) as string[];
  const clickhouse = await openClickHouse({ dataPath, database, logger: createLogger({ level: 'warn' }) });
  // The same statement once before the baseline, so that what any query allocates is not counted as the table's.
  await clickhouse.queryRows(`SELECT count() FROM numbers(10) WHERE toString(number) IN {ids:Array(String)}`, { ids });
  const before = process.memoryUsage().rss;
  for (let i = 0; i < 50; i++) {
    await clickhouse.queryRows(`SELECT insert_id FROM ${from} WHERE dataset_id = {d:String} AND insert_id IN {ids:Array(String)}`, { d: dataset, ids });
  }
  const growth = Math.max(0, process.memoryUsage().rss - before);
  await clickhouse.close();
  process.stdout.write(`rss growth ${growth}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
