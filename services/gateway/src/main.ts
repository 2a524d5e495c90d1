import { createLogger, eventsTopicConfig, isLogLevel, kafkaSettings, onShutdownSignal, parsers, readSettings, type Setting } from '@sluice/core';
import { createDevKeyStore, openKeyFile } from '@sluice/tenancy';
import { createKafkaBus, topicSpec } from '@sluice/kafka';
import { createApp } from './app';
import { defaultMaxBodyBytes } from './json-body';
import { createRateLimiter, defaultBatchBytesPerEvent, defaultPublishableEventsPerSecond, unlimited, type RateLimiter } from './rate-limit';
import { defaultMaxInFlight, defaultOverloadPauseMs } from './ingest/admission';
import { defaultBatchLimits } from './ingest/batch';
import { createGatewayServer, defaultConnectionLimits, listenGateway } from './server';

const settings = {
  ...kafkaSettings,
  KAFKA_THREAD_MIN_EVENTS: {
    parse: parsers.nonNegativeInt,
    default: 50,
    description: 'Publishes of at least this many events (batches) are encoded and sent to Kafka from a thread of their own, beside the one serving HTTP; 0: none',
  } as Setting<number>,
  GATEWAY_HOST: { parse: parsers.nonEmpty, default: '127.0.0.1', description: 'Interface the gateway listens on (0.0.0.0 in containers)' } as Setting<string>,
  GATEWAY_PORT: { parse: parsers.port, default: 8090, description: 'Gateway HTTP port' } as Setting<number>,
  KEYS_FILE: { parse: parsers.nonEmpty, default: '', description: 'API key file (docs/keys.md); unset: only DEV_API_KEY, for any dataset, from any origin' } as Setting<string>,
  DEV_API_KEY: { parse: parsers.nonEmpty, default: '', description: 'The one key accepted when KEYS_FILE is unset' } as Setting<string>,
  MAX_BODY_BYTES: { parse: parsers.positiveInt, default: defaultMaxBodyBytes, description: 'Largest single-event body, in bytes' } as Setting<number>,
  BATCH_MAX_EVENTS: { parse: parsers.positiveInt, default: defaultBatchLimits.maxEvents, description: 'Most events in one POST /v1/batch' } as Setting<number>,
  BATCH_MAX_BYTES: { parse: parsers.positiveInt, default: defaultBatchLimits.maxBytes, description: 'Largest POST /v1/batch body after gzip is undone' } as Setting<number>,
  RATE_LIMIT_EVENTS_PER_SECOND: { parse: parsers.nonNegativeInt, default: 50_000, description: 'Events per second per API key; 0 turns the limit off' } as Setting<number>,
  RATE_LIMIT_BURST: { parse: parsers.nonNegativeInt, default: 0, description: 'Events an API key may send at once; 0 means twice the rate' } as Setting<number>,
  RATE_LIMIT_PUBLISHABLE_EVENTS_PER_SECOND: {
    parse: parsers.nonNegativeInt,
    default: defaultPublishableEventsPerSecond,
    description: 'Events per second per publishable API key (embedded in pages); 0 turns the limit off',
  } as Setting<number>,
  RATE_LIMIT_PUBLISHABLE_BURST: { parse: parsers.nonNegativeInt, default: 0, description: 'Events a publishable API key may send at once; 0 means twice its rate' } as Setting<number>,
  RATE_LIMIT_BATCH_BYTES_PER_EVENT: { parse: parsers.positiveInt, default: defaultBatchBytesPerEvent, description: 'Batch body bytes each event of the rate allows, taken before the batch is read' } as Setting<number>,
  OVERLOAD_MAX_IN_FLIGHT: {
    parse: parsers.positiveInt,
    default: defaultMaxInFlight,
    description: 'Most ingest requests the gateway serves at once; more are answered 503 OVERLOADED with Retry-After at once, their body unread',
  } as Setting<number>,
  OVERLOAD_MAX_WAIT_MS: {
    parse: parsers.nonNegativeInt,
    default: 0,
    description: "Event-loop lag (a request's wait before it is read) past which ingest requests are answered 503 OVERLOADED; 0 turns it off",
  } as Setting<number>,
  OVERLOAD_PAUSE_MS: {
    parse: parsers.nonNegativeInt,
    default: defaultOverloadPauseMs,
    description: 'Milliseconds a kept-alive connection is not read after one of its requests is answered 503 OVERLOADED; 0 reads it at once',
  } as Setting<number>,
  GATEWAY_HEADERS_TIMEOUT_MS: { parse: parsers.positiveInt, default: defaultConnectionLimits.headersTimeoutMs, description: 'Time a client has to send its request headers; then 408 and the connection is closed' } as Setting<number>,
  GATEWAY_REQUEST_TIMEOUT_MS: { parse: parsers.positiveInt, default: defaultConnectionLimits.requestTimeoutMs, description: 'Time a client has to send a whole request, body included' } as Setting<number>,
  GATEWAY_KEEP_ALIVE_TIMEOUT_MS: { parse: parsers.positiveInt, default: defaultConnectionLimits.keepAliveTimeoutMs, description: 'How long an idle keep-alive connection stays open' } as Setting<number>,
  GATEWAY_MAX_CONNECTIONS: { parse: parsers.positiveInt, default: defaultConnectionLimits.maxConnections, description: 'Most client connections at once; more are closed as they arrive' } as Setting<number>,
  GATEWAY_ACCEPT_HANDLES: {
    parse: parsers.positiveInt,
    default: defaultConnectionLimits.acceptHandles,
    description: 'Listening handles on the gateway socket; Node 20 accepts one connection per handle per event-loop round',
  } as Setting<number>,
  SHUTDOWN_GRACE_MS: { parse: parsers.positiveInt, default: 10_000, description: 'How long shutdown waits for requests in flight' } as Setting<number>,
  LOG_LEVEL: { parse: parsers.oneOf('debug', 'info', 'warn', 'error'), default: 'info', description: 'Log level' } as Setting<string>,
};

