import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createLogger, eventsTopicConfig, sleep, type EventConsumer, type EventPublisher, type Logger } from '@sluice/core';
import { createDevKeyStore, type KeyStore } from '@sluice/tenancy';
import { applyMigrations, openClickHouse, type ClickHouse } from '@sluice/clickhouse';
import { createKafkaBus, topicSpec, type KafkaBus } from '@sluice/kafka';
import { createApp, type RateLimiter } from '@sluice/gateway';
import {
  createBatchHandler,
  createDeadLetterSink,
  createFilteredStoredKeys,
  createWorkerState,
  type SamplingRules,
  type StepResult,
  type WorkerStats,
} from '@sluice/worker';
import type { Envelope } from '@sluice/envelope';
import type { BlockLog } from '@sluice/worker';
import { testDataRoot } from './test-broker';

export const testLogger: Logger = createLogger({ level: (process.env.TEST_LOG_LEVEL as 'debug' | undefined) ?? 'error' });

/** A name no other test uses: topics, groups and databases are unique per test. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
}

export function testBrokers(): string[] {
  const brokers = process.env.TEST_KAFKA_BROKERS;
  if (!brokers) throw new Error('TEST_KAFKA_BROKERS is not set: run integration tests through jest (its global setup starts Kafka)');
  return brokers.split(',');
}

/**
 * chDB allows one data directory per process, and jest runs test files one after another in
 * the same worker process: every file of a jest worker shares one directory, and tests
 * keep apart by database name.
 */
export function chdbPathForThisProcess(): string {
  return join(testDataRoot, `chdb-worker-${process.env.JEST_WORKER_ID ?? '1'}`);
}

export async function openTestClickHouse(database = uniqueName('db')): Promise<ClickHouse> {
  const clickhouse = await openClickHouse({ database, dataPath: chdbPathForThisProcess(), logger: testLogger });
  await applyMigrations(clickhouse, testLogger);
  return clickhouse;
}

export async function waitFor<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/**
 * Polls until `done` holds or the time is up, and gives back what it saw last instead of throwing,
 * so a test can compare everything it observed at once (and show all of it when it fails).
 */
export async function lastSeen<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value) || Date.now() > deadline) return value;
    await sleep(250);
  }
}

export async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

export interface InProcessPipeline {
  gatewayUrl: string;
  apiKey: string;
  topic: string;
  deadLetterTopic: string;
  bus: KafkaBus;
  publisher: EventPublisher;
  clickhouse: ClickHouse;
  /** The running worker's counts; a restarted worker starts from zero. */
  readonly workerStats: WorkerStats;
  /** The consumer group of the workers. */
  groupId: string;
  /** Starts one more worker in the group (a rebalance); stopping it is another. */
  addWorker(): Promise<{ stop(): Promise<void> }>;
  /** Stops the worker (it stores and commits the batch in hand) and starts a new one in the same group. */
  restartWorker(): Promise<void>;
  stop(): Promise<void>;
}

/** Gateway and worker in this process, wired to the real test broker and real chDB. */
export async function startInProcessPipeline(
  options: {
    brokers?: string[];
    partitions?: number;
    /** With min.insync.replicas one less (topicSpec); unset: the brokers' defaults. */
    replicationFactor?: number;
    topicConfig?: Record<string, string>;
    keyStore?: KeyStore;
    rateLimiter?: RateLimiter;
    sampling?: SamplingRules;
    validate?: (value: unknown) => StepResult<Envelope>;
    /** The gateway's single-event body limit; 64 KiB unless a test needs the deployed 1 MiB. */
    maxBodyBytes?: number;
  } = {},
): Promise<InProcessPipeline> {
  const brokers = options.brokers ?? testBrokers();
  const topic = uniqueName('events');
  const apiKey = `sk_test_${randomBytes(8).toString('hex')}`;
  const bus = createKafkaBus({ brokers, clientId: 'sluice-test', logger: testLogger });
  // As the services create it, from KAFKA_TOPIC_REPLICATION_FACTOR.
  await bus.ensureTopics([topicSpec(topic, options.partitions ?? 3, options.replicationFactor ?? 0, { ...eventsTopicConfig, ...options.topicConfig })]);
  // Batches of 2 or more events are sent from a thread of their own, as the gateway's larger ones are (KAFKA_THREAD_MIN_EVENTS).
  const publisher = await bus.createPublisher({ topic, sendTimeoutMs: 3_000, queueTimeoutMs: 3_000, threadFrom: 2 });
  // The gateway and the worker read the same key file, as they do when deployed.
  const keyStore = options.keyStore ?? createDevKeyStore(apiKey);
  const app = createApp({
    publisher,
    keyStore,
    logger: testLogger,
    maxBodyBytes: options.maxBodyBytes ?? 64 * 1024,
    kafkaReadiness: () => bus.checkReachable(topic),
    ...(options.rateLimiter ? { rateLimiter: options.rateLimiter } : {}),
  });
  const server = createServer(app);
  const gatewayUrl = await listen(server);

  const clickhouse = await openTestClickHouse();
  const groupId = uniqueName('group');
  let consumer: EventConsumer = await bus.createConsumer({ groupId, topic });
  const deadLetterTopic = `${topic}.dead-letters`;
  await bus.ensureTopics([{ name: deadLetterTopic, partitions: 1 }]);
  const deadLetterPublisher = await bus.createPublisher({ topic: deadLetterTopic, sendTimeoutMs: 3_000, queueTimeoutMs: 3_000 });
  const deadLetters = createDeadLetterSink({ publisher: deadLetterPublisher, clickhouse });
  // Each worker, as a process of its own would, starts with a key filter of its own, loaded from dedup_keys.
  const newWorker = () => {
    const { storedKeys: lookup, keyScan, blocks } = createWorkerState(clickhouse, { mode: 'single', windowMs: 7 * 24 * 3600 * 1000 });
    return createBatchHandler({
      clickhouse,
      storedKeys: createFilteredStoredKeys({ lookup, scan: keyScan, logger: testLogger }),
      blocks,
      deadLetters,
      datasets: keyStore,
      logger: testLogger,
      ...(options.sampling ? { sampling: options.sampling } : {}),
      ...(options.validate ? { validate: options.validate } : {}),
    });
  };
  let worker = newWorker();
  await consumer.run(worker.handle, worker.observe);

  return {
    gatewayUrl,
    apiKey,
    topic,
    deadLetterTopic,
    bus,
    publisher,
    clickhouse,
    get workerStats() {
      return worker.stats;
    },
    groupId,
    async addWorker() {
      const extra = await bus.createConsumer({ groupId, topic });
      const extraWorker = newWorker();
      await extra.run(extraWorker.handle, extraWorker.observe);
      return { stop: () => extra.stop() };
    },
    async restartWorker() {
      await consumer.stop();
      consumer = await bus.createConsumer({ groupId, topic });
      worker = newWorker();
      await consumer.run(worker.handle, worker.observe);
    },
    async stop() {
      await closeServer(server);
      await publisher.close();
      await consumer.stop();
      await deadLetterPublisher.close();
      await clickhouse.command(`DROP DATABASE IF EXISTS ${clickhouse.database}`);
      await clickhouse.close();
    },
  };
}

export function removeTestDirectory(path: string): void {
  rmSync(path, { recursive: true, force: true });
}

/** The last offset of the block the log recorded as starting at firstOffset, if any. */
export async function lastOffsetOf(blocks: Pick<BlockLog, 'recordedBlock'>, topic: string, partition: number, firstOffset: string): Promise<string | undefined> {
  return (await blocks.recordedBlock(topic, partition, firstOffset))?.lastOffset;
}
