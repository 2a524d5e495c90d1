/**
 * The cluster DDL (CLICKHOUSE_CLUSTER) against ClickHouse's own parser. No server with Keeper and
 * remote_servers can run here, so every statement of both modes goes through formatQuery in chDB,
 * which parses it as a server would; the golden file (packages/clickhouse/src/cluster-ddl.golden.sql)
 * pins what the statements say.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadMigrations, migrationsTableDdl, renderMigrations, singleNode, type Topology } from '@sluice/clickhouse';
import { repositoryRoot } from '@sluice/dev';
import { spawnCaptured } from '../helpers/processes';
import { clickhouseParser } from '../helpers/clickhouse-parser';

const parsed = clickhouseParser();


const cluster: Topology = { mode: 'cluster', cluster: 'c1' };
const everyStatement = (topology: Topology): string[] => [migrationsTableDdl(topology), ...renderMigrations(loadMigrations(), topology).flatMap((m) => m.statements)];

test.each([
  ['one node', singleNode],
  ['the cluster c1', cluster],
])('every statement for %s parses in ClickHouse', async (_mode, topology) => {
  const statements = everyStatement(topology);
  for (const statement of statements) await expect(parsed(statement)).resolves.toMatch(/^(CREATE|ALTER|DROP|INSERT)/);
});

test('as ClickHouse reads them, the cluster creates only Replicated and Distributed tables, each ON CLUSTER c1', async () => {
  const creates = everyStatement(cluster).filter((s) => s.startsWith('CREATE TABLE'));
  for (const statement of creates) {
    const formatted = await parsed(statement);
    expect(formatted).toMatch(/^CREATE TABLE IF NOT EXISTS \w+ ON CLUSTER c1\b/);
    expect(formatted).toMatch(/\bENGINE = (Replicated\w*MergeTree\('\/clickhouse\/tables\/(\{shard\}|all)\/\{database\}\/|Distributed\(c1, currentDatabase\(\), \w+_local)/);
  }
});

test('the parser check fails on a statement ClickHouse cannot parse', async () => {
  await expect(parsed('CREATE TABLE events ON CLUSTER c1 AS events_local ENGINE = Distributed(c1,')).rejects.toThrow(/Syntax error/);
});

test('`CLICKHOUSE_CLUSTER=c1 npm run migrate -- --print` prints the golden DDL, and without the variable the single-node DDL', () => {
  const print = (env: NodeJS.ProcessEnv) => spawnSync('npm', ['run', '-s', 'migrate', '--', '--print'], { cwd: repositoryRoot, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
  const clustered = print({ CLICKHOUSE_CLUSTER: 'c1' });
  expect([clustered.status, clustered.stderr]).toEqual([0, '']);
  expect(clustered.stdout).toBe(readFileSync(join(repositoryRoot, 'packages', 'clickhouse', 'src', 'cluster-ddl.golden.sql'), 'utf8'));
  const single = print({ CLICKHOUSE_CLUSTER: '' });
  expect(single.status).toBe(0);
  expect(single.stdout).toContain('-- 0001 events\nCREATE TABLE IF NOT EXISTS events\n');
  expect(single.stdout).not.toContain('ON CLUSTER');
});

test.each([
  [{ CLICKHOUSE_CLUSTER: 'c1', CLICKHOUSE_URL: 'http://127.0.0.1:9' }, "worker failed to start: CLICKHOUSE_CLUSTER is set: list the cluster's shards in CLICKHOUSE_SHARD_URLS"],
  [{ CLICKHOUSE_SHARD_URLS: 'http://127.0.0.1:9,http://127.0.0.1:10', CLICKHOUSE_URL: 'http://127.0.0.1:9' }, 'worker failed to start: Set CLICKHOUSE_URL (one server) or CLICKHOUSE_SHARD_URLS (one URL per shard), not both'],
  [{ CLICKHOUSE_SHARD_URLS: 'http://127.0.0.1:9,shard-2:8123' }, 'CLICKHOUSE_SHARD_URLS'],
])('a worker given %j refuses to start, saying why, rather than placing partitions wrongly', async (env, expected) => {
  const worker = spawnCaptured(process.execPath, ['--import', 'tsx', 'services/worker/src/main.ts'], {
    cwd: repositoryRoot,
    env: { ...process.env, CLICKHOUSE_CLUSTER: '', CLICKHOUSE_URL: '', CLICKHOUSE_SHARD_URLS: '', ...env, LOG_LEVEL: 'error' },
  });
  let timer: NodeJS.Timeout | undefined;
  const exited = await Promise.race([worker.exit, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), 60_000)))]);
  clearTimeout(timer);
  if (exited === undefined) worker.child.kill('SIGKILL');
  expect(exited).toEqual({ code: 1, signal: null });
  expect(worker.output()).toContain(expected);
});
