import { ClickHouseLogLevel, createClient, type ClickHouseClient, type ClickHouseSettings } from '@clickhouse/client';
import { createChdbConnection, type ChdbConnection } from 'chdb/connection';
import { SluiceError, errorMessage, oneAtATime, rejectUnknownKeys, type Logger } from '@sluice/core';

/**
 * The one module that decides where ClickHouse is: embedded chDB in this process by default,
 * a ClickHouse server over HTTP when a URL is given. Callers see the same interface either way.
 */
export interface ClickHouseOptions {
  /** A ClickHouse server's HTTP URL (CLICKHOUSE_URL). Without it, chDB runs embedded. */
  url?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
  database: string;
  /** Embedded mode: the chDB data directory. Only one process may open it. */
  dataPath?: string | undefined;
  logger: Logger;
}

export interface ClickHouse {
  readonly mode: 'embedded' | 'server';
  readonly database: string;
  /** Runs a statement that returns no rows (DDL, INSERT ... SELECT). */
  command(sql: string): Promise<void>;
  /** Runs a query and returns its rows as objects. */
  queryRows<T>(sql: string, params?: Record<string, unknown>): Promise<T[]>;
  /** Inserts rows with one INSERT. */
  insertRows(table: string, rows: readonly object[]): Promise<void>;
  /**
   * Inserts rows as one block identified by `token`: ClickHouse stores a block with a token it has
   * seen once only, in the table and in every materialized view fed from it (each view dedups on
   * its own, so a retry completes a block that reached some views and not others).
   */
  insertBlock(table: string, rows: readonly object[], token: string): Promise<void>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Settings every connection of ours uses. chDB keeps any setting given to one query (as
 * clickhouse_settings) on its connection for the following ones, so we never pass per-query
 * settings to the writer: all of them are fixed here, once, per connection. This matters most for
 * insert_deduplication_token: given as clickhouse_settings it stays, and every later insert is
 * silently dropped as a duplicate. A SETTINGS clause in the query text is scoped to that query.
 */
export const sessionSettings = {
  // Without this, DateTime functions follow the host's time zone in chDB.
  session_timezone: 'UTC',
  date_time_input_format: 'basic',
  // Counts as JSON numbers, the same in chDB and on a server (their defaults differ).
  output_format_json_quote_64bit_integers: 0,
} as const satisfies ClickHouseSettings;

/** The database names Sluice accepts (CLICKHOUSE_DATABASE): they go into SQL and config files unquoted. */
export const databaseNamePattern = /^[A-Za-z_][A-Za-z0-9_]*$/;

export async function openClickHouse(options: ClickHouseOptions): Promise<ClickHouse> {
  rejectUnknownKeys(options, ['url', 'username', 'password', 'database', 'dataPath', 'logger'], 'ClickHouse options');
  if (!databaseNamePattern.test(options.database)) {
    throw new SluiceError('INVALID_CONFIG', `ClickHouse database name ${JSON.stringify(options.database)} must match [A-Za-z_][A-Za-z0-9_]*`);
  }
  return options.url ? openServer(options, options.url) : openEmbedded(options);
}

async function openEmbedded(options: ClickHouseOptions): Promise<ClickHouse> {
  const dataPath = options.dataPath;
  if (!dataPath) throw new SluiceError('INVALID_CONFIG', 'Embedded ClickHouse needs a data directory (CHDB_PATH)');
  // Connections on one path coexist in one process and keep separate session state.
  const opened: ClickHouseClient[] = [];
  const db = options.database;
  try {
    const writer = createClient({ connection: asClientConnection(createChdbConnection({ path: dataPath })) });
    opened.push(writer);
    // Tokened inserts get a connection (a chDB session) of their own, so that one runs while the
    // writer looks up keys. Each carries its token in its own SETTINGS clause, scoped to it: a
    // token left on a session would silently drop every later untokened insert there.
    const blockConnection = createChdbConnection({ path: dataPath });
    const blockWriter = createClient({ connection: asClientConnection(blockConnection) });
    opened.push(blockWriter);
    await writer.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
    for (const client of [writer, blockWriter]) {
      // chDB ignores the client's `database` option; USE sticks to the connection instead.
      await client.command({ query: `USE ${db}` });
      for (const [name, value] of Object.entries(sessionSettings)) await client.command({ query: `SET ${name} = '${String(value)}'` });
    }
    options.logger.info('ClickHouse is embedded (chDB)', { dataPath, database: db });
    // chDB's own insert takes the rows as bytes, parses them on its threads, and scopes the
    // settings to the insert; @clickhouse/client's path would first turn them into query text.
    const insertBlock: BlockInsert = (table, block, token) => {
      // Each row's array of values is made and encoded in one go, so none outlives its line.
      const values = Buffer.from(block.rows.map((row) => JSON.stringify(valuesOf(row, block.columns))).join('\n'));
      return async () => {
        await blockConnection.chdb.rawInsert({ table, columns: block.columns, values, format: 'JSONCompactEachRow', settings: blockSettings(token) });
      };
    };
    return wrap('embedded', db, { writer, blockWriter }, insertBlock);
  } catch (error) {
    await Promise.allSettled(opened.map((client) => client.close()));
    throw new SluiceError(
      'CLICKHOUSE_UNAVAILABLE',
      `Could not open chDB at ${dataPath}: ${errorMessage(error)}. Only one process may open a chDB data directory; is another worker running on it?`,
      { cause: error },
    );
  }
}

async function openServer(options: ClickHouseOptions, url: string): Promise<ClickHouse> {
  const base = {
    url,
    username: options.username ?? 'default',
    password: options.password ?? '',
    clickhouse_settings: sessionSettings,
    // Every failure reaches the caller as a classified error, which the caller logs once.
    log: { level: ClickHouseLogLevel.OFF },
  };
  const admin = createClient(base);
  try {
    await admin.command({ query: `CREATE DATABASE IF NOT EXISTS ${options.database}` });
  } catch (error) {
    throw new SluiceError('CLICKHOUSE_UNAVAILABLE', `Could not reach ClickHouse at ${redact(url)}: ${errorMessage(error)}`, { cause: error });
  } finally {
    await admin.close();
  }
  const writer = createClient({ ...base, database: options.database });
  options.logger.info('ClickHouse is a server', { url: redact(url), database: options.database });
  const insertBlock: BlockInsert = (table, block, token) => {
    const values = block.rows.map((row) => valuesOf(row, block.columns));
    return async () => {
      await writer.insert({ table, columns: block.columns, values, format: 'JSONCompactEachRow', clickhouse_settings: blockSettings(token) });
    };
  };
  return wrap('server', options.database, { writer, blockWriter: writer }, insertBlock);
}

/**
 * What one analyst query may take on the analysts' read-only session (chdb-http.ts), and in the
 * analyst profile of deploy/clickhouse/server/users.d/analyst.xml: a bound on time, memory and
 * result size, so that a heavy or abandoned query cannot take the worker's memory or the session
 * for long. Set before `readonly = 1`, which then forbids changing them.
 */
export const analystLimits = {
  max_execution_time: 60,
  max_memory_usage: 4 * 1024 ** 3,
  max_result_rows: 10_000_000,
  max_result_bytes: 1024 ** 3,
} as const;

/**
 * What ClickHouse's own parser makes of an analyst's statement on the analysts' read-only session:
 * why it may not run, or the statement as the parser formats it on one line (undefined when it
 * cannot parse it). `formatSingleLine`
 * runs formatQuerySingleLine on the statement. chDB is clickhouse-local, which lets even a
 * read-only session write files with INTO OUTFILE, and the session is shared, so a USE would
 * change the database of every later analyst (readonly = 1 already refuses SET); ClickHouse's HTTP
 * interface refuses both, and one request holds one statement there too. The analysts' HTTP
 * interface (chdb-http.ts) runs this check.
 */
export async function inspectAnalystStatement(sql: string, formatSingleLine: (statement: string) => Promise<string>): Promise<{ problem: string } | { formatted: string | undefined }> {
  let formatted: string;
  try {
    formatted = await formatSingleLine(sql);
  } catch (error) {
    const message = errorMessage(error);
    // A syntax error is reported by running the statement, as ClickHouse words it; only several statements are ours to refuse.
    return /Multi-statements are not allowed/.test(message) ? { problem: 'Send one statement per request (several statements separated by ";" are not allowed)' } : { formatted: undefined };
  }
  // The formatter writes keywords in capitals and string literals quoted, so a capitalised
  // "INTO OUTFILE" in a literal is refused too: an inconvenience, never a way around the check.
  if (/ INTO OUTFILE /.test(formatted)) return { problem: 'INTO OUTFILE is not allowed: it would write a file on the worker\'s machine; read the result from the answer instead' };
  // readonly = 1 lets a session KILL any query of the process, the worker's inserts too.
  if (/^KILL /.test(formatted)) return { problem: "KILL is not allowed: it could stop the worker's own queries; a query stops when its client disconnects" };
  if (/^USE /.test(formatted)) return { problem: 'USE is not allowed: the read-only session is shared, so it would change the database for every later analyst; name tables as database.table instead' };
  return { formatted };
}

interface Connections {
  writer: ClickHouseClient;
  /** The session of the tokened inserts (insertBlock), set up and closed with the others. */
  blockWriter: ClickHouseClient;
}

/**
 * Rows as JSONCompactEachRow: one JSON array of values a line, in the order of `columns`.
 * ClickHouse parses it in about two thirds of the time it takes for JSONEachRow, whose every row
 * repeats the column names, and it is quicker to write.
 */
interface CompactRows {
  columns: [string, ...string[]];
  rows: readonly object[];
}

/** The columns are the first row's keys; every row has the same. */
function compactRows(rows: readonly object[]): CompactRows | undefined {
  const [first, ...others] = Object.keys(rows[0] ?? {});
  if (first === undefined) return undefined;
  return { columns: [first, ...others], rows };
}

/**
 * A row's values in the order of the columns: one line of JSONCompactEachRow. A row whose own keys
 * are the columns in order (every row one function makes) gives its values in one call, about
 * twice as fast as a lookup per column (2.8-3.6 against 3.1-6.0 µs an event row, encoded).
 */
function valuesOf(row: object, columns: readonly string[]): unknown[] {
  const keys = Object.keys(row);
  let inOrder = keys.length === columns.length;
  for (let i = 0; inOrder && i < keys.length; i++) inOrder = keys[i] === columns[i];
  return inOrder ? Object.values(row) : columns.map((column) => (row as Record<string, unknown>)[column]);
}

/**
 * The most partitions of a table one block insert may write to: ClickHouse's default, pinned on
 * every block insert so that a server configured otherwise splits the same way. Callers split
 * their blocks to stay within it.
 */
export const maxPartitionsPerInsert = 100;

/** One tokened insert: ClickHouse stores a block with a token it has seen once, in the table and in each view. */
function blockSettings(token: string): { insert_deduplication_token: string; deduplicate_blocks_in_dependent_materialized_views: 1; max_partitions_per_insert_block: string } {
  return { insert_deduplication_token: token, deduplicate_blocks_in_dependent_materialized_views: 1, max_partitions_per_insert_block: String(maxPartitionsPerInsert) };
}

/**
 * Encodes a block now and returns the call that sends it. A block is encoded before it queues for
 * the block session, so that session goes from one insert to the next without waiting for
 * JavaScript to encode (embedded, the worker's bottleneck is that session).
 */
type BlockInsert = (table: string, block: CompactRows, token: string) => () => Promise<void>;

function wrap(mode: ClickHouse['mode'], database: string, { writer, blockWriter }: Connections, insertBlock: BlockInsert): ClickHouse {
  // An embedded connection is one chDB session: a statement with its settings (a block's token)
  // must not interleave with another caller's. Over HTTP every request carries its own settings,
  // so calls may overlap.
  const concurrent = <T>(call: () => Promise<T>): Promise<T> => call();
  const onWriter = mode === 'embedded' ? oneAtATime() : concurrent;
  const onBlockWriter = mode === 'embedded' ? oneAtATime() : concurrent;
  return {
    mode,
    database,
    async command(sql) {
      await onWriter(() => writer.command({ query: sql }));
    },
    async queryRows<T>(sql: string, params?: Record<string, unknown>) {
      return onWriter(async () => {
        const result = await writer.query({ query: sql, format: 'JSONEachRow', ...(params ? { query_params: params } : {}) });
        return result.json<T>();
      });
    },
    async insertRows(table, rows) {
      if (rows.length === 0) return;
      await onWriter(() => writer.insert({ table, values: rows, format: 'JSONEachRow' }));
    },
    async insertBlock(table, rows, token) {
      const block = compactRows(rows);
      if (block === undefined) return;
      await onBlockWriter(insertBlock(table, block, token));
    },
    async ping() {
      const result = await writer.ping();
      return result.success;
    },
    async close() {
      for (const client of new Set([writer, blockWriter])) await client.close();
    },
  };
}

type ClientConnection = NonNullable<NonNullable<Parameters<typeof createClient>[0]>['connection']>;

/**
 * chdb types its connection against @clickhouse/client-common, of which @clickhouse/client
 * bundles its own copy; the two declarations are the same shape but not the same symbols.
 */
function asClientConnection(connection: ChdbConnection): ClientConnection {
  return connection as unknown as ClientConnection;
}

function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}
