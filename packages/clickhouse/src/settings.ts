import { resolve } from 'node:path';
import { parsers, type Logger, type Setting } from '@sluice/core';
import type { ClickHouseOptions } from './clickhouse';
import { clusterNamePattern, singleNode, type Topology } from './cluster-ddl';

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
};

export interface ClickHouseConfig {
  CLICKHOUSE_URL: string;
  CLICKHOUSE_USER: string;
  CLICKHOUSE_PASSWORD: string;
  CLICKHOUSE_DATABASE: string;
  CHDB_PATH: string;
  CLICKHOUSE_CLUSTER: string;
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
