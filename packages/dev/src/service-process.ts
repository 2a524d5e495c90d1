import { spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { sleep } from '@sluice/core';
import { repositoryRoot } from './local-broker';

export interface ServiceSpec {
  name: string;
  /**
   * Entry point, relative to the repository root: a TypeScript source (`src/main.ts`, run under
   * tsx), or a compiled one (`dist/main.js`, run by node alone, the workspace packages resolved to
   * their dist/ as in an image).
   */
  entry: string;
  env: Record<string, string>;
  healthUrl: string;
  logDirectory: string;
  startTimeoutMs?: number;
  /** Extra arguments for node, before the entry (e.g. --cpu-prof). */
  nodeArgs?: string[];
  onUnexpectedExit: () => void;
}

export interface RunningService {
  pid: number;
  stop(): Promise<void>;
}

/** NODE_OPTIONS without `--conditions=sluice-source`, which points the workspace packages at their TypeScript sources. */
function withoutSourceCondition(nodeOptions = ''): string {
  return nodeOptions
    .split(/\s+/)
    .filter((option) => option !== '' && option !== '--conditions=sluice-source')
    .join(' ');
}

/**
 * Starts a service as its own process and waits for its health endpoint. It runs in its own
 * process group, so a Ctrl-C in the terminal reaches only us and we stop services in order.
 */
export async function startService(spec: ServiceSpec): Promise<RunningService> {
  const logFile = join(spec.logDirectory, `${spec.name}.log`);
  const log = createWriteStream(logFile, { flags: 'a' });
  const compiled = spec.entry.endsWith('.js');
  const loader = compiled ? [] : ['--import', 'tsx'];
  const child = spawn(process.execPath, [...(spec.nodeArgs ?? []), ...loader, join(repositoryRoot, spec.entry)], {
    cwd: repositoryRoot,
    env: { ...process.env, ...(compiled ? { NODE_OPTIONS: withoutSourceCondition(process.env.NODE_OPTIONS) } : {}), ...spec.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${spec.name}`);
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => {
      log.write(line + '\n');
      if (/"level":"(warn|error)"|failed/.test(line)) process.stderr.write(`[${spec.name}] ${line}\n`);
    });
  }
  let stopping = false;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', (code, signal) => {
    if (!stopping) {
      process.stderr.write(`[${spec.name}] exited unexpectedly (${signal ?? `code ${code}`}); see ${logFile}\n`);
      spec.onUnexpectedExit();
    }
  });

  const deadline = Date.now() + (spec.startTimeoutMs ?? 60_000);
  for (;;) {
    if (child.exitCode !== null) {
      stopping = true;
      throw new Error(`${spec.name} exited during start-up:\n${readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n')}`);
    }
    const healthy = await fetch(spec.healthUrl).then((r) => r.ok, () => false);
    if (healthy) break;
    if (Date.now() > deadline) {
      stopping = true;
      child.kill('SIGKILL');
      throw new Error(`${spec.name} did not become healthy at ${spec.healthUrl}; see ${logFile}`);
    }
    await sleep(200);
  }

  return {
    pid,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      stopping = true;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
      log.end();
    },
  };
}
