/**
 * `npm start`: the whole pipeline on one machine. A real Kafka broker, the worker on embedded
 * ClickHouse (chDB) and the gateway, each in its own process, stopped in order on Ctrl-C.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SluiceError, createLogger, eventsTopicConfig, kafkaSettings, minInsyncReplicasFor, onShutdownSignal, parsers, readSettings, type Setting } from '@sluice/core';
import { createKafkaBus } from '@sluice/kafka';
import { repositoryRoot, startLocalBroker, startLocalCluster, startService, type RunningService } from '@sluice/dev';

const settings = {
  ...kafkaSettings,
  GATEWAY_PORT: { parse: parsers.port, default: 8090, description: 'Gateway HTTP port' } as Setting<number>,
  ADMIN_PORT: { parse: parsers.port, default: 8091, description: 'Worker admin port (GET /healthz, GET /metrics, POST /replay)' } as Setting<number>,
  CLICKHOUSE_HTTP_PORT: { parse: parsers.port, default: 8123, description: "Worker's ClickHouse HTTP interface for analysts; 0 turns it off" } as Setting<number>,
  KAFKA_PORT: { parse: parsers.port, default: 9092, description: 'Port of the local Kafka broker' } as Setting<number>,
  KAFKA_CONTROLLER_PORT: { parse: parsers.port, default: 9093, description: 'Port of the local KRaft controller' } as Setting<number>,
  KAFKA_BROKERS_COUNT: {
    parse: parsers.positiveInt,
    default: 1,
    description: 'Local Kafka nodes: 1, or 3 for a cluster whose events topic has replication factor 3 and min.insync.replicas 2',
  } as Setting<number>,
  DEV_API_KEY: { parse: parsers.nonEmpty, default: '', description: 'The local API key; generated once when unset' } as Setting<string>,
  ADMIN_TOKEN: { parse: parsers.nonEmpty, default: '', description: "The worker's admin token (POST /replay); generated once when unset" } as Setting<string>,
  KEYS_FILE: { parse: parsers.nonEmpty, default: '', description: 'API key file; unset: the dev key may write to any dataset' } as Setting<string>,
  DATA_DIR: { parse: parsers.nonEmpty, default: join(repositoryRoot, '.data'), description: 'Where Kafka, chDB, logs and the dev key live' } as Setting<string>,
};

/**
 * DEV_API_KEY when set; otherwise a key generated once and kept, so the printed key stays the
 * same from one `npm start` to the next. Either way it is written to <data>/dev-api-key, which
 * the README's examples read.
 */
function devApiKey(configured: string, dataDirectory: string): string {
  const file = join(dataDirectory, 'dev-api-key');
  const key = configured !== '' ? configured : existsSync(file) ? readFileSync(file, 'utf8').trim() : `sk_dev_${randomBytes(16).toString('hex')}`;
  writeFileSync(file, key + '\n', { mode: 0o600 });
  return key;
}

/**
 * ADMIN_TOKEN when set; otherwise one generated once and kept in <data>/admin-token (readable by
 * its owner only), where `npm run replay` finds it.
 */
function adminToken(configured: string, dataDirectory: string): string {
  const file = join(dataDirectory, 'admin-token');
  const token = configured !== '' ? configured : existsSync(file) ? readFileSync(file, 'utf8').trim() : `sa_${randomBytes(24).toString('hex')}`;
  writeFileSync(file, token + '\n', { mode: 0o600 });
  return token;
}

