import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SluiceError, type Logger } from '@sluice/core';
import type { ClickHouse } from './clickhouse';
import { migrationsTableDdl, renderMigrations, singleNode, type Topology } from './cluster-ddl';

/** The package's migrations/ folder, beside src/ and dist/ alike: an asset that ships with the package. */
export const migrationsDirectory = join(__dirname, '..', 'migrations');

export interface Migration {
  version: number;
  name: string;
  checksum: string;
  statements: string[];
}

/** Files are NNNN_description.sql; statements end with a semicolon at the end of a line. */
export function loadMigrations(directory = migrationsDirectory): Migration[] {
  const files = readdirSync(directory).filter((f) => f.endsWith('.sql')).sort();
  const migrations = files.map((file) => {
    const match = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!match?.[1] || !match[2]) throw new SluiceError('INVALID_CONFIG', `Migration file ${file} must be named NNNN_description.sql`);
    const text = readFileSync(join(directory, file), 'utf8');
    const statements = text
      .split(/;\s*$/m)
      .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
      .filter((s) => s !== '');
    return { version: Number(match[1]), name: match[2], checksum: createHash('sha256').update(text).digest('hex'), statements };
  });
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new SluiceError('INVALID_CONFIG', `Migrations must be numbered 0001, 0002, ... without gaps; found ${String(m.version).padStart(4, '0')} in position ${i + 1}`);
  });
  return migrations;
}

interface AppliedRow {
  version: number;
  checksum: string;
}

/**
 * Applies the migrations not yet recorded, in order, and records each. Statements are written
 * to be safe to run twice (IF NOT EXISTS), so a run cut off mid-migration simply resumes.
 * An applied migration whose file changed is refused: migrations are append-only. On a cluster
 * the statements are the cluster forms of the same files (cluster-ddl.ts), checked by the same
 * checksums, and the record of what ran is one replicated table that every node reads.
 */
export async function applyMigrations(clickhouse: ClickHouse, logger: Logger, migrations = loadMigrations(), topology: Topology = singleNode): Promise<Migration[]> {
  const rendered = renderMigrations(migrations, topology);
  await clickhouse.command(migrationsTableDdl(topology));
  const applied = new Map(
    (await clickhouse.queryRows<AppliedRow>('SELECT version, argMax(checksum, applied_at) AS checksum FROM schema_migrations GROUP BY version')).map((r) => [
      r.version,
      r.checksum,
    ]),
  );
  const done: Migration[] = [];
  for (const migration of rendered) {
    const recorded = applied.get(migration.version);
    if (recorded !== undefined) {
      if (recorded !== migration.checksum) {
        throw new SluiceError(
          'INVALID_CONFIG',
          `Migration ${migration.version} (${migration.name}) was changed after it was applied; add a new migration instead of editing an applied one`,
        );
      }
      continue;
    }
    for (const statement of migration.statements) await clickhouse.command(statement);
    await clickhouse.insertRows('schema_migrations', [{ version: migration.version, name: migration.name, checksum: migration.checksum }]);
    logger.info('applied ClickHouse migration', { version: migration.version, name: migration.name });
    done.push(migration);
  }
  return done;
}
