import { spawnSync } from 'node:child_process';
import { repositoryRoot } from '@sluice/dev';

/** `npm run keys -- ARGS` as a user runs it (scripts/keys.ts in its own process), with no KEYS_FILE or CLICKHOUSE_DATABASE unless `env` sets them. */
export function runKeysCli(args: readonly string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/keys.ts', ...args], {
    cwd: repositoryRoot,
    encoding: 'utf8',
    env: { ...process.env, KEYS_FILE: '', CLICKHOUSE_DATABASE: '', ...env },
    timeout: 60_000,
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