async function main(): Promise<void> {
  const config = readSettings(settings, process.env);
  const dataDirectory = resolve(config.DATA_DIR);
  const logDirectory = join(dataDirectory, 'logs');
  mkdirSync(logDirectory, { recursive: true });
  const logger = createLogger({ bindings: { service: 'start' } });
  const apiKey = devApiKey(config.DEV_API_KEY, dataDirectory);
  const token = adminToken(config.ADMIN_TOKEN, dataDirectory);

  const replicationFactor = config.KAFKA_BROKERS_COUNT;
  if (replicationFactor !== 1 && replicationFactor !== 3) {
    throw new SluiceError('INVALID_CONFIG', `KAFKA_BROKERS_COUNT must be 1 or 3, not ${replicationFactor}`, { field: 'KAFKA_BROKERS_COUNT' });
  }
  // A cluster's node n listens on KAFKA_PORT + 2(n-1) and KAFKA_CONTROLLER_PORT + 2(n-1): 9092/9093, 9094/9095, 9096/9097.
  const broker =
    replicationFactor === 1
      ? await startLocalBroker({ dataDirectory: join(dataDirectory, 'kafka'), port: config.KAFKA_PORT, controllerPort: config.KAFKA_CONTROLLER_PORT, logger })
      : await startLocalCluster({
          dataDirectory: join(dataDirectory, 'kafka-cluster'),
          nodes: [0, 2, 4].map((offset) => ({ port: config.KAFKA_PORT + offset, controllerPort: config.KAFKA_CONTROLLER_PORT + offset })),
          logger,
        });
  const services: RunningService[] = [];
  const stopAll = async (): Promise<void> => {
    // Gateway first (it drains requests and flushes to Kafka), then the worker (it stores and
    // commits what it holds), then Kafka.
    for (const service of [...services].reverse()) await service.stop();
    await broker.stop();
  };
  onShutdownSignal(logger, stopAll);

  try {
    const brokers = broker.brokers.join(',');
    await createKafkaBus({ brokers: broker.brokers, clientId: 'sluice-start', logger }).ensureTopics([
      {
        name: config.KAFKA_TOPIC,
        partitions: config.KAFKA_TOPIC_PARTITIONS,
        replicationFactor,
        config: { ...eventsTopicConfig, 'min.insync.replicas': String(minInsyncReplicasFor(replicationFactor)) },
      },
    ]);
    const shared = { KAFKA_BROKERS: brokers, KAFKA_TOPIC: config.KAFKA_TOPIC, KAFKA_TOPIC_PARTITIONS: String(config.KAFKA_TOPIC_PARTITIONS) };
    services.push(
      await startService({
        name: 'worker',
        entry: 'services/worker/src/main.ts',
        env: { ...shared, ADMIN_PORT: String(config.ADMIN_PORT), ADMIN_TOKEN: token, CLICKHOUSE_HTTP_PORT: String(config.CLICKHOUSE_HTTP_PORT), CHDB_PATH: join(dataDirectory, 'chdb') },
        healthUrl: `http://127.0.0.1:${config.ADMIN_PORT}/healthz`,
        logDirectory,
        onUnexpectedExit: () => void stopAll().then(() => process.exit(1)),
      }),
    );
    services.push(
      await startService({
        name: 'gateway',
        entry: 'services/gateway/src/main.ts',
        env: { ...shared, GATEWAY_PORT: String(config.GATEWAY_PORT), DEV_API_KEY: apiKey },
        healthUrl: `http://127.0.0.1:${config.GATEWAY_PORT}/healthz`,
        logDirectory,
        onUnexpectedExit: () => void stopAll().then(() => process.exit(1)),
      }),
    );
  } catch (error) {
    await stopAll();
    throw error;
  }

  const gateway = `http://127.0.0.1:${config.GATEWAY_PORT}`;
  // npm run sql finds the interface on its default port; on another it needs to be told.
  const sqlCommand = config.CLICKHOUSE_HTTP_PORT === 8123 ? 'npm run sql' : `CLICKHOUSE_HTTP_PORT=${config.CLICKHOUSE_HTTP_PORT} npm run sql`;
  process.stdout.write(`
Sluice is running (Kafka ${broker.brokers.join(',')} started in ${(broker.startupMs / 1000).toFixed(1)} s; ClickHouse embedded in the worker).

  Send events to   ${gateway}
${
    config.KEYS_FILE === ''
      ? `  API key          ${apiKey}   (the local dev key: it may write to any dataset)`
      : `  API keys         from ${config.KEYS_FILE} (npm run keys -- list); the dev key is not accepted`
  }

  Try it:
    curl -i -X PUT ${gateway}/api/analytics/events \\
      -H "Authorization: Bearer ${apiKey}" \\
      -H "TR-Dataset: demo" -H "Content-Type: application/json" \\
      -d '{"event_type":"view","event_name":"product_viewed","items":["sku-1"]}'

${
    config.CLICKHOUSE_HTTP_PORT === 0
      ? '  Query: off (CLICKHOUSE_HTTP_PORT=0 turns off the analysts\' ClickHouse HTTP interface, which npm run sql uses)\n'
      : `  Query (ClickHouse's HTTP interface, user analyst, read-only, database sluice; answers are JSONEachRow):
    ${sqlCommand} -- "SELECT event_type, count() FROM events GROUP BY event_type"
    ${sqlCommand} -- "SELECT day, request_type, searches, searches_with_click, ctr FROM ctr_daily"
    ClickHouse clients (@clickhouse/client, clickhouse-connect, curl): http://analyst@127.0.0.1:${config.CLICKHOUSE_HTTP_PORT}\n`
  }    Analyst views: ctr_daily, ctr_by_query, ctr_by_position, search_conversion_daily,
    item_ctr_by_position, conversion_daily, outcomes_daily (docs/analysts.md)

  Admin token      ${token}   (kept in ${join(dataDirectory, 'admin-token')})
    POST /replay on http://127.0.0.1:${config.ADMIN_PORT} needs it as Authorization: Bearer <token>;
    npm run replay sends it for you

  Logs in ${logDirectory} (warnings and errors are shown here). Ctrl-C stops everything.
`);
}

main().catch((error: unknown) => {
  process.stderr.write(`npm start failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
