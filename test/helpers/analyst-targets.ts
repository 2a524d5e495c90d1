import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventsTopicConfig } from '@sluice/core';
import { createKafkaBus } from '@sluice/kafka';
import type { RunningService } from '@sluice/dev';
import { removeTestDirectory, testBrokers, testLogger, uniqueName } from './pipeline';
import { freePort, startChdbFront, startWorkerProcess } from './processes';

/** ClickHouse's HTTP interface where analysts connect, in front of what a worker process stores. */
export interface AnalystTarget {
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  /** The worker's events topic (4 partitions). */
  topic: string;
  stop(): Promise<void>;
}

/**
 * Embedded mode: the worker on chDB serves the analysts' interface itself (CLICKHOUSE_HTTP_PORT),
 * where every user is the read-only analyst.
 */
async function embeddedWorker(name: string): Promise<AnalystTarget> {
  const chdbPath = mkdtempSync(join(tmpdir(), `sluice-${name}-chdb-`));
  const logDirectory = mkdtempSync(join(tmpdir(), `sluice-${name}-logs-`));
  const topic = await eventsTopic(name);
  const port = await freePort();
  const worker = await startWorkerProcess({ topic, groupId: uniqueName(`${name}-group`), adminPort: await freePort(), logDirectory, env: { CHDB_PATH: chdbPath, CLICKHOUSE_HTTP_PORT: String(port) } });
  return { url: `http://127.0.0.1:${port}`, port, topic, stop: () => stopAll([worker], [chdbPath, logDirectory]) };
}

/**
 * Server mode: the chDB front stands in for the ClickHouse server, the worker writes there as its
 * user `default` (with a password, as deployed), and analysts connect as its read-only `analyst`.
 */
async function chdbFront(name: string): Promise<AnalystTarget> {
  const chdbPath = mkdtempSync(join(tmpdir(), `sluice-${name}-chdb-`));
  const logDirectory = mkdtempSync(join(tmpdir(), `sluice-${name}-logs-`));
  const topic = await eventsTopic(name);
  const port = await freePort();
  const workersPassword = 'the-workers-password';
  const front = await startChdbFront({ chdbPath, port, logDirectory, env: { CHDB_HTTP_DEFAULT_PASSWORD: workersPassword } });
  let worker: RunningService;
  try {
    worker = await startWorkerProcess({
      topic,
      groupId: uniqueName(`${name}-group`),
      adminPort: await freePort(),
      logDirectory,
      env: { CLICKHOUSE_URL: `http://127.0.0.1:${port}`, CLICKHOUSE_PASSWORD: workersPassword },
    });
  } catch (error) {
    await stopAll([front], [chdbPath, logDirectory]);
    throw error;
  }
  return { url: `http://127.0.0.1:${port}`, port, topic, stop: () => stopAll([worker, front], [chdbPath, logDirectory]) };
}

async function eventsTopic(name: string): Promise<string> {
  const topic = uniqueName(name);
  await createKafkaBus({ brokers: testBrokers(), clientId: `sluice-${name}-test`, logger: testLogger }).ensureTopics([{ name: topic, partitions: 4, config: eventsTopicConfig }]);
  return topic;
}

async function stopAll(services: RunningService[], directories: string[]): Promise<void> {
  for (const service of services) await service.stop();
  for (const directory of directories) removeTestDirectory(directory);
}

/**
 * The two doors analysts' clients must pass the same checks through, for describe.each: one
 * handling serves both, and these tests keep it so.
 */
export const analystTargets: [string, (name: string) => Promise<AnalystTarget>][] = [
  ["the worker's interface (embedded mode)", embeddedWorker],
  ['user analyst of the chDB front (server mode)', chdbFront],
];
