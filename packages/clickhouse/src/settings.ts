import { resolve } from 'node:path';
import { SluiceError, parsers, type Logger, type Setting } from '@sluice/core';
import { openClickHouse, type ClickHouse, type ClickHouseOptions } from './clickhouse';
import { clusterNamePattern, singleNode, type Topology } from './cluster-ddl';
import { applyMigrations, type Migration } from './migrations';

/** Where ClickHouse is, for every process that opens it: the worker and `npm run migrate`. */
export const clickhouseSettings = {
  CLICKHOUSE_URL: { parse: parsers.url, default: '', description: 'ClickHouse server HTTP URL; unset runs chDB embedded' } as Setting<string>,
  CLICKHOUSE_USER: { parse: parsers.nonEmpty, default: 'default', description: 'ClickHouse user (server mode)' } as Setting<string>,
  CLICKHOUSE_PASSWORD: { parse: (raw) => ({ ok: true, value: raw }), default: '', description: 'ClickHouse password (server mode)' } as Setting<string>,
  CLICKHOUSE_DATABASE: { parse: parsers.nonEmpty, default: 'sluice', description: 'ClickHouse database' } as Setting<string>,
  CHDB_PATH: { parse: parsers.nonEmpty, default: '.data/chdb', description: 'chDB data directory (embedded mode)' } as Setting<string>,
  CLICKHOUSE_CLUSTER: {
    parse: (raw) => (raw === '' || clusterNamePattern.test(raw) ? { ok: true, value: raw } : { ok: false, expected: 'a cluster name of letters, digits, _ and -' }),
    default: '',
    description: "Cluster of the servers' remote_servers: migrations create Replicated tables on every node, with Distributed ones under the analysts' names (docs/deploy.md, Cluster); unset: one node",
  } as Setting<string>,
  CLICKHOUSE_SHARD_URLS: {
    parse: (raw) => {
      const urls = raw.split(',').map((url) => url.trim()).filter((url) => url !== '');
      return urls.every((url) => parsers.url(url).ok) ? { ok: true, value: urls } : { ok: false, expected: 'http:// or https:// URLs separated by commas' };
    },
    default: [],
    description:
      "The shards' HTTP URLs, in the order of the cluster's remote_servers: the worker writes Kafka partition p to shard p mod their number (docs/deploy.md, Cluster); in place of CLICKHOUSE_URL",
  } as Setting<string[]>,
};

export interface ClickHouseConfig {
  CLICKHOUSE_URL: string;
  CLICKHOUSE_USER: string;
  CLICKHOUSE_PASSWORD: string;
  CLICKHOUSE_DATABASE: string;
  CHDB_PATH: string;
  CLICKHOUSE_CLUSTER: string;
  CLICKHOUSE_SHARD_URLS: string[];
}

export function clickhouseOptions(config: ClickHouseConfig, logger: Logger): ClickHouseOptions {
  return {
    url: config.CLICKHOUSE_URL || undefined,
    username: config.CLICKHOUSE_USER,
    password: config.CLICKHOUSE_PASSWORD,
    database: config.CLICKHOUSE_DATABASE,
    dataPath: resolve(config.CHDB_PATH),
    logger,
  };
}

export function topologyOf(config: Pick<ClickHouseConfig, 'CLICKHOUSE_CLUSTER'>): Topology {
  return config.CLICKHOUSE_CLUSTER === '' ? singleNode : { mode: 'cluster', cluster: config.CLICKHOUSE_CLUSTER };
}

/** The ClickHouses the settings name: each shard in order, else the one server or embedded chDB. */
export async function openConfiguredClickHouses(config: ClickHouseConfig, logger: Logger): Promise<ClickHouse[]> {
  if (config.CLICKHOUSE_SHARD_URLS.length === 0) return [await openClickHouse(clickhouseOptions(config, logger))];
  if (config.CLICKHOUSE_URL !== '') throw new SluiceError('INVALID_CONFIG', 'Set CLICKHOUSE_URL (one server) or CLICKHOUSE_SHARD_URLS (one URL per shard), not both');
  const opened: ClickHouse[] = [];
  try {
    for (const url of config.CLICKHOUSE_SHARD_URLS) opened.push(await openClickHouse({ ...clickhouseOptions(config, logger), url }));
  } catch (error) {
    await Promise.allSettled(opened.map((shard) => shard.close()));
    throw error;
  }
  return opened;
}

/**
 * Applies the migrations where they belong: once, ON CLUSTER, through the first node of a cluster
 * (Keeper runs them on every node); on each ClickHouse otherwise. Returns those newly applied on the first.
 */
export async function applyMigrationsToEvery(clickhouses: readonly ClickHouse[], topology: Topology, logger: Logger): Promise<Migration[]> {
  const [first, ...others] = clickhouses;
  if (first === undefined) return [];
  const applied = await applyMigrations(first, logger, undefined, topology);
  if (topology.mode === 'single') for (const other of others) await applyMigrations(other, logger);
  return applied;
}
