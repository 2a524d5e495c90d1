import { Kafka, KafkaJSAggregateError, logLevel as KafkaLogLevel, type Admin, type LogEntry, type Producer } from './kafkajs';
import { CommitAfterHandlerConsumer, runnable } from './commit-after-handler-consumer';
import { GroupCommitPublisher, type GroupCommitOptions } from './group-commit-publisher';
import { murmur2Partitioner } from './murmur2-partitioner';
import { installFetchDecoder } from './fetch-response';
import { installProduceEncoder } from './produce-request';
import { SizeRoutedPublisher, ThreadedPublisher } from './threaded-publisher';
import {
  SluiceError,
  defaultBackoff,
  errorMessage,
  minInsyncReplicasFor,
  sleep,
  rejectUnknownKeys,
  type EventConsumer,
  type EventPublisher,
  type Logger,
} from '@sluice/core';

export interface KafkaBusOptions {
  brokers: string[];
  clientId: string;
  logger: Logger;
}

export interface TopicSpec {
  name: string;
  partitions: number;
  /** Copies of each partition, at most the number of brokers; unset: the brokers' default.replication.factor. */
  replicationFactor?: number;
  /** Broker-side topic configuration, e.g. retention.ms or min.insync.replicas. */
  config?: Record<string, string>;
}

/**
 * A topic as the settings ask for it: with KAFKA_TOPIC_REPLICATION_FACTOR set (not 0), that
 * replication factor and min.insync.replicas to match, so that a cluster whose brokers default to
 * one replica still keeps an acknowledged event on more than one broker.
 */
export function topicSpec(name: string, partitions: number, replicationFactor: number, config: Record<string, string> = {}): TopicSpec {
  if (replicationFactor === 0) return { name, partitions, config };
  return { name, partitions, replicationFactor, config: { ...config, 'min.insync.replicas': String(minInsyncReplicasFor(replicationFactor)) } };
}

/** kafkajs says only "Topic creation errors"; this names each topic, what was asked, and the broker's reason. */
function topicCreationError(error: unknown, asked: readonly TopicSpec[]): Error {
  if (!(error instanceof KafkaJSAggregateError)) return error instanceof Error ? error : new Error(String(error));
  const reasons = error.errors.map((cause) => {
    const topic = typeof cause === 'string' ? undefined : (cause as { topic?: unknown }).topic;
    const spec = asked.find((t) => t.name === topic);
    const what = spec === undefined ? '' : ` (${spec.partitions} partitions, replication factor ${spec.replicationFactor ?? "the brokers' default"})`;
    return `${typeof topic === 'string' ? topic : 'a topic'}${what}: ${typeof cause === 'string' ? cause : cause.message}`;
  });
  return new SluiceError('INVALID_CONFIG', `Kafka refused to create ${reasons.join('; ')}. A replication factor above the number of brokers is refused (KAFKA_TOPIC_REPLICATION_FACTOR).`, { cause: error });
}

export interface PublisherOptions extends GroupCommitOptions {
  /**
   * Publishes of at least this many messages are encoded and sent by a producer on a thread of its
   * own, so that the calling thread's other work (an HTTP server's) runs beside kafkajs's. Smaller
   * ones, and all when unset, are sent from the calling thread.
   */
  threadFrom?: number;
}

export interface ConsumerOptions {
  groupId: string;
  topic: string;
  /** Where a group with no committed offset starts: the beginning of the topic, so nothing produced before it is missed. */
  fromBeginning?: boolean;
  /** A batch closes by size: at most this many bytes per partition (default 4 MiB)... */
  maxBytesPerPartition?: number;
  /** ...or once the broker holds this many bytes for the fetch (default 1: as soon as there is anything)... */
  minBytes?: number;
  /** ...or by age: after this long, with whatever has arrived (default 250 ms). */
  maxWaitMs?: number;
  /**
   * How long the group waits for a silent member before handing its partitions to others. A
   * crashed worker's partitions move after this long; long inserts keep heartbeating.
   */
  sessionTimeoutMs?: number;
  /**
   * Partitions whose batches are handled at once (default 1). Each partition's batches still come
   * one after the other, in order; a handler waiting on one partition's insert lets another's run.
   */
  partitionsAtOnce?: number;
}

/** kafkajs's own limit on the bytes of one fetch. */
const defaultFetchMaxBytes = 10 * 1024 * 1024;

