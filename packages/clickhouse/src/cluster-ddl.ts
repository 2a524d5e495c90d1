import { SluiceError } from '@sluice/core';
import type { Migration } from './migrations';

/**
 * Where the migrations run: one ClickHouse (embedded chDB or a server), or a cluster of shards
 * and replicas named in the servers' <remote_servers> (CLICKHOUSE_CLUSTER).
 */
export type Topology = { mode: 'single' } | { mode: 'cluster'; cluster: string };

export const singleNode: Topology = { mode: 'single' };

/** Cluster names go into DDL unquoted, as database names do. */
export const clusterNamePattern = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/**
 * The shard (0-based, in the order <remote_servers> lists them) that holds a Kafka partition's
 * events, dead letters, dedup keys and block log: the partition modulo the number of shards. It is
 * also what a Distributed table on kafka_partition computes (the key modulo the shards' weights,
 * all 1), so an INSERT through `events` places a row where the worker would.
 */
export function shardOfPartition(partition: number, shards: number): number {
  if (!Number.isInteger(shards) || shards < 1) throw new SluiceError('INVALID_CONFIG', `A cluster needs at least one shard, got ${shards}`);
  return partition % shards;
}

/** The shard-local table behind a Distributed one. Analysts keep the plain names. */
export function localTableName(table: string): string {
  return `${table}_local`;
}

/** A replicated table's path in Keeper: one replica group per shard and table. */
const shardReplicaArguments = `'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'`;

/**
 * schema_migrations in a cluster: one replica group over every node of every shard, so each one
 * sees the same migrations applied.
 */
export function migrationsTableDdl(topology: Topology): string {
  const columns = `(version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3))`;
  if (topology.mode === 'single') return `CREATE TABLE IF NOT EXISTS schema_migrations ${columns} ENGINE = ReplacingMergeTree ORDER BY version`;
  return (
    `CREATE TABLE IF NOT EXISTS schema_migrations ON CLUSTER ${topology.cluster} ${columns} ` +
    `ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/{database}/schema_migrations', '{shard}-{replica}') ORDER BY version`
  );
}

/**
 * Statements that move data inside one node's history (backfills guarded to run into empty tables,
 * a fix of keys already stored). A cluster starts empty, so in cluster mode they have nothing to
 * move and are left out; data comes over from a single node as docs/deploy.md describes. A later
 * migration that moves data must say how it runs on a cluster: the renderer refuses it until then.
 */
const singleNodeDataMoves = new Set([2, 5, 6, 7]);

/** The migrations as they run on the topology: unchanged on a single node. */
export function renderMigrations(migrations: readonly Migration[], topology: Topology): Migration[] {
  if (topology.mode === 'single') return [...migrations];
  return renderedForCluster(migrations, topology.cluster).migrations;
}

/**
 * The tables that, once the migrations have run on a cluster, are a `<name>_local` table behind a
 * Distributed one of the same name: where a writer of one shard's rows must write the local name.
 */
export function distributedTables(migrations: readonly Migration[], cluster: string): ReadonlySet<string> {
  return renderedForCluster(migrations, cluster).distributed;
}

function renderedForCluster(migrations: readonly Migration[], cluster: string): { migrations: Migration[]; distributed: Set<string> } {
  if (!clusterNamePattern.test(cluster)) {
    throw new SluiceError('INVALID_CONFIG', `ClickHouse cluster name ${JSON.stringify(cluster)} must match [A-Za-z_][A-Za-z0-9_-]*`);
  }
  const distributed = new Set<string>();
  const rendered = migrations.map((migration) => ({
    ...migration,
    statements: migration.statements.flatMap((statement) => {
      try {
        return renderForCluster(statement, cluster, distributed, singleNodeDataMoves.has(migration.version));
      } catch (error) {
        throw new SluiceError('INVALID_CONFIG', `Migration ${migration.version} (${migration.name}) has no cluster form: ${(error as Error).message}`, { cause: error });
      }
    }),
  }));
  return { migrations: rendered, distributed };
}

/**
 * One single-node statement as cluster DDL. `distributed` collects, in migration order, the tables
 * that became a shard-local table plus a Distributed one, which later statements refer to.
 */
