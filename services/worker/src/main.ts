import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import { SluiceError, createLogger, errorMessage, eventsTopicConfig, isLogLevel, kafkaSettings, onShutdownSignal, parsers, readSettings, type Setting } from '@sluice/core';
import { openKeyFile } from '@sluice/tenancy';
import { analystSessionDefaults, applyMigrationsToEvery, checkThreadsForAnalysts, clickhouseSettings, listenChdbOverHttp, openConfiguredClickHouses, shardOfPartition, topologyOf, type ClickHouse } from '@sluice/clickhouse';
import { createKafkaBus, topicSpec } from '@sluice/kafka';
import { createAdminApp } from './admin-app';
import { createBatchHandler } from './batch-handler';
import { createDeadLetterSink } from './dead-letters';
import { createWorkerMetrics } from './metrics';
import { createFilteredStoredKeys } from './key-filter';
import { createPartitionProgress } from './partition-progress';
import { keepEverything, parseSamplingRules, type SamplingRules } from './sampling';
import { createWorkerState } from './worker-state';
import { createPlacement, everyShardAnswers, placedInserts, placedWorkerState } from './placement';
import { createReplayer, replayShards } from './replay';

const settings = {
  ...kafkaSettings,
  ...clickhouseSettings,
  CONSUMER_GROUP: { parse: parsers.nonEmpty, default: 'sluice-worker', description: 'Kafka consumer group of the workers' } as Setting<string>,
  CLICKHOUSE_HTTP_HOST: { parse: parsers.nonEmpty, default: '127.0.0.1', description: "Interface of analysts' ClickHouse HTTP interface (embedded mode)" } as Setting<string>,
  CLICKHOUSE_HTTP_PORT: { parse: parsers.port, default: 8123, description: "Port of analysts' ClickHouse HTTP interface (embedded mode); 0 turns it off" } as Setting<number>,
  CLICKHOUSE_HTTP_PASSWORD: { parse: (raw) => ({ ok: true, value: raw }), default: '', description: "Password of analysts' ClickHouse HTTP interface; empty: none" } as Setting<string>,
  CLICKHOUSE_HTTP_MAX_QUERIES: {
    parse: parsers.positiveInt,
    default: analystSessionDefaults.maxQueries,
    description: "Analyst queries the analysts' ClickHouse HTTP interface runs at once; more wait up to CLICKHOUSE_HTTP_QUEUE_WAIT_MS, then get 503 (TOO_MANY_SIMULTANEOUS_QUERIES)",
  } as Setting<number>,
  CLICKHOUSE_HTTP_QUEUE_WAIT_MS: { parse: parsers.nonNegativeInt, default: analystSessionDefaults.queueWaitMs, description: 'How long an analyst query waits for a free slot before it is refused' } as Setting<number>,
  ADMIN_HOST: { parse: parsers.nonEmpty, default: '127.0.0.1', description: 'Interface of the admin listener (health, metrics, replay)' } as Setting<string>,
  ADMIN_PORT: { parse: parsers.port, default: 8091, description: 'Port of the admin listener (health, metrics, replay)' } as Setting<number>,
  ADMIN_TOKEN: {
    parse: (raw) => (/^\S{16,}$/.test(raw) ? { ok: true, value: raw } : { ok: false, expected: 'a token of 16 or more characters without spaces (openssl rand -hex 32 makes one)' }),
    default: '',
    description: 'Bearer token of the state-changing admin routes (POST /replay); unset turns them off',
  } as Setting<string>,
  ADMIN_ALLOWED_HOSTS: {
    parse: (raw) => {
      const hosts = raw.split(',').map((host) => host.trim()).filter((host) => host !== '');
      return hosts.length > 0 && hosts.every((host) => /^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+)(:\d{1,5})?$/.test(host))
        ? { ok: true, value: hosts }
        : { ok: false, expected: 'a comma-separated list of host or host:port, as clients send them in the Host header' };
    },
    default: [],
    description: 'Host header values the admin listener accepts besides its own names (a proxy in front of it)',
  } as Setting<string[]>,
  DEAD_LETTER_TOPIC: { parse: parsers.nonEmpty, default: '', description: 'Topic for messages that can never be stored; unset means <KAFKA_TOPIC>.dead-letters' } as Setting<string>,
  BLOCK_MAX_BYTES: { parse: parsers.positiveInt, default: 16 * 1024 * 1024, description: 'A block closes at this many bytes per partition' } as Setting<number>,
  BLOCK_MIN_BYTES: { parse: parsers.positiveInt, default: 64 * 1024, description: 'A block waits for this many bytes, up to BLOCK_MAX_WAIT_MS' } as Setting<number>,
  BLOCK_MAX_WAIT_MS: { parse: parsers.positiveInt, default: 250, description: 'A block closes after this long with what has arrived' } as Setting<number>,
  PARTITIONS_AT_ONCE: {
    parse: parsers.positiveInt,
    default: 6,
    description:
      "Partitions whose batches the worker handles at once; the blocks of those of up to 5,000 messages are joined into one insert (a joint block), larger ones inserted alone. Each partition's blocks stay in order",
  } as Setting<number>,
  DEDUP_WINDOW_HOURS: { parse: parsers.positiveInt, default: 168, description: 'An insert_id stored within this many hours makes a later copy a duplicate' } as Setting<number>,
  KEYS_FILE: {
    parse: parsers.nonEmpty,
    default: '',
    description: "The gateway's API key file: a message naming a dataset no key lists is a dead letter; unset, every dataset is accepted",
  } as Setting<string>,
  SAMPLING_FILE: { parse: parsers.nonEmpty, default: '', description: 'JSON file of sampling rates per dataset (docs/sampling.md); unset keeps every event' } as Setting<string>,
  STALL_SECONDS: {
    parse: parsers.positiveInt,
    default: 60,
    description: 'A partition whose messages wait while its committed offset does not move for this long is stalled: /healthz answers 503 naming it',
  } as Setting<number>,
  PAUSE_BEFORE_COMMIT_MS: {
    parse: parsers.nonNegativeInt,
    default: 0,
    description: 'Testing aid: wait this long between storing a block and committing its offsets, so crash tests can kill the worker there',
  } as Setting<number>,
  LOG_LEVEL: { parse: parsers.oneOf('debug', 'info', 'warn', 'error'), default: 'info', description: 'Log level' } as Setting<string>,
};