export interface KafkaBus {
  ensureTopics(topics: readonly TopicSpec[]): Promise<void>;
  createPublisher(options: PublisherOptions): Promise<EventPublisher>;
  createConsumer(options: ConsumerOptions): Promise<EventConsumer>;
  /** How many messages the topic holds: the sum of its partitions' high-water marks. */
  countMessages(topic: string): Promise<number>;
  /** Messages of the topic the group has not committed yet: the sum over partitions of high-water mark minus committed offset. */
  consumerLag(groupId: string, topic: string): Promise<number>;
  /** Undefined when a broker answers a metadata request for the topic within timeoutMs, else why not. */
  checkReachable(topic: string, timeoutMs?: number): Promise<string | undefined>;
}

export function createKafkaBus(options: KafkaBusOptions): KafkaBus {
  rejectUnknownKeys(options, ['brokers', 'clientId', 'logger'], 'Kafka options');
  // Every producer of this process then encodes its sends in one buffer (produce-request.ts), and
  // every consumer decodes its fetches in one pass (fetch-response.ts).
  installProduceEncoder();
  installFetchDecoder();
  const { logger } = options;
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
    // Connecting gives up after a few seconds; callers have their own deadlines on top.
    retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 2_000 },
    logLevel: KafkaLogLevel.WARN,
    logCreator: () => (entry: LogEntry) => forwardLog(logger, entry),
  });

  return {
    async ensureTopics(topics) {
      const admin = kafka.admin();
      await admin.connect();
      try {
        const existing = new Set(await admin.listTopics());
        const missing = topics.filter((t) => !existing.has(t.name));
        if (missing.length > 0) {
          // kafkajs's own waitForLeaders gives up when the broker does not know the new topic yet
          // (UNKNOWN_TOPIC_OR_PARTITION, common on a busy broker); we wait for the leaders ourselves.
          await admin
            .createTopics({
              waitForLeaders: false,
              topics: missing.map((t) => ({
                topic: t.name,
                numPartitions: t.partitions,
                replicationFactor: t.replicationFactor ?? -1,
                configEntries: Object.entries(t.config ?? {}).map(([name, value]) => ({ name, value })),
              })),
            })
            .catch((error: unknown) => {
              throw topicCreationError(error, missing);
            });
          await waitForLeaders(admin, missing.map((t) => t.name));
          logger.info('created Kafka topics', { topics: missing.map((t) => `${t.name} (${t.partitions} partitions)`) });
        }
      } finally {
        await admin.disconnect();
      }
    },

    async createPublisher(publisherOptions) {
      rejectUnknownKeys(publisherOptions, ['topic', 'maxQueuedMessages', 'queueTimeoutMs', 'sendTimeoutMs', 'threadFrom'], 'publisher options');
      const { threadFrom, ...groupCommitOptions } = publisherOptions;
      if (threadFrom !== undefined && !(Number.isSafeInteger(threadFrom) && threadFrom >= 1)) {
        throw new SluiceError('INVALID_CONFIG', `threadFrom must be a whole number of messages, at least 1, got ${threadFrom}`);
      }
      const sendTimeoutMs = groupCommitOptions.sendTimeoutMs ?? 5_000;
      const createProducer = (): Producer =>
        kafka.producer({
          idempotent: true,
          maxInFlightRequests: 1,
          allowAutoTopicCreation: false,
          // Murmur2, as the Java client: a key lands on the same partition whoever produces it.
          createPartitioner: murmur2Partitioner,
          // Bounded, so that a request fails (503) in bounded time while Kafka is down.
          retry: { retries: 5, initialRetryTime: 100, maxRetryTime: sendTimeoutMs },
        });
      const publisher = new GroupCommitPublisher(createProducer, groupCommitOptions, logger);
      await publisher.connect();
      if (threadFrom === undefined) return publisher;
      try {
        const threaded = await ThreadedPublisher.start({ bus: { brokers: options.brokers, clientId: options.clientId }, publisher: groupCommitOptions }, logger);
        return new SizeRoutedPublisher(publisher, threaded, threadFrom);
      } catch (error) {
        await publisher.close();
        throw error;
      }
    },

    async checkReachable(topic, timeoutMs = 2_000) {
      const admin = kafka.admin({ retry: { retries: 0 } });
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve(`Kafka did not answer within ${timeoutMs} ms`), timeoutMs);
      });
      const probe = (async () => {
        await admin.connect();
        await admin.fetchTopicMetadata({ topics: [topic] });
        return undefined;
      })().catch((error: unknown) => `Kafka is unreachable: ${errorMessage(error)}`);
      try {
        return await Promise.race([probe, deadline]);
      } finally {
        clearTimeout(timer);
        await admin.disconnect().catch(() => undefined);
      }
    },

    async countMessages(topic) {
      const admin = kafka.admin();
      await admin.connect();
      try {
        const offsets = await admin.fetchTopicOffsets(topic);
        return offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
      } finally {
        await admin.disconnect();
      }
    },

    async consumerLag(groupId, topic) {
      const admin = kafka.admin();
      await admin.connect();
      try {
        const [ends, [committed]] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
        const committedByPartition = new Map((committed?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
        return ends.reduce((lag, p) => {
          const done = committedByPartition.get(p.partition) ?? -1;
          return lag + Number(p.high) - (done < 0 ? Number(p.low) : done);
        }, 0);
      } finally {
        await admin.disconnect();
      }
    },

    async createConsumer(consumerOptions) {
      rejectUnknownKeys(consumerOptions, ['groupId', 'topic', 'fromBeginning', 'maxBytesPerPartition', 'minBytes', 'maxWaitMs', 'sessionTimeoutMs', 'partitionsAtOnce'], 'consumer options');
      const sessionTimeout = consumerOptions.sessionTimeoutMs ?? 10_000;
      const maxBytesPerPartition = consumerOptions.maxBytesPerPartition ?? 4 * 1024 * 1024;
      const partitionsAtOnce = consumerOptions.partitionsAtOnce ?? 1;
      const consumer = kafka.consumer({
        groupId: consumerOptions.groupId,
        allowAutoTopicCreation: false,
        maxBytesPerPartition,
        // Room in one fetch for a whole block of each partition handled at once (kafkajs's default is 10 MiB).
        maxBytes: Math.max(defaultFetchMaxBytes, maxBytesPerPartition * partitionsAtOnce),
        minBytes: consumerOptions.minBytes ?? 1,
        maxWaitTimeInMs: consumerOptions.maxWaitMs ?? 250,
        sessionTimeout,
        heartbeatInterval: Math.floor(sessionTimeout / 3),
      });
      await consumer.connect();
      await consumer.subscribe({ topic: consumerOptions.topic, fromBeginning: consumerOptions.fromBeginning ?? true });
      return new CommitAfterHandlerConsumer(runnable(consumer), logger, defaultBackoff, partitionsAtOnce);
    },
  };
}

