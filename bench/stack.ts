/**
 * The pieces of the pipeline a benchmark starts for itself: a Kafka broker of its own (ports
 * 29092/29093, below the range the system hands out to outgoing connections, and away from `npm start` and `npm test`), the gateway and the worker as processes, as
 * users run them: compiled (dist/main.js, which runScenarios builds first), as in the images, not through tsx. Each piece is stopped by the scenario's cleanup, however the scenario ends.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, eventsTopicConfig } from '@sluice/core';
import { createKafkaBus, type KafkaBus } from '@sluice/kafka';
import { removeBrokerData, repositoryRoot, startLocalBroker, startService, type RunningService } from '@sluice/dev';
import type { ScenarioContext } from './run';
import type { LoadRequest } from './load';

export const benchApiKey = 'sk_bench_0123456789abcdef';

/** The single event the gateway scenarios send: a Trieve view, PUT with the bench key to dataset `bench`. */
export const benchTrieveRequest: LoadRequest = {
  method: 'PUT',
  path: '/api/analytics/events',
  headers: { authorization: `Bearer ${benchApiKey}`, 'tr-dataset': 'bench', 'content-type': 'application/json' },
  body: Buffer.from(JSON.stringify({ event_type: 'view', event_name: 'product_viewed', items: ['sku-1', 'sku-2'], metadata: { source: 'bench' } })),
};

export interface BenchBroker {
  brokers: string[];
  pid: number;
  bus: KafkaBus;
  /** Creates a topic of `partitions` partitions with the events topic's configuration. */
  createTopic(name: string, partitions: number): Promise<void>;
}

export async function startBenchBroker(context: ScenarioContext): Promise<BenchBroker> {
  const dataDirectory = join(repositoryRoot, '.data', 'bench', 'kafka');
  removeBrokerData(dataDirectory);
  const broker = await startLocalBroker({ dataDirectory, port: 29092, controllerPort: 29093, heapMegabytes: 1024, logger: createLogger({ level: 'warn', bindings: { service: 'bench-kafka' } }) });
  context.onCleanup(async () => {
    await broker.stop();
    removeBrokerData(dataDirectory);
  });
  context.log(`Kafka ${broker.brokers.join(',')} started in ${(broker.startupMs / 1000).toFixed(1)} s`);
  const bus = createKafkaBus({ brokers: broker.brokers, clientId: 'sluice-bench', logger: createLogger({ level: 'warn' }) });
  return {
    brokers: broker.brokers,
    pid: broker.pid,
    bus,
    createTopic: (name, partitions) => bus.ensureTopics([{ name, partitions, config: eventsTopicConfig }]),
  };
}

/** Node arguments that make a service write a CPU profile when it exits, with --cpu-prof. */
function profileArgs(context: ScenarioContext, name: string): string[] {
  // A directory per service: node names each thread's profile itself.
  return context.cpuProfileDirectory === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${join(context.cpuProfileDirectory, name)}`];
}

export function benchLogDirectory(context: ScenarioContext): string {
  const directory = mkdtempSync(join(tmpdir(), 'sluice-bench-logs-'));
  context.onCleanup(() => rmSync(directory, { recursive: true, force: true }));
  return directory;
}

async function startStopped(context: ScenarioContext, spec: Parameters<typeof startService>[0]): Promise<RunningService> {
  let failed: string | undefined;
  const service = await startService({ ...spec, onUnexpectedExit: () => void (failed = `${spec.name} exited unexpectedly`) });
  context.onCleanup(async () => {
    await service.stop();
    if (failed !== undefined) context.log(failed);
  });
  return service;
}

export async function startBenchGateway(
  context: ScenarioContext,
  options: { brokers: string[]; topic: string; partitions: number; port: number; env?: Record<string, string> },
): Promise<RunningService> {
  return startStopped(context, {
    name: 'gateway',
    entry: 'services/gateway/dist/main.js',
    env: {
      KAFKA_BROKERS: options.brokers.join(','),
      KAFKA_TOPIC: options.topic,
      KAFKA_TOPIC_PARTITIONS: String(options.partitions),
      GATEWAY_PORT: String(options.port),
      DEV_API_KEY: benchApiKey,
      RATE_LIMIT_EVENTS_PER_SECOND: '0',
      LOG_LEVEL: 'warn',
      ...options.env,
    },
    healthUrl: `http://127.0.0.1:${options.port}/healthz`,
    logDirectory: benchLogDirectory(context),
    nodeArgs: profileArgs(context, 'gateway'),
    onUnexpectedExit: () => undefined,
  });
}

export async function startBenchWorker(
  context: ScenarioContext,
  options: { brokers: string[]; topic: string; partitions: number; adminPort: number; analystsPort: number; env?: Record<string, string> },
): Promise<RunningService & { chdbPath: string }> {
  const chdbPath = mkdtempSync(join(tmpdir(), 'sluice-bench-worker-chdb-'));
  // Cleanups run last-registered first: this one runs after the worker has stopped.
  context.onCleanup(() => rmSync(chdbPath, { recursive: true, force: true }));
  const service = await startStopped(context, {
    name: 'worker',
    entry: 'services/worker/dist/main.js',
    env: {
      KAFKA_BROKERS: options.brokers.join(','),
      KAFKA_TOPIC: options.topic,
      KAFKA_TOPIC_PARTITIONS: String(options.partitions),
      CONSUMER_GROUP: `bench-${options.topic}`,
      CHDB_PATH: chdbPath,
      ADMIN_PORT: String(options.adminPort),
      // Analysts' HTTP interface, where the scenario reads what was stored; its default port, 8123, is one for the whole machine.
      CLICKHOUSE_HTTP_PORT: String(options.analystsPort),
      LOG_LEVEL: 'warn',
      ...options.env,
    },
    healthUrl: `http://127.0.0.1:${options.adminPort}/healthz`,
    logDirectory: benchLogDirectory(context),
    startTimeoutMs: 120_000,
    nodeArgs: profileArgs(context, 'worker'),
    onUnexpectedExit: () => undefined,
  });
  return { ...service, chdbPath };
}

/** A process's resident memory in MiB, from /proc (Linux); undefined once it is gone. */
export function residentMiB(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match?.[1] === undefined ? undefined : Number(match[1]) / 1024;
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks / clockTicksPerSecond : undefined;
  } catch {
    return undefined;
  }
}

/** Linux's USER_HZ, 100 on every architecture Node runs on. */
const clockTicksPerSecond = 100;