async function main(): Promise<void> {
  const config = readSettings(settings, process.env);
  const logger = createLogger({ level: isLogLevel(config.LOG_LEVEL) ? config.LOG_LEVEL : 'info', bindings: { service: 'worker' } });
  // Analysts reach embedded chDB only through this process; a server has an HTTP interface of its own.
  const servesAnalysts = config.CLICKHOUSE_URL === '' && config.CLICKHOUSE_SHARD_URLS.length === 0 && config.CLICKHOUSE_HTTP_PORT !== 0;
  if (servesAnalysts) checkThreadsForAnalysts(config.CLICKHOUSE_HTTP_MAX_QUERIES, process.env.UV_THREADPOOL_SIZE);
  const topology = topologyOf(config);
  if (topology.mode === 'cluster' && config.CLICKHOUSE_SHARD_URLS.length === 0) {
    throw new SluiceError('INVALID_CONFIG', `CLICKHOUSE_CLUSTER is set: list the cluster's shards in CLICKHOUSE_SHARD_URLS, in the order of its remote_servers, so that each partition is written to its shard`);
  }
  const shards = await openConfiguredClickHouses(config, logger);
  await applyMigrationsToEvery(shards, topology, logger);
  if (topology.mode === 'cluster') await checkShardCount(shards, topology.cluster);
  const placement = createPlacement(shards, topology);
  const analystsHttp = servesAnalysts
    ? await listenChdbOverHttp(resolve(config.CHDB_PATH), config.CLICKHOUSE_HTTP_PORT, config.CLICKHOUSE_HTTP_HOST, {
        database: config.CLICKHOUSE_DATABASE,
        password: config.CLICKHOUSE_HTTP_PASSWORD,
        maxQueries: config.CLICKHOUSE_HTTP_MAX_QUERIES,
        queueWaitMs: config.CLICKHOUSE_HTTP_QUEUE_WAIT_MS,
      })
    : undefined;
  if (analystsHttp !== undefined) logger.info("analysts' ClickHouse HTTP interface listening", { url: `http://analyst@${config.CLICKHOUSE_HTTP_HOST}:${config.CLICKHOUSE_HTTP_PORT}` });

  const bus = createKafkaBus({ brokers: config.KAFKA_BROKERS, clientId: 'sluice-worker', logger });
  const deadLetterTopic = config.DEAD_LETTER_TOPIC || `${config.KAFKA_TOPIC}.dead-letters`;
  await bus.ensureTopics([
    topicSpec(config.KAFKA_TOPIC, config.KAFKA_TOPIC_PARTITIONS, config.KAFKA_TOPIC_REPLICATION_FACTOR, eventsTopicConfig),
    topicSpec(deadLetterTopic, 1, config.KAFKA_TOPIC_REPLICATION_FACTOR),
  ]);
  const deadLetterPublisher = await bus.createPublisher({ topic: deadLetterTopic });
  const consumer = await bus.createConsumer({
    groupId: config.CONSUMER_GROUP,
    topic: config.KAFKA_TOPIC,
    maxBytesPerPartition: config.BLOCK_MAX_BYTES,
    minBytes: config.BLOCK_MIN_BYTES,
    maxWaitMs: config.BLOCK_MAX_WAIT_MS,
    partitionsAtOnce: config.PARTITIONS_AT_ONCE,
  });

  const progress = createPartitionProgress({ stallMs: config.STALL_SECONDS * 1000 });
  const metrics = createWorkerMetrics(() => progress.partitions());
  // Replay publishes rejected messages back onto the events topic, keyed as the gateway keys them.
  const replayPublisher = await bus.createPublisher({ topic: config.KAFKA_TOPIC });
  // Replay checks datasets against the same key file as the batch handler.
  const datasets = config.KEYS_FILE === '' ? undefined : openKeyFile(config.KEYS_FILE, { logger });
  const replay = createReplayer({ shards: replayShards(placement), publisher: replayPublisher, ...(datasets === undefined ? {} : { datasets }) });
  const admin = createServer(
    createAdminApp({
      clickhouse: everyShardAnswers(placement),
      consumerFailure: () => consumer.failure(),
      stalledPartitions: () => progress.stalled(),
      replay,
      metrics: metrics.registry,
      adminToken: config.ADMIN_TOKEN,
      listenHost: config.ADMIN_HOST,
      allowedHosts: config.ADMIN_ALLOWED_HOSTS,
      logger,
    }),
  );
  await new Promise<void>((done) => admin.listen(config.ADMIN_PORT, config.ADMIN_HOST, done));
  logger.info('admin listening', { url: `http://${config.ADMIN_HOST}:${config.ADMIN_PORT}` });
  if (config.ADMIN_TOKEN === '') logger.warn('POST /replay is off: set ADMIN_TOKEN to turn it on');
  const windowMs = config.DEDUP_WINDOW_HOURS * 3_600_000;
  const inserts = placedInserts(placement);
  const deadLetters = createDeadLetterSink({ publisher: deadLetterPublisher, clickhouse: inserts });
  const { storedKeys: lookup, keyScan, blocks } = placedWorkerState(placement, (shard) => createWorkerState(shard, { mode: topology.mode, windowMs }));
  const storedKeys = createFilteredStoredKeys({ lookup, scan: keyScan, logger });
  const { handle, observe } = createBatchHandler({
    clickhouse: inserts,
    storedKeys,
    blocks,
    deadLetters,
    metrics,
    progress: progress.record,
    pauseBeforeCommitMs: config.PAUSE_BEFORE_COMMIT_MS,
    jointGroupOf: (partition) => shardOfPartition(partition, shards.length),
    sampling: readSamplingFile(config.SAMPLING_FILE),
    ...(datasets === undefined ? {} : { datasets }),
    logger,
  });
  await consumer.run(handle, (event) => {
    progress.record(event);
    observe(event);
  });
  logger.info('worker consuming', { topic: config.KAFKA_TOPIC, group: config.CONSUMER_GROUP });

  onShutdownSignal(logger, async () => {
    // The consumer finishes the batch in hand (insert, then commit) before it leaves the group.
    await consumer.stop();
    await deadLetterPublisher.close();
    await replayPublisher.close();
    await new Promise<void>((done) => admin.close(() => done()));
    await analystsHttp?.close();
    for (const shard of shards) await shard.close();
  });
}

/** A cluster with another number of shards than CLICKHOUSE_SHARD_URLS lists would get partitions on the wrong shards. */
async function checkShardCount(shards: readonly ClickHouse[], cluster: string): Promise<void> {
  const [row] = await (shards[0] as ClickHouse).queryRows<{ shards: number }>('SELECT uniqExact(shard_num) AS shards FROM system.clusters WHERE cluster = {cluster:String}', { cluster });
  if (row?.shards !== shards.length) {
    throw new SluiceError('INVALID_CONFIG', `CLICKHOUSE_SHARD_URLS lists ${shards.length} shards, but the cluster ${cluster} has ${row?.shards ?? 0} in system.clusters`);
  }
}

function readSamplingFile(path: string): SamplingRules {
  if (path === '') return keepEverything;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new SluiceError('INVALID_CONFIG', `SAMPLING_FILE ${path} could not be read as JSON: ${errorMessage(error)}`);
  }
  return parseSamplingRules(json, `SAMPLING_FILE ${path}`);
}

main().catch((error: unknown) => {
  process.stderr.write(`worker failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
