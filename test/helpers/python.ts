/**
 * Python clients and libraries from PyPI, each in a venv of its own under .cache/python: made on
 * first use, reused while it holds the pinned versions.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

export const runFile = promisify(execFile);
const repositoryRoot = join(__dirname, '..', '..');

/**
 * The interpreter of the venv `name`, with `requirements` installed (pip's `package==version`).
 * `probe` is a Python expression printing what is installed, compared with `expected`.
 */
export async function pythonVenv(name: string, requirements: string[], probe: { code: string; expected: string }): Promise<string> {
  const venv = join(repositoryRoot, '.cache', 'python', name);
  const python = join(venv, 'bin', 'python');
  const installed = existsSync(python) ? await runFile(python, ['-c', probe.code]).then(({ stdout }) => stdout.trim(), () => undefined) : undefined;
  if (installed === probe.expected) return python;
  mkdirSync(join(repositoryRoot, '.cache', 'python'), { recursive: true });
  await runFile('python3', ['-m', 'venv', venv]);
  await runFile(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', ...requirements], { timeout: 300_000 });
  return python;
}

/** clickhouse-connect, the official Python client, at the version the tests and docs pin. */
export const clickhouseConnectVersion = '1.12.0';

export function clickhouseConnectPython(): Promise<string> {
  return pythonVenv('clickhouse-connect', [`clickhouse-connect==${clickhouseConnectVersion}`], {
    code: 'import clickhouse_connect; print(clickhouse_connect.__version__)',
    expected: clickhouseConnectVersion,
  });
}