/** Kafka's reachability, asked at most once a second however often /readyz is polled. */
function cachedReadiness(check: () => Promise<string | undefined>): () => Promise<string | undefined> {
  let last: { at: number; result: Promise<string | undefined> } | undefined;
  return () => {
    if (!last || Date.now() - last.at > 1_000) last = { at: Date.now(), result: check() };
    return last.result;
  };
}

async function main(): Promise<void> {
  const config = readSettings(settings, process.env);
  const logger = createLogger({ level: isLogLevel(config.LOG_LEVEL) ? config.LOG_LEVEL : 'info', bindings: { service: 'gateway' } });
  if (config.KEYS_FILE === '' && config.DEV_API_KEY === '') {
    throw new Error('Invalid configuration: set KEYS_FILE (an API key file, see docs/keys.md) or DEV_API_KEY (one key for every dataset)');
  }
  const keyStore = config.KEYS_FILE !== '' ? openKeyFile(config.KEYS_FILE, { logger }) : createDevKeyStore(config.DEV_API_KEY);
  const bus = createKafkaBus({ brokers: config.KAFKA_BROKERS, clientId: 'sluice-gateway', logger });
  await bus.ensureTopics([topicSpec(config.KAFKA_TOPIC, config.KAFKA_TOPIC_PARTITIONS, config.KAFKA_TOPIC_REPLICATION_FACTOR, eventsTopicConfig)]);
  const publisher = await bus.createPublisher({ topic: config.KAFKA_TOPIC, threadFrom: config.KAFKA_THREAD_MIN_EVENTS === 0 ? undefined : config.KAFKA_THREAD_MIN_EVENTS });
  const rateLimiter = (rate: number, burst: number): RateLimiter =>
    rate === 0 ? unlimited : createRateLimiter({ eventsPerSecond: rate, burst: burst || 2 * rate, batchBytesPerEvent: config.RATE_LIMIT_BATCH_BYTES_PER_EVENT });
  const app = createApp({
    publisher,
    keyStore,
    logger,
    kafkaReadiness: cachedReadiness(() => bus.checkReachable(config.KAFKA_TOPIC)),
    rateLimiter: rateLimiter(config.RATE_LIMIT_EVENTS_PER_SECOND, config.RATE_LIMIT_BURST),
    publishableRateLimiter: rateLimiter(config.RATE_LIMIT_PUBLISHABLE_EVENTS_PER_SECOND, config.RATE_LIMIT_PUBLISHABLE_BURST),
    maxBodyBytes: config.MAX_BODY_BYTES,
    batchLimits: { maxEvents: config.BATCH_MAX_EVENTS, maxBytes: config.BATCH_MAX_BYTES },
    maxInFlight: config.OVERLOAD_MAX_IN_FLIGHT,
    maxWaitMs: config.OVERLOAD_MAX_WAIT_MS,
    overloadPauseMs: config.OVERLOAD_PAUSE_MS,
  });
  const limits = {
    headersTimeoutMs: config.GATEWAY_HEADERS_TIMEOUT_MS,
    requestTimeoutMs: config.GATEWAY_REQUEST_TIMEOUT_MS,
    keepAliveTimeoutMs: config.GATEWAY_KEEP_ALIVE_TIMEOUT_MS,
    maxConnections: config.GATEWAY_MAX_CONNECTIONS,
    acceptHandles: config.GATEWAY_ACCEPT_HANDLES,
  };
  const server = createGatewayServer(app, limits);
  await listenGateway(server, config.GATEWAY_PORT, config.GATEWAY_HOST, limits);
  logger.info('gateway listening', { url: `http://${config.GATEWAY_HOST}:${config.GATEWAY_PORT}`, keys: config.KEYS_FILE || 'DEV_API_KEY' });

  onShutdownSignal(logger, async () => {
    // Stop taking requests, let those in flight finish (each waits for its Kafka ack), then
    // flush the producer: nothing acknowledged is lost.
    const drained = new Promise<void>((resolve) => server.close(() => resolve()));
    // Keep-alive connections go idle as their last response is sent; close each as it does.
    const closeIdle = setInterval(() => server.closeIdleConnections(), 100);
    server.closeIdleConnections();
    const timeout = setTimeout(() => server.closeAllConnections(), config.SHUTDOWN_GRACE_MS);
    await drained;
    clearInterval(closeIdle);
    clearTimeout(timeout);
    await publisher.close();
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`gateway failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