/** Polls the topics' metadata until every partition has a leader, or gives up after 30 s. */
async function waitForLeaders(admin: Admin, topics: string[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (let attempt = 0; ; attempt++) {
    const problem = await admin.fetchTopicMetadata({ topics }).then(
      (metadata) => (metadata.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0)) ? undefined : 'no leader elected yet'),
      (error: unknown) => errorMessage(error),
    );
    if (problem === undefined) return;
    if (Date.now() > deadline) throw new SluiceError('KAFKA_UNAVAILABLE', `Kafka created ${topics.join(', ')} but has no leader for every partition after 30 s: ${problem}`);
    await sleep(Math.min(1_000, 50 * 2 ** attempt));
  }
}

/**
 * kafkajs logs at error level every error response and every refused connection it then
 * retries (a coordinator still loading, a broker restarting); the caller sees the final
 * outcome and logs it, so those go to debug. The idempotent
 * producer's warning about bounded retries is answered by GroupCommitPublisher replacing its
 * producer after a failure.
 */
const connectionNamespaces = ['Connection', 'BrokerPool'];
const expectedKafkaWarnings = ['Limiting retries for the idempotent producer'];
/**
 * kafkajs logs every consumer crash at error level, though it restarts from most of them; those
 * are warnings. A crash it will not restart from is logged as an error by the consumer itself.
 */
const selfHealingConsumerErrors = ['Crash: ', 'Restarting the consumer'];

function forwardLog(logger: Logger, entry: LogEntry): void {
  const { message, ...fields } = entry.log;
  const text = `kafkajs: ${message}`;
  const context = { namespace: entry.namespace, ...fields };
  if (connectionNamespaces.includes(entry.namespace) || expectedKafkaWarnings.some((w) => message.startsWith(w))) logger.debug(text, context);
  else if (entry.level <= KafkaLogLevel.ERROR && !selfHealingConsumerErrors.some((m) => message.startsWith(m))) logger.error(text, context);
  else if (entry.level <= KafkaLogLevel.ERROR) logger.warn(text, { ...context, stack: undefined });
  else if (entry.level === KafkaLogLevel.WARN) logger.warn(text, context);
  else logger.debug(text, context);
}
