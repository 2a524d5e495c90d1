import { resolve } from 'node:path';
import { createLogger, onShutdownSignal, parsers, readSettings, type Setting } from '@sluice/core';
import { listenChdbOverHttp } from './chdb-http';

/**
 * Serves an embedded chDB data directory over ClickHouse's HTTP interface, so that workers reach
 * it with CLICKHOUSE_URL as they would reach a ClickHouse server (docs/worker.md).
 */
const settings = {
  CHDB_PATH: { parse: parsers.nonEmpty, default: '.data/chdb', description: 'chDB data directory to serve' } as Setting<string>,
  CHDB_HTTP_HOST: { parse: parsers.nonEmpty, default: '127.0.0.1', description: 'Interface to listen on' } as Setting<string>,
  CHDB_HTTP_PORT: { parse: parsers.port, default: 8123, description: 'Port to listen on' } as Setting<number>,
};

async function main(): Promise<void> {
  const config = readSettings(settings, process.env);
  const logger = createLogger({ level: 'info', bindings: { service: 'chdb-http' } });
  const front = await listenChdbOverHttp(resolve(config.CHDB_PATH), config.CHDB_HTTP_PORT, config.CHDB_HTTP_HOST);
  logger.info('chDB served over HTTP', { url: `http://${config.CHDB_HTTP_HOST}:${config.CHDB_HTTP_PORT}`, dataPath: resolve(config.CHDB_PATH) });
  onShutdownSignal(logger, () => front.close());
}

main().catch((error: unknown) => {
  process.stderr.write(`chdb-http failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
