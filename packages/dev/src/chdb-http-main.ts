import { resolve } from 'node:path';
import { createLogger, onShutdownSignal, parsers, readSettings, type Setting } from '@sluice/core';
import { listenChdbOverHttp } from '@sluice/clickhouse';

/**
 * Serves an embedded chDB data directory over ClickHouse's HTTP interface, so that workers reach
 * it with CLICKHOUSE_URL as they would reach a ClickHouse server (docs/worker.md). Its users are a
 * server's: `default`, the worker's, and the read-only `analyst` of users.d/analyst.xml.
 */
const anyText = (raw: string): { ok: true; value: string } => ({ ok: true, value: raw });
const settings = {
  CHDB_PATH: { parse: parsers.nonEmpty, default: '.data/chdb', description: 'chDB data directory to serve' } as Setting<string>,
  CHDB_HTTP_HOST: { parse: parsers.nonEmpty, default: '127.0.0.1', description: 'Interface to listen on' } as Setting<string>,
  CHDB_HTTP_PORT: { parse: parsers.port, default: 8123, description: 'Port to listen on' } as Setting<number>,
  CHDB_HTTP_DEFAULT_PASSWORD: { parse: anyText, default: '', description: "Password of user default, the worker's (its CLICKHOUSE_PASSWORD); empty: none" } as Setting<string>,
  CHDB_HTTP_ANALYST_PASSWORD: { parse: anyText, default: '', description: 'Password of the read-only user analyst; empty: none' } as Setting<string>,
  CHDB_HTTP_ANALYST_DATABASE: { parse: parsers.nonEmpty, default: 'sluice', description: "The analyst's database when a request names none, as analyst.xml's default_database" } as Setting<string>,
};

async function main(): Promise<void> {
  const config = readSettings(settings, process.env);
  const logger = createLogger({ level: 'info', bindings: { service: 'chdb-http' } });
  const front = await listenChdbOverHttp(resolve(config.CHDB_PATH), config.CHDB_HTTP_PORT, config.CHDB_HTTP_HOST, {
    defaultPassword: config.CHDB_HTTP_DEFAULT_PASSWORD,
    analyst: { password: config.CHDB_HTTP_ANALYST_PASSWORD, database: config.CHDB_HTTP_ANALYST_DATABASE },
  });
  logger.info('chDB served over HTTP', { url: `http://${config.CHDB_HTTP_HOST}:${config.CHDB_HTTP_PORT}`, dataPath: resolve(config.CHDB_PATH), users: ['default', 'analyst'] });
  onShutdownSignal(logger, () => front.close());
}

main().catch((error: unknown) => {
  process.stderr.write(`chdb-http failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
