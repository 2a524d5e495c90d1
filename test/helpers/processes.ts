import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { startService, type RunningService } from '@sluice/dev';
import { testBrokers } from './pipeline';

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface CapturedProcess {
  child: ChildProcess;
  output(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  waitForOutput(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
}

/** detached puts the child in its own process group, so a test can signal the group as a terminal's Ctrl-C does. */
export function spawnCaptured(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; detached?: boolean }): CapturedProcess {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    child,
    output: () => text,
    exit,
    async waitForOutput(pattern, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = pattern.exec(text);
        if (match) return match;
        if (child.exitCode !== null) throw new Error(`process exited (${child.exitCode}) before printing ${pattern}:\n${text}`);
        if (Date.now() > deadline) throw new Error(`no ${pattern} within ${timeoutMs} ms:\n${text}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
  };
}

/**
 * The worker as a process of its own, as users run it, on the test broker's 4-partition `topic`,
 * answering on `adminPort`. `env` says where ClickHouse is (CHDB_PATH or CLICKHOUSE_URL) and
 * anything else. A test that kills it expects the exit, so an exit is not reported.
 */
export function startWorkerProcess(options: { topic: string; groupId: string; adminPort: number; logDirectory: string; env: Record<string, string> }): Promise<RunningService> {
  return startService({
    name: 'worker',
    entry: 'services/worker/src/main.ts',
    env: {
      KAFKA_BROKERS: testBrokers().join(','),
      KAFKA_TOPIC: options.topic,
      KAFKA_TOPIC_PARTITIONS: '4',
      CONSUMER_GROUP: options.groupId,
      ADMIN_PORT: String(options.adminPort),
      // Off unless a test asks for it: its default port, 8123, is one for the whole machine.
      CLICKHOUSE_HTTP_PORT: '0',
      LOG_LEVEL: 'error',
      ...options.env,
    },
    healthUrl: `http://127.0.0.1:${options.adminPort}/healthz`,
    logDirectory: options.logDirectory,
    startTimeoutMs: 120_000,
    onUnexpectedExit: () => undefined,
  });
}

/**
 * ClickHouse as a process of its own: chDB's data directory served over ClickHouse's HTTP interface
 * (packages/dev/src/chdb-http-main.ts), so a test can kill it or change its schema while a
 * worker uses it as a server. Its users are `default` (the worker's) and the read-only `analyst`,
 * with the passwords `env` gives (CHDB_HTTP_DEFAULT_PASSWORD, CHDB_HTTP_ANALYST_PASSWORD), none
 * otherwise. A test that kills it expects the exit, so an exit is not reported.
 */
export function startChdbFront(options: { chdbPath: string; port: number; logDirectory: string; env?: Record<string, string> }): Promise<RunningService> {
  return startService({
    name: 'chdb-http',
    entry: 'packages/dev/src/chdb-http-main.ts',
    env: { CHDB_PATH: options.chdbPath, CHDB_HTTP_PORT: String(options.port), ...options.env },
    healthUrl: `http://127.0.0.1:${options.port}/ping`,
    logDirectory: options.logDirectory,
    onUnexpectedExit: () => undefined,
  });
}
