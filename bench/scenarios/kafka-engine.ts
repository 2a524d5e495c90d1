/**
 * ClickHouse's Kafka table engine in chDB as a process of its own (kafka-engine-process.ts), the
 * baseline of the worker and e2e scenarios: started, driven by commands on its stdin, and read
 * through its reports on stdout.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ScenarioContext } from '../run';
import type { EngineCommand, EngineReport, EngineRun } from './kafka-engine-process';

/** The next report of the engine process, undefined once it has exited, or 'timeout'. */
export interface EngineProcess {
  pid: number;
  next(timeoutMs: number): Promise<EngineReport | undefined | 'timeout'>;
  nextWhere(wanted: (report: EngineReport) => boolean, timeoutMs: number): Promise<EngineReport | undefined | 'timeout'>;
  send(command: EngineCommand): void;
  /** Asks it to stop, and kills it if it has not exited 20 s later. */
  end(): Promise<void>;
  /** The end of its stderr, for error messages. */
  stderrTail(): string;
  exited: Promise<void>;
}

export function startEngineProcess(context: ScenarioContext, run: EngineRun): EngineProcess {
  // A process group of its own, as the services': a Ctrl-C in the terminal reaches only the bench, which stops it in order.
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'kafka-engine-process.ts'), JSON.stringify(run)], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start the Kafka engine process');
  const reports: EngineReport[] = [];
  let wake: () => void = () => undefined;
  let stderr = '';
  let gone = false;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      gone = true;
      wake();
      resolve();
    }),
  );
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (!line.startsWith('engine ')) return;
    try {
      reports.push(JSON.parse(line.slice('engine '.length)) as EngineReport);
    } catch {
      reports.push({ error: `an unreadable report: ${line.slice(0, 200)}` });
    }
    wake();
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4_000)));
  const end = async (): Promise<void> => {
    if (gone) return;
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  };
  // Cleanups run last-registered first: this one runs before the data directory is removed.
  context.onCleanup(end);
  return {
    pid,
    exited,
    end,
    stderrTail: () => stderr.trim().split('\n').slice(-5).join('\n'),
    send: (command) => void (gone ? undefined : child.stdin.write(`${command}\n`)),
    /** The next report that `wanted` accepts; the ones before it are dropped. */
    async nextWhere(wanted, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const report = await this.next(Math.max(0, deadline - Date.now()));
        if (report === undefined || report === 'timeout' || 'error' in report || wanted(report)) return report;
      }
    },
    async next(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (reports.length === 0) {
        if (gone) return undefined;
        const left = deadline - Date.now();
        if (left <= 0) return 'timeout';
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          wake = resolve;
          timer = setTimeout(resolve, left);
        });
        clearTimeout(timer);
      }
      return reports.shift();
    },
  };
}