function renderForCluster(statement: string, cluster: string, distributed: Set<string>, dataMovesLeftOut: boolean): string[] {
  const onCluster = `ON CLUSTER ${cluster}`;
  const createTable = /^CREATE TABLE IF NOT EXISTS (\w+)\s*(\(.*)$/s.exec(statement);
  if (createTable) {
    const [, name = '', rest = ''] = createTable;
    const { columns, engine, engineArguments, clauses } = splitCreateTable(rest);
    if (engine === 'EmbeddedRocksDB') return [replicatedKeyValueTable(name, onCluster, columns, engineArguments, clauses)];
    if (!/^(Replacing|Summing|Aggregating)?MergeTree$/.test(engine)) throw new Error(`table ${name} has engine ${engine}, which has no replicated form here`);
    distributed.add(name);
    const local = localTableName(name);
    const replicatedArguments = engineArguments === '' ? shardReplicaArguments : `${shardReplicaArguments}, ${engineArguments}`;
    return [
      `CREATE TABLE IF NOT EXISTS ${local} ${onCluster}\n${columns}\nENGINE = Replicated${engine}(${replicatedArguments})${clauses}`,
      `CREATE TABLE IF NOT EXISTS ${name} ${onCluster} AS ${local}\nENGINE = Distributed(${cluster}, currentDatabase(), ${local}${shardingKey(columns)})`,
    ];
  }
  const materializedView = /^CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+) TO (\w+) AS\s(.*)$/s.exec(statement);
  if (materializedView) {
    const [, name = '', target = '', select = ''] = materializedView;
    return [`CREATE MATERIALIZED VIEW IF NOT EXISTS ${name} ${onCluster} TO ${localName(target, distributed)} AS\n${readingLocalTables(select, distributed)}`];
  }
  const view = /^CREATE VIEW IF NOT EXISTS (\w+) AS\s(.*)$/s.exec(statement);
  // Analysts' views read the Distributed tables, under the names they always had.
  if (view) return [`CREATE VIEW IF NOT EXISTS ${view[1] ?? ''} ${onCluster} AS\n${view[2] ?? ''}`];
  const modifyQuery = /^ALTER TABLE (\w+) MODIFY QUERY\s(.*)$/s.exec(statement);
  if (modifyQuery) return [`ALTER TABLE ${modifyQuery[1] ?? ''} ${onCluster} MODIFY QUERY\n${readingLocalTables(modifyQuery[2] ?? '', distributed)}`];
  const alter = /^ALTER TABLE (\w+)\s(.*)$/s.exec(statement);
  if (alter) return alterForCluster(alter[1] ?? '', alter[2] ?? '', onCluster, distributed);
  const drop = /^DROP (TABLE|VIEW) IF EXISTS (\w+)$/s.exec(statement);
  if (drop) {
    const [, kind = '', name = ''] = drop;
    if (!distributed.has(name)) return [`DROP ${kind} IF EXISTS ${name} ${onCluster}`];
    distributed.delete(name);
    return [`DROP TABLE IF EXISTS ${name} ${onCluster}`, `DROP TABLE IF EXISTS ${localTableName(name)} ${onCluster}`];
  }
  if (/^INSERT INTO \w+\s/.test(statement)) {
    if (dataMovesLeftOut) return [];
    throw new Error('it moves data, and a cluster form for that is not written yet');
  }
  throw new Error(`its statement is of a kind the cluster renderer does not know: ${statement.slice(0, 80)}`);
}

/** Splits `(columns) ENGINE = Name(args) clauses` at the column list's closing parenthesis. */
function splitCreateTable(rest: string): { columns: string; engine: string; engineArguments: string; clauses: string } {
  const columnsEnd = closingParenthesis(rest, 0);
  const columns = rest.slice(0, columnsEnd + 1);
  const engineMatch = /^\s*ENGINE\s*=\s*(\w+)/.exec(rest.slice(columnsEnd + 1));
  if (!engineMatch) throw new Error('a CREATE TABLE without ENGINE after its columns');
  const engine = engineMatch[1] ?? '';
  let after = columnsEnd + 1 + engineMatch[0].length;
  let engineArguments = '';
  if (rest[after] === '(') {
    const end = closingParenthesis(rest, after);
    engineArguments = rest.slice(after + 1, end).trim();
    after = end + 1;
  }
  return { columns, engine, engineArguments, clauses: rest.slice(after) };
}

/** The index of the parenthesis that closes the one at `open`. Our migrations quote no parentheses. */
function closingParenthesis(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')' && --depth === 0) return i;
  }
  throw new Error('unbalanced parentheses');
}

/**
 * Rows inserted through a Distributed table that has kafka_partition go to the shard the worker
 * puts that partition's rows on (shardOfPartition). The others are written only shard by shard,
 * by their materialized views, and read through Distributed, which needs no key for that.
 */
function shardingKey(columns: string): string {
  return /^\s*kafka_partition\s/m.test(columns) ? ', kafka_partition' : '';
}

/**
 * A key-value table (EmbeddedRocksDB, which does not replicate) as a replicated table that keeps
 * the last row written per key: the dedup keys and the block log, read point by point by the
 * worker of the shard. A RocksDB TTL in seconds becomes a TTL on the row's recorded_at.
 */
