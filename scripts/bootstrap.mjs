#!/usr/bin/env node
// Entry point of `npm start`, `npm test`, `npm run sql`, `npm run keys`, `npm run migrate`, `npm run bench` and `npm run replay`. Plain
// Node with no dependencies, because on a fresh clone nothing is installed yet: it installs what is
// missing, then hands over.
import { spawnSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { summaryLines } from './test-summary.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [command, ...args] = process.argv.slice(2);

// From a checkout everything runs the TypeScript sources: under the `sluice-source` export
// condition the workspace packages resolve to src/, without it to the compiled dist/ (as in the
// images). Every process started from here inherits it.
const sourceCondition = '--conditions=sluice-source';
if (!(process.env.NODE_OPTIONS ?? '').includes(sourceCondition)) {
  process.env.NODE_OPTIONS = [process.env.NODE_OPTIONS, sourceCondition].filter(Boolean).join(' ');
}

function run(cmd, cmdArgs, options = {}) {
  const result = spawnSync(cmd, cmdArgs, { cwd: root, stdio: 'inherit', ...options });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

/** Runs `npm ci` when node_modules is missing or was installed from another package-lock.json. */
function ensureNodeModules() {
  const lock = readFileSync(join(root, 'package-lock.json'));
  const digest = createHash('sha256').update(lock).digest('hex');
  const marker = join(root, 'node_modules', '.sluice-lock-digest');
  if (existsSync(marker) && readFileSync(marker, 'utf8') === digest) return;
  console.log('Installing dependencies (npm ci)...');
  if (run('npm', ['ci', '--no-audit', '--no-fund']) !== 0) {
    console.error('npm ci failed; see the output above.');
    process.exit(1);
  }
  writeFileSync(marker, digest);
}

/**
 * A Debian package a test needs, installed with apt-get when we are root. Otherwise, or if the
 * install fails, a warning says which test will fail: that test fails too, and says why.
 */
function ensureDebianPackage({ name, command, why }) {
  if (spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot || spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status !== 0) {
    console.warn(`${name} is not installed and cannot be installed here (needs root and apt-get); ${why} will fail. Install ${name} and run again.`);
    return;
  }
  console.log(`Installing ${name} (Debian package) for ${why}...`);
  const started = Date.now();
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-qq'], { stdio: 'ignore' });
  const status = run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', name], { stdio: ['ignore', 'ignore', 'inherit'], env });
  if (status !== 0 || spawnSync(command, ['--version'], { stdio: 'ignore' }).status !== 0) {
    console.warn(`Installing ${name} failed (apt-get exit ${status}); ${why} will fail.`);
    return;
  }
  console.log(`Installed ${name} in ${Math.round((Date.now() - started) / 1000)} s.`);
}

/** Plain closing lines, the same whatever the test runner prints above them. */
function printSummary(resultsFile) {
  if (!existsSync(resultsFile)) return;
  console.log(`\n${summaryLines(JSON.parse(readFileSync(resultsFile, 'utf8'))).join('\n')}`);
}

const tsx = (file, fileArgs) => [process.execPath, ['--import', 'tsx', join(root, file), ...fileArgs]];

function handOver([cmd, cmdArgs]) {
  // The child gets the terminal. Signals are relayed; the child counts copies of one Ctrl-C
  // (from the terminal and from us) as one.
  const child = spawn(cmd, cmdArgs, { cwd: root, stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

switch (command) {
  case 'start':
    ensureNodeModules();
    handOver(tsx('scripts/start.ts', args));
    break;
  case 'test': {
    ensureNodeModules();
    // docker-compose parses a file without a Docker engine; Chromium runs docs/browser.md's snippets.
    ensureDebianPackage({ name: 'docker-compose', command: 'docker-compose', why: 'the docker-compose.yml test' });
    ensureDebianPackage({ name: 'chromium', command: 'chromium', why: 'the browser test (test/integration/browser.test.ts)' });
    const resultsFile = join(root, '.data', 'jest-results.json');
    mkdirSync(dirname(resultsFile), { recursive: true });
    rmSync(resultsFile, { force: true });
    const steps = [
      ['typecheck', ['npx', ['tsc', '-p', 'tsconfig.json', '--noEmit']]],
      // The compiled dist/ that the images ship; a test runs the services from it.
      ['build', ['npx', ['tsc', '-b', 'tsconfig.build.json']]],
      ['lint', ['npx', ['eslint', '--max-warnings', '0', '.']]],
      // The containers project is the third command's (test:containers).
      ['tests', ['npx', ['jest', '--ci', '--json', `--outputFile=${resultsFile}`, ...args, '--selectProjects', 'unit', 'integration']]],
    ];
    for (const [name, [cmd, cmdArgs]] of steps) {
      console.log(`\n== ${name}: ${cmd} ${cmdArgs.join(' ')}`);
      const status = run(cmd, cmdArgs);
      if (status !== 0) {
        console.error(`\n${name} failed (exit ${status})`);
        printSummary(resultsFile);
        process.exit(status);
      }
    }
    printSummary(resultsFile);
    break;
  }
  case 'test:containers': {
    ensureNodeModules();
    if (spawnSync('docker', ['info'], { stdio: 'ignore' }).status !== 0) {
      console.error('No Docker engine answers (`docker info` failed). Install one (Debian: apt-get install docker.io, then start dockerd) and run again; .ci/run does this on CI.');
      process.exit(1);
    }
    const resultsFile = join(root, '.data', 'jest-containers-results.json');
    mkdirSync(dirname(resultsFile), { recursive: true });
    rmSync(resultsFile, { force: true });
    // No Ryuk (testcontainers' reaper): its image cannot be pulled here, and the tests remove what they start.
    const status = run('npx', ['jest', '--ci', '--runInBand', '--json', `--outputFile=${resultsFile}`, ...args, '--selectProjects', 'containers'], {
      env: { ...process.env, TESTCONTAINERS_RYUK_DISABLED: 'true' },
    });
    printSummary(resultsFile);
    process.exit(status);
  }
  case 'keys':
    ensureNodeModules();
    handOver(tsx('scripts/keys.ts', args));
    break;
  case 'migrate':
    ensureNodeModules();
    handOver(tsx('scripts/migrate.ts', args));
    break;
  case 'bench':
    ensureNodeModules();
    // --expose-gc: the dedup scenario collects garbage before and after it measures heap bytes.
    handOver([process.execPath, ['--expose-gc', '--import', 'tsx', join(root, 'bench', 'run.ts'), ...args]]);
    break;
  case 'sql':
    handOver([process.execPath, [join(root, 'scripts', 'sql.mjs'), ...args]]);
    break;
  case 'replay':
    handOver([process.execPath, [join(root, 'scripts', 'replay.mjs'), ...args]]);
    break;
  default:
    console.error(`usage: node scripts/bootstrap.mjs start|test|test:containers|sql|keys|migrate|bench|replay`);
    process.exit(2);
}
