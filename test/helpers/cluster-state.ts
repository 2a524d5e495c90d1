import { loadMigrations, renderMigrations, type ClickHouse } from '@sluice/clickhouse';

/**
 * A statement of the cluster DDL as chDB can run it: chDB has no Keeper and no cluster, so the
 * table is created here only, with the engine the Replicated one wraps. Columns, sorting key,
 * version column, TTL and settings stay exactly as the cluster DDL renders them.
 */
export function withoutReplication(statement: string): string {
  return statement.replace(/ ON CLUSTER [\w-]+/, '').replace(/\bReplicated(\w*MergeTree)\('[^']*', '[^']*'(, )?/, '$1(');
}

/** The worker's state tables (dedup_keys, insert_block_log, insert_joint_log) in the current database, as a cluster's shard has them. */
export async function createClusterStateTables(clickhouse: Pick<ClickHouse, 'command'>): Promise<void> {
  const statements = renderMigrations(loadMigrations(), { mode: 'cluster', cluster: 'c1' })
    .flatMap((migration) => migration.statements)
    .filter((statement) => /^CREATE TABLE IF NOT EXISTS (dedup_keys|insert_block_log|insert_joint_log) /.test(statement));
  if (statements.length !== 3) throw new Error(`expected the cluster DDL to create dedup_keys, insert_block_log and insert_joint_log once each, found ${statements.length} statements`);
  for (const statement of statements) await clickhouse.command(withoutReplication(statement));
}
