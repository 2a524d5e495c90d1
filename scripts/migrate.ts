/**
 * `npm run migrate [-- --print]`: applies the ClickHouse migrations, or prints them, for one node or
 * for the cluster CLICKHOUSE_CLUSTER names (@sluice/clickhouse, docs/deploy.md).
 *
 * Exit codes: 0 done, 1 failed (one line on stderr), 2 a usage error.
 */
import { runMigrateCommand } from '@sluice/clickhouse';
import { createLogger } from '@sluice/core';

runMigrateCommand(process.argv.slice(2), process.env, { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) }, createLogger({ level: 'warn' })).then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    process.stderr.write(`npm run migrate: ${String(error)}\n`);
    process.exitCode = 1;
  },
);
