// Helm for the chart tests: built from the Go module proxy with `go install` (Helm ships no npm
// package and nothing else can be fetched here), once, into .cache/helm/<version>, then reused.
// The version is in the path because a `go install` build reports only "v3.22" itself.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export const helmVersion = 'v3.22.0';
const root = join(__dirname, '..', '..');
const binDir = join(root, '.cache', 'helm', helmVersion);
export const helmPath = join(binDir, 'helm');

/** Whether the binary at path runs as a Helm 3.22 (a `go install` build reports "v3.22"). */
function runs(path: string): boolean {
  const result = spawnSync(path, ['version', '--template', '{{.Version}}'], { encoding: 'utf8' });
  return result.status === 0 && result.stdout.trim().startsWith(helmVersion.split('.').slice(0, 2).join('.'));
}

/** The cached Helm, built first when missing or of another version; throws (never skips) when it cannot be. */
export function ensureHelm(): string {
  if (existsSync(helmPath) && runs(helmPath)) return helmPath;
  // Built beside the cache and moved in whole, so an interrupted build leaves no half binary behind.
  const building = join(root, '.cache', 'helm', `building-${process.pid}`);
  mkdirSync(building, { recursive: true });
  try {
    const result = spawnSync('go', ['install', `helm.sh/helm/v3/cmd/helm@${helmVersion}`], {
      env: { ...process.env, GOBIN: building },
      encoding: 'utf8',
      timeout: 20 * 60_000,
    });
    if (result.error !== undefined && 'code' in result.error && result.error.code === 'ENOENT') {
      throw new Error(`Helm ${helmVersion} is not in .cache/helm and \`go\` is not installed to build it: install Go 1.26 or newer (Helm ${helmVersion} needs it; https://go.dev/doc/install), put it on PATH, then run the tests again`);
    }
    if (result.status !== 0) throw new Error(`go install helm.sh/helm/v3/cmd/helm@${helmVersion} failed (${result.error?.message ?? `exit ${String(result.status)}`}):\n${result.stderr}`);
    mkdirSync(binDir, { recursive: true });
    renameSync(join(building, 'helm'), helmPath);
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  if (!runs(helmPath)) throw new Error(`the Helm built into ${helmPath} does not run as Helm ${helmVersion}`);
  return helmPath;
}

export function helm(args: readonly string[]): SpawnSyncReturns<string> {
  return spawnSync(ensureHelm(), args, { cwd: root, encoding: 'utf8', timeout: 60_000 });
}
