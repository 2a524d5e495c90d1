/**
 * clickhouse-connect, the official Python client, for tests that use it as an analyst would: a venv
 * under .cache with the pinned version, made on first use and reused while it has that version.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

export const runFile = promisify(execFile);

const repositoryRoot = join(__dirname, '..', '..');
const pinnedVersion = '1.12.0';
const venv = join(repositoryRoot, '.cache', 'python', 'clickhouse-connect');
const python = join(venv, 'bin', 'python');

/** The venv's interpreter, with clickhouse-connect at the pinned version. */
export async function clickhouseConnectPython(): Promise<string> {
  const installed = existsSync(python) ? await runFile(python, ['-c', 'import clickhouse_connect; print(clickhouse_connect.__version__)']).then(({ stdout }) => stdout.trim(), () => undefined) : undefined;
  if (installed === pinnedVersion) return python;
  mkdirSync(join(repositoryRoot, '.cache', 'python'), { recursive: true });
  await runFile('python3', ['-m', 'venv', venv]);
  await runFile(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', `clickhouse-connect==${pinnedVersion}`], { timeout: 300_000 });
  return python;
}

/** A script of test/clients run with the venv's interpreter. */
export function clientScript(name: string): string {
  return join(repositoryRoot, 'test', 'clients', name);
}
