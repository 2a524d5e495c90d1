// `docker compose` (the Compose v2+ CLI plugin), which testcontainers drives. Debian bookworm
// packages only Compose 1, so where the plugin is missing it is built from the Go module proxy,
// once, into .cache/docker/cli-plugins, and DOCKER_CONFIG points the docker CLI there.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, renameSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { repositoryRoot } from '@sluice/dev';

export const composeModule = 'github.com/docker/compose/v5';
export const composeVersion = 'v5.6.0';
const dockerConfig = join(repositoryRoot, '.cache', 'docker');
const pluginPath = join(dockerConfig, 'cli-plugins', 'docker-compose');

function composeAnswers(env: NodeJS.ProcessEnv): string | undefined {
  const result = spawnSync('docker', ['compose', 'version', '--short'], { env, encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : undefined;
}

/** Makes `docker compose` work for this process and its children; throws, saying what is missing, when it cannot. */
export function ensureComposePlugin(): string {
  const installed = composeAnswers(process.env);
  if (installed !== undefined) return installed;
  if (!existsSync(pluginPath)) buildPlugin();
  // The user's own settings (contexts, credentials) still apply.
  const userConfig = join(process.env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
  if (existsSync(userConfig)) copyFileSync(userConfig, join(dockerConfig, 'config.json'));
  process.env.DOCKER_CONFIG = dockerConfig;
  const built = composeAnswers(process.env);
  if (built === undefined) throw new Error(`the Compose plugin built into ${pluginPath} does not run: remove it and run again`);
  return built;
}

function buildPlugin(): void {
  // `go install module@version` refuses Compose's go.mod (it has replace and exclude directives), so
  // the module is downloaded and built as the main module, which is how its own release is built.
  const download = spawnSync('go', ['mod', 'download', '-json', `${composeModule}@${composeVersion}`], { encoding: 'utf8', timeout: 10 * 60_000 });
  if (download.error !== undefined && 'code' in download.error && download.error.code === 'ENOENT') {
    throw new Error(`docker compose is not installed and \`go\` is not there to build it: install the Compose plugin, or Go 1.26.8 or newer, then run again`);
  }
  if (download.status !== 0) throw new Error(`go mod download ${composeModule}@${composeVersion} failed:\n${download.stdout}${download.stderr}`);
  const { Dir: moduleDirectory } = JSON.parse(download.stdout) as { Dir: string };
  const building = `${pluginPath}.building-${process.pid}`;
  mkdirSync(join(dockerConfig, 'cli-plugins'), { recursive: true });
  process.stdout.write(`building the docker compose plugin ${composeVersion} from the Go module proxy (first run only)...\n`);
  const build = spawnSync('go', ['build', '-trimpath', '-ldflags', `-s -w -X ${composeModule}/internal.Version=${composeVersion}`, '-o', building, './cmd'], {
    cwd: moduleDirectory,
    encoding: 'utf8',
    timeout: 20 * 60_000,
  });
  if (build.status !== 0) throw new Error(`building docker compose ${composeVersion} failed (${build.error?.message ?? `exit ${String(build.status)}`}):\n${build.stderr}`);
  renameSync(building, pluginPath);
}
