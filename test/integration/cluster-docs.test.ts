/**
 * The SQL of docs/deploy.md's Cluster section (moving data from one node to a cluster, copying dedup
 * keys when shards or partitions are added) against ClickHouse's own parser, and against the tables
 * the migrations make: no cluster runs here, so each statement goes through formatQuery in chDB, and
 * every table it names must be one the cluster DDL (or, behind remote(), the single-node DDL) creates.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadMigrations, renderMigrations, singleNode, type Topology } from '@sluice/clickhouse';
import { repositoryRoot } from '@sluice/dev';
import { clickhouseParser } from '../helpers/clickhouse-parser';

const parsed = clickhouseParser();

/** The statements of every ```sql block in the Cluster section, each without its final semicolon. */
function documentedStatements(): string[] {
  const deploy = readFileSync(join(repositoryRoot, 'docs', 'deploy.md'), 'utf8');
  const section = /^## Cluster\n([\s\S]*?)^## /m.exec(deploy)?.[1] ?? '';
  const blocks = [...section.matchAll(/^ *```sql\n([\s\S]*?)^ *```$/gm)].map((match) => match[1] ?? '');
  return blocks.flatMap((block) =>
    block
      .split(/;\s*$/m)
      .map((statement) => statement.trim())
      .filter((statement) => statement !== ''),
  );
}

/** The tables (not views) the migrations leave in a topology. */
function tablesOf(topology: Topology): Set<string> {
  const tables = new Set<string>();
  for (const statement of renderMigrations(loadMigrations(), topology).flatMap((m) => m.statements)) {
    const created = /^CREATE TABLE IF NOT EXISTS (\w+)/.exec(statement)?.[1];
    if (created !== undefined) tables.add(created);
    const dropped = /^DROP TABLE IF EXISTS (\w+)/.exec(statement)?.[1];
    if (dropped !== undefined) tables.delete(dropped);
  }
  return tables;
}

const cluster: Topology = { mode: 'cluster', cluster: 'c1' };
const statements = documentedStatements();

test('the Cluster section has its statements: the copy of each shard, the dedup keys for a new placement, the checks, the clean-up', () => {
  expect(statements.filter((s) => s.startsWith('INSERT INTO')).length).toBeGreaterThanOrEqual(5);
  expect(statements.filter((s) => s.startsWith('SELECT')).length).toBeGreaterThanOrEqual(2);
  expect(statements.filter((s) => s.startsWith('TRUNCATE')).length).toBeGreaterThanOrEqual(1);
});

test.each(statements.map((statement) => [statement.split('\n')[0] ?? '', statement]))('parses in ClickHouse: %s', async (_first, statement) => {
  expect(await parsed(statement)).toMatch(/^(INSERT|SELECT|TRUNCATE)/);
});

test('each table a statement names exists: on the cluster, or on the old node behind remote()', () => {
  const clusterTables = tablesOf(cluster);
  const singleNodeTables = tablesOf(singleNode);
  const unknown: string[] = [];
  for (const statement of statements) {
    const oldNode = new Set([...statement.matchAll(/remote\('[^']+', sluice\.(\w+)/g)].map((m) => m[1] ?? ''));
    for (const name of oldNode) if (!singleNodeTables.has(name)) unknown.push(`old node: ${name}`);
    const withoutRemote = statement.replace(/remote\('[^']+', sluice\.\w+/g, '');
    for (const [, name = ''] of withoutRemote.matchAll(/sluice\.(\w+)/g)) if (!clusterTables.has(name)) unknown.push(`cluster: ${name}`);
  }
  expect(unknown).toEqual([]);
});

test("the clean-up after a cut-off copy empties every table the copy writes: the copied ones and the targets of the views on events_local", () => {
  const copied = statements.flatMap((s) => (/^INSERT INTO sluice\.(\w+)(?: SETTINGS insert_deduplicate = 0)?\s+SELECT \* FROM remote\(/.exec(s)?.[1] ?? []));
  const clusterTables = tablesOf(cluster);
  // Views whose target a later migration dropped (event_keys_mv) are gone with it.
  const viewTargets = renderMigrations(loadMigrations(), cluster)
    .flatMap((m) => m.statements)
    .flatMap((s) => /^CREATE MATERIALIZED VIEW IF NOT EXISTS \w+ ON CLUSTER c1 TO (\w+) AS\n[\s\S]*\bFROM events_local\b/.exec(s)?.[1] ?? [])
    .filter((target) => clusterTables.has(target));
  const truncated = statements.flatMap((s) => /^TRUNCATE TABLE sluice\.(\w+)$/.exec(s)?.[1] ?? []);
  expect(viewTargets.length).toBeGreaterThan(0);
  expect(new Set(truncated)).toEqual(new Set([...copied, ...viewTargets]));
});

test('each copy from the old node turns off insert deduplication, so that a copy run again after a TRUNCATE is not dropped as the first run\'s duplicate', () => {
  const copies = statements.filter((s) => s.startsWith('INSERT INTO') && s.includes('FROM remote('));
  expect(copies.length).toBeGreaterThan(0);
  expect(copies.filter((s) => !/^INSERT INTO sluice\.\w+ SETTINGS insert_deduplicate = 0\n/.test(s))).toEqual([]);
});
