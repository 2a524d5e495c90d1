import { createServer } from 'node:http';
import { createLogger, isLogLevel, kafkaSettings, onShutdownSignal, parsers, readSettings, type Setting } from '@sluice/core';
import { createKafkaBus } from '@sluice/kafka';
import { createApp, defaultMaxBodyBytes } from './app';
import { createSingleKeyAuthenticator } from './auth';

const settings = {
  ...kafkaSettings,
  GATEWAY_HOST: { parse: parsers.nonEmpty, default: '127.0.0.1', description: 'Interface the gateway listens on (0.0.0.0 in containers)' } as Setting<string>,
  GATEWAY_PORT: { parse: parsers.port, default: 8090, description: 'Gateway HTTP port' } as Setting<number>,
  DEV_API_KEY: { parse: parsers.nonEmpty, description: 'The API key producers must send' } as Setting<string>,
  MAX_BODY_BYTES: { parse: parsers.positiveInt, default: defaultMaxBodyBytes, description: 'Largest accepted request body, in bytes' } as Setting<number>,
  SHUTDOWN_GRACE_MS: { parse: parsers.positiveInt, default: 10_000, description: 'How long shutdown waits for requests in flight' } as Setting<number>,
  LOG_LEVEL: { parse: parsers.oneOf('debug', 'info', 'warn', 'error'), default: 'info', description: 'Log level' } as Setting<string>,
};

async function main(): Promise<void> {
  const config = readSettings(settings, process.env);
  const logger = createLogger({ level: isLogLevel(config.LOG_LEVEL) ? config.LOG_LEVEL : 'info', bindings: { service: 'gateway' } });
  const bus = createKafkaBus({ brokers: config.KAFKA_BROKERS, clientId: 'sluice-gateway', logger });
  await bus.ensureTopics([{ name: config.KAFKA_TOPIC, partitions: config.KAFKA_TOPIC_PARTITIONS }]);
  const publisher = await bus.createPublisher({ topic: config.KAFKA_TOPIC });
  const app = createApp({ publisher, authenticator: createSingleKeyAuthenticator(config.DEV_API_KEY), logger, maxBodyBytes: config.MAX_BODY_BYTES });
  const server = createServer(app);
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(config.GATEWAY_PORT, config.GATEWAY_HOST, resolve));
  logger.info('gateway listening', { url: `http://${config.GATEWAY_HOST}:${config.GATEWAY_PORT}` });

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
