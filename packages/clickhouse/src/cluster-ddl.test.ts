import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SluiceError, silentLogger } from '@sluice/core';
import { distributedTables, localTableName, renderMigrations, shardOfPartition, singleNode, type Topology } from './cluster-ddl';
import { migrationScript, runMigrateCommand } from './migrate-cli';
import { loadMigrations, type Migration } from './migrations';

const goldenFile = join(__dirname, 'cluster-ddl.golden.sql');
const cluster: Topology = { mode: 'cluster', cluster: 'c1' };
const statementsOf = (migrations: readonly Migration[]): string[] => migrations.flatMap((m) => m.statements);
const clusterStatements = statementsOf(renderMigrations(loadMigrations(), cluster));

/** The name and engine of every CREATE TABLE among the statements. */
function createdTables(statements: readonly string[]): Array<{ name: string; engine: string }> {
  return statements.flatMap((statement) => {
    const match = /^CREATE TABLE IF NOT EXISTS (\w+)[\s\S]*?\bENGINE = (\w+)/.exec(statement);
    return match ? [{ name: match[1] ?? '', engine: match[2] ?? '' }] : [];
  });
}

describe('cluster DDL', () => {
  test('CLICKHOUSE_CLUSTER=c1 renders to the committed golden file', () => {
    const fresh = migrationScript(cluster);
    const golden = readFileSync(goldenFile, 'utf8');
    if (fresh !== golden) {
      const freshLines = fresh.split('\n');
      const line = golden.split('\n').findIndex((text, i) => text !== freshLines[i]);
      throw new Error(
        `${goldenFile} differs from a fresh render at line ${line + 1}: ${JSON.stringify(freshLines[line] ?? '')}; if the change is meant, ` +
          'write `CLICKHOUSE_CLUSTER=c1 npm run -s migrate -- --print` there and review the diff',
      );
    }
  });

  test('on one node the migrations run exactly as their files say', () => {
    expect(renderMigrations(loadMigrations(), singleNode)).toEqual(loadMigrations());
  });

  test('every table is Replicated or Distributed, and every analyst-facing table keeps its name as a Distributed table over its local one', () => {
    const tables = createdTables(clusterStatements);
    expect(tables.length).toBeGreaterThan(10);
    for (const { name, engine } of tables) expect([name, engine]).toEqual([name, expect.stringMatching(/^(Replicated(Replacing|Summing|Aggregating)?MergeTree|Distributed)$/)]);
    const engines = new Map(tables.map((t) => [t.name, t.engine]));
    for (const name of ['events', 'search_requests', 'item_ctr_totals', 'conversion_totals', 'outcome_totals', 'events_rejected', 'events_replayed']) {
      expect([name, engines.get(name), engines.get(localTableName(name))]).toEqual([name, 'Distributed', expect.stringMatching(/^Replicated/)]);
    }
    // What the worker's placement writes under local names: the Distributed tables the migrations leave (event_keys and insert_blocks are dropped).
    expect([...distributedTables(loadMigrations(), 'c1')].sort()).toEqual(['conversion_totals', 'events', 'events_rejected', 'events_replayed', 'item_ctr_totals', 'outcome_totals', 'search_requests']);
    // The worker's own state, read point by point on its shard: replicated, never Distributed.
    expect([engines.get('dedup_keys'), engines.get('insert_block_log')]).toEqual(['ReplicatedReplacingMergeTree', 'ReplicatedReplacingMergeTree']);
  });

  test('every statement runs ON CLUSTER, and no single-node engine or setting is left', () => {
    for (const statement of clusterStatements) expect(statement.split('\n')[0]).toMatch(/ ON CLUSTER c1\b/);
    const script = clusterStatements.join('\n');
    expect(script).not.toMatch(/EmbeddedRocksDB|non_replicated_deduplication_window|ENGINE = (Replacing|Summing|Aggregating)?MergeTree\b/);
  });

  test('materialized views fire on the local events table and write to local targets', () => {
    const views = clusterStatements.filter((s) => s.startsWith('CREATE MATERIALIZED VIEW') || / MODIFY QUERY/.test(s));
    expect(views.length).toBeGreaterThanOrEqual(6);
    for (const view of views) {
      expect(view).toMatch(/\bFROM events_local AS events\b/);
      expect(view).not.toMatch(/\bFROM events\b(?! *_)/);
    }
  });

  test('a Distributed table with kafka_partition shards by it, as the worker places partitions', () => {
    expect(clusterStatements.find((s) => s.startsWith('CREATE TABLE IF NOT EXISTS events ON CLUSTER'))).toMatch(/ENGINE = Distributed\(c1, currentDatabase\(\), events_local, kafka_partition\)$/);
    expect([0, 1, 2, 3, 4, 5].map((partition) => shardOfPartition(partition, 2))).toEqual([0, 1, 0, 1, 0, 1]);
    expect(() => shardOfPartition(3, 0)).toThrow(SluiceError);
  });

  test("a later migration that moves data is refused until it says how it runs on a cluster; a bad cluster name is refused", () => {
    const later: Migration = { version: 8, name: 'backfill', checksum: '', statements: ['INSERT INTO events SELECT * FROM events'] };
    expect(() => renderMigrations([...loadMigrations(), later], cluster)).toThrow('Migration 8 (backfill) has no cluster form: it moves data');
    const unknown: Migration = { version: 8, name: 'odd', checksum: '', statements: ['OPTIMIZE TABLE events FINAL'] };
    expect(() => renderMigrations([unknown], cluster)).toThrow('Migration 8 (odd) has no cluster form: its statement is of a kind');
    expect(() => renderMigrations([], { mode: 'cluster', cluster: 'c1; DROP' })).toThrow('must match');
  });
});

describe('npm run migrate', () => {
  const run = async (argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string }> => {
    let out = '';
    let err = '';
    const code = await runMigrateCommand(argv, env, { out: (t) => void (out += t), err: (t) => void (err += t) }, silentLogger);
    return { code, out, err };
  };

  test('--print prints the mode the environment gives and connects to nothing', async () => {
    // A URL nothing listens on: printing must not try it.
    const env = { CLICKHOUSE_URL: 'http://127.0.0.1:9', CLICKHOUSE_CLUSTER: 'c1' };
    expect(await run(['--print'], env)).toEqual({ code: 0, out: migrationScript(cluster), err: '' });
    const single = await run(['--print'], { CLICKHOUSE_URL: 'http://127.0.0.1:9' });
    expect(single.code).toBe(0);
    expect(single.out).toContain('for one node');
    expect(single.out).not.toContain('ON CLUSTER');
  });

  test('refuses an unknown argument (2) and a bad cluster name (1), each with one line saying what is wrong', async () => {
    const unknown = await run(['--prnt'], {});
    expect([unknown.code, unknown.err.split('\n')[0]]).toEqual([2, 'npm run migrate: unknown argument "--prnt"']);
    const badName = await run(['--print'], { CLICKHOUSE_CLUSTER: 'c1;' });
    expect([badName.code, badName.err]).toEqual([1, expect.stringContaining('CLICKHOUSE_CLUSTER')]);
  });
});
