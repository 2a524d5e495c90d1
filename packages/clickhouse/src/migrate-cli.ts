import { SluiceError, errorMessage, readSettings, type Logger } from '@sluice/core';
import { migrationsTableDdl, renderMigrations, type Topology } from './cluster-ddl';
import { loadMigrations } from './migrations';
import { applyMigrationsToEvery, clickhouseSettings, openConfiguredClickHouses, topologyOf } from './settings';

export const migrateUsage = `usage: npm run migrate [-- --print]

Applies Sluice's ClickHouse migrations not yet applied, where CLICKHOUSE_URL (a server),
CLICKHOUSE_SHARD_URLS (each shard) or CHDB_PATH (embedded chDB) says, in CLICKHOUSE_DATABASE. With CLICKHOUSE_CLUSTER=<name>, their
cluster forms, ON CLUSTER <name>: Replicated tables on every node and Distributed ones under the
names analysts query (docs/deploy.md, Cluster).

  --print   print every statement that would run, in the mode the environment gives, and run nothing`;

/** Every statement of the migrations as the topology runs them, as one SQL script. */
export function migrationScript(topology: Topology): string {
  const migrations = renderMigrations(loadMigrations(), topology);
  const where = topology.mode === 'single' ? 'one node' : `the cluster ${topology.cluster} (ON CLUSTER)`;
  const count = migrations.reduce((sum, m) => sum + m.statements.length, 1);
  const lines = [`-- Sluice's ClickHouse migrations for ${where}: ${migrations.length} migrations, ${count} statements.`, '', '-- The record of applied migrations', `${migrationsTableDdl(topology)};`];
  for (const migration of migrations) {
    lines.push('', `-- ${String(migration.version).padStart(4, '0')} ${migration.name}`);
    if (migration.statements.length === 0) lines.push('-- (nothing to run here)');
    for (const statement of migration.statements) lines.push(`${statement};`, '');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

/** Runs `npm run migrate`; returns the exit code (0 done, 1 failed, 2 usage). */
export async function runMigrateCommand(argv: readonly string[], env: NodeJS.ProcessEnv, io: { out(text: string): void; err(text: string): void }, logger: Logger): Promise<number> {
  const unknown = argv.filter((arg) => arg !== '--print');
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(`${migrateUsage}\n`);
    return 0;
  }
  if (unknown.length > 0) {
    io.err(`npm run migrate: unknown argument ${JSON.stringify(unknown[0])}\n${migrateUsage}\n`);
    return 2;
  }
  try {
    const config = readSettings(clickhouseSettings, env);
    const topology = topologyOf(config);
    if (argv.includes('--print')) {
      io.out(migrationScript(topology));
      return 0;
    }
    const clickhouses = await openConfiguredClickHouses(config, logger);
    try {
      const applied = await applyMigrationsToEvery(clickhouses, topology, logger);
      io.out(applied.length === 0 ? 'Every migration was already applied.\n' : `Applied ${applied.map((m) => `${String(m.version).padStart(4, '0')} ${m.name}`).join(', ')}.\n`);
    } finally {
      for (const clickhouse of clickhouses) await clickhouse.close();
    }
    return 0;
  } catch (error) {
    io.err(`npm run migrate: ${error instanceof SluiceError ? error.message : errorMessage(error)}\n`);
    return 1;
  }
}