/**
 * Point reads by the sorting key read one granule per key: small granules (256 rows), each
 * compressed on its own (min_compress_block_size), so that a key costs one small block to read
 * and decompress. 1,000 keys out of 10M: 48 ms instead of 135 (bench dedup, docs/worker.md).
 */
const pointReadSettings = 'SETTINGS index_granularity = 256, min_compress_block_size = 4096';

function replicatedKeyValueTable(name: string, onCluster: string, columns: string, engineArguments: string, clauses: string): string {
  const key = /^\s*PRIMARY KEY\s*(\(.*\))\s*$/s.exec(clauses)?.[1];
  if (key === undefined) throw new Error(`key-value table ${name} needs a PRIMARY KEY (...) and nothing else after its engine`);
  const ttlSeconds = engineArguments === '' ? undefined : Number(engineArguments);
  if (ttlSeconds !== undefined && !Number.isInteger(ttlSeconds)) throw new Error(`key-value table ${name} has engine arguments ${engineArguments}; only a TTL in seconds is rendered`);
  const ttl = ttlSeconds === undefined ? '' : `\nTTL toDateTime(recorded_at) + INTERVAL ${ttlSeconds} SECOND`;
  if (ttl !== '' && !/^\s*recorded_at\s/m.test(columns)) throw new Error(`key-value table ${name} has a TTL but no recorded_at column to keep it by`);
  const version = /^\s*recorded_at\s/m.test(columns) ? ', recorded_at' : '';
  return `CREATE TABLE IF NOT EXISTS ${name} ${onCluster}\n${columns}\nENGINE = ReplicatedReplacingMergeTree(${shardReplicaArguments}${version})\nORDER BY ${key}${ttl}\n${pointReadSettings}`;
}

function localName(table: string, distributed: ReadonlySet<string>): string {
  return distributed.has(table) ? localTableName(table) : table;
}

/**
 * A materialized view fires on inserts into the table it reads, which in a cluster is the shard's
 * local table. It is aliased by the Distributed name, which the views' conditions qualify columns
 * with (events.request_id).
 */
function readingLocalTables(select: string, distributed: ReadonlySet<string>): string {
  return select.replace(/\bFROM\s+(\w+)\b(?!\s+AS\b)/g, (whole, table: string) => (distributed.has(table) ? `FROM ${localTableName(table)} AS ${table}` : whole));
}

/**
 * A replicated table also forgets block tokens by age (an hour by default in recent versions),
 * which one node's window does not: kept as long as the block log keeps its records, so that the
 * window is bounded by its count of blocks, as on one node.
 */
const deduplicationWindowSeconds = 30 * 24 * 3600;

/**
 * An ALTER on the shard-local table; column changes also on the Distributed table (types only:
 * codecs and defaults are storage, which a Distributed table has none of), so that it reads
 * the columns as the shards store them. Deduplication of recent blocks by token is
 * replicated_deduplication_window on a replicated table.
 */
function alterForCluster(table: string, actions: string, onCluster: string, distributed: ReadonlySet<string>): string[] {
  const clauses = topLevelClauses(actions).map((clause) =>
    clause.replace(/^MODIFY SETTING non_replicated_deduplication_window = (\d+)$/, `MODIFY SETTING replicated_deduplication_window = $1, replicated_deduplication_window_seconds = ${deduplicationWindowSeconds}`),
  );
  const statements = [`ALTER TABLE ${localName(table, distributed)} ${onCluster}\n    ${clauses.join(',\n    ')}`];
  if (distributed.has(table)) {
    const columnChanges = clauses.filter((clause) => /^(MODIFY|ADD) COLUMN\b/.test(clause)).map(withoutStorageClauses);
    if (columnChanges.length > 0) statements.push(`ALTER TABLE ${table} ${onCluster}\n    ${columnChanges.join(',\n    ')}`);
  }
  return statements;
}

/** An ALTER's comma-separated clauses, split where the comma is outside parentheses. */
function topLevelClauses(actions: string): string[] {
  const clauses: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < actions.length; i++) {
    const c = actions[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      clauses.push(actions.slice(start, i));
      start = i + 1;
    }
  }
  clauses.push(actions.slice(start));
  return clauses.map((clause) => clause.replace(/--[^\n]*\n/g, '').replace(/\s+/g, ' ').trim()).filter((clause) => clause !== '');
}

/** `MODIFY COLUMN x T DEFAULT e CODEC(...)` → `MODIFY COLUMN x T`. */
function withoutStorageClauses(clause: string): string {
  return clause.replace(/\s+CODEC\(.*\)$/, '').replace(/\s+DEFAULT\s+.*$/, '');
}
