import { isUtf8 } from 'node:buffer';
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Session, type ChdbResult } from 'chdb';
import { SluiceError, errorMessage } from '@sluice/core';
import { analystLimits, inspectAnalystStatement, sessionSettings } from './clickhouse';
import { analystSessionDefaults, openAnalystSessions, type AnalystQuery, type AnalystSessionsOptions } from './analyst-sessions';
import { answerEncoding, decodeBody, encodeAnswer, encodeClickHouseBlocks } from './http-compression';
import { nativeForClientRevision } from './native-revision';

export interface AnalystAccess extends Partial<AnalystSessionsOptions> {
  /** The database of a request that names none (database=). */
  database: string;
  /** The analyst's password; empty: none. */
  password: string;
}

/**
 * The users of a front that stands in for a ClickHouse server, as a server's users.xml and
 * deploy/clickhouse/server/users.d/analyst.xml have them: `default`, the worker's user, which
 * writes, and `analyst`, read-only, handled exactly as the analysts' interface inside the worker.
 */
export interface ServerUsers {
  /** The password of `default` (the worker's CLICKHOUSE_PASSWORD); empty: none. */
  defaultPassword: string;
  analyst: AnalystAccess;
}

/** An analyst's request body holds a query; the largest ClickHouse takes by default is 256 KiB (max_query_size). */
const analystBodyLimit = 1024 * 1024;

/**
 * ClickHouse's HTTP interface in front of an embedded chDB data directory: enough of it for
 * @clickhouse/client (queries, commands, inserts with a body, settings, query parameters, /ping).
 *
 * With ServerUsers (or none), the directory belongs to a process of its own, and a worker reaches
 * it as it would reach a ClickHouse server (CLICKHOUSE_URL). That makes a ClickHouse outage
 * something a test can cause on this machine: stop this process. Analysts reach it as user
 * `analyst`, as they would reach a server.
 *
 * With AnalystAccess, the same front serves analysts inside the worker, beside its own sessions
 * on the data directory (chDB lets one process open several): every user is the analyst there.
 * Either way an analyst's request has one handling: a read-only session of its own, the statement
 * check, and the limits.
 */
export interface ChdbHttpServer {
  readonly server: Server;
  close(): Promise<void>;
}

/** URL parameters that are not ClickHouse settings. */
const requestParameters = new Set(['query', 'database', 'query_id', 'session_id', 'session_timeout', 'session_check', 'default_format', 'user', 'password', 'compress', 'decompress', 'client_protocol_version']);
/** Settings about the HTTP exchange itself, which have no meaning for chDB. */
const transportSettings = new Set(['enable_http_compression', 'http_zlib_compression_level', 'send_progress_in_http_headers', 'wait_end_of_query', 'http_headers_progress_interval_ms', 'buffer_size', 'wait_for_async_insert']);
const settingName = /^[A-Za-z_][A-Za-z0-9_]*$/;

interface ParsedRequest {
  sql: string;
  database: string;
  format: string;
  settings: Map<string, string>;
  queryParams: Map<string, string>;
  readonly: boolean;
  /** client_protocol_version: the revision a Native answer is written for (0: none). */
  clientRevision: number;
  /**
   * An analyst's max_execution_time, in seconds, when it is below the session's own (0: none).
   * clickhouse-go, the driver of Grafana's ClickHouse plugin, sends its deadline this way with every
   * query; a read-only session cannot take it as a setting, so the interface stops the query then.
   */
  timeLimitSeconds: number;
}

interface Answer {
  output: Buffer;
  format: string;
  summary: Record<string, string>;
}

/** A server's users with no passwords, whose analyst reads database `default` unless told another. */
const openServerUsers: ServerUsers = { defaultPassword: '', analyst: { database: 'default', password: '' } };

export function serveChdbOverHttp(dataPath: string, access: AnalystAccess | ServerUsers = openServerUsers): ChdbHttpServer {
  if (!('analyst' in access)) {
    // `default` is what a client sends when told no user, so inside the worker it is the analyst too.
    const analyst: User = { password: access.password, handling: analystHandling(dataPath, access) };
    return serveUsers(new Map([['analyst', analyst], ['default', analyst]]));
  }
  const analyst = analystHandling(dataPath, access.analyst);
  let writer: Handling;
  try {
    writer = writerHandling(dataPath);
  } catch (error) {
    void analyst.close();
    throw error;
  }
  return serveUsers(
    new Map([
      ['default', { password: access.defaultPassword, handling: writer }],
      ['analyst', { password: access.analyst.password, handling: analyst }],
    ]),
  );
}

/** One server for its users; closing it closes each user's handling once. */
function serveUsers(users: ReadonlyMap<string, User>): ChdbHttpServer {
  const server = serveHttp(users);
  return {
    server,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Closing the connections abandons their requests, whose analyst queries are killed.
      server.closeAllConnections();
      await closed;
      for (const handling of new Set([...users.values()].map((user) => user.handling))) await handling.close();
    },
  };
}

/** The worker's user on the dev/test front: writes, and reads with a readonly a request sets. */
function writerHandling(dataPath: string): Handling {
  // chDB keeps a SET on its session, so read-only requests get a session locked once, and the
  // writable session has every setting a request gave reset before the next request runs.
  const writable = new Session(dataPath);
  const readOnly = new Session(dataPath);
  readOnly.query('SET readonly = 2');
  const lastSettings = new Map<Session, Set<string>>([
    [writable, new Set()],
    [readOnly, new Set()],
  ]);
  // One statement at a time per session: its settings prefix and its query must not interleave.
  const queues = new Map<Session, Promise<unknown>>([
    [writable, Promise.resolve()],
    [readOnly, Promise.resolve()],
  ]);

  function run(request: ParsedRequest): Promise<Answer> {
    const session = request.readonly ? readOnly : writable;
    const previous = queues.get(session) ?? Promise.resolve();
    const next = previous.then(async () => {
      const applied = lastSettings.get(session) ?? new Set<string>();
      const statements = [`USE ${request.database}`];
      for (const name of applied) if (!request.settings.has(name)) statements.push(`SET ${name} = DEFAULT`);
      for (const [name, value] of request.settings) statements.push(`SET ${name} = ${quoted(value)}`);
      // As over HTTP, a parameter's value is text in the Escaped format; SET param_ takes that
      // text as it is (chDB's own binder would escape it a second time).
      for (const [name, value] of request.queryParams) statements.push(`SET param_${name} = ${quoted(value)}`);
      lastSettings.set(session, new Set(request.settings.keys()));
      const sql = `${statements.join('; ')}; ${request.sql}`;
      const result = await session.queryAsync(sql, { format: request.format });
      return answer(result, request.format);
    });
    queues.set(
      session,
      next.catch(() => undefined),
    );
    return next;
  }

  return {
    run,
    parse: (url, body) => parseRequest(url, body, 'default', false),
    bodyLimit: Infinity,
    async close() {
      await Promise.all(queues.values());
      writable.close();
      readOnly.close();
    },
  };
}

/**
 * The analyst's handling: a few sessions, each with its settings and limits fixed and then locked
 * with readonly = 1, so no request changes them; a request has one to itself (analyst-sessions.ts).
 * A request's database (USE; `database` when it names none) and query parameters (SET param_) are
 * set before its statement; chDB allows both on a read-only session.
 */
function analystHandling(dataPath: string, access: AnalystAccess): Handling {
  let httpCompression = '';
  const sessions = openAnalystSessions(dataPath, { ...analystSessionDefaults, ...access }, (session) => {
    for (const [name, value] of Object.entries({ ...sessionSettings, ...analystLimits })) session.query(`SET ${name} = ${quoted(String(value))}`);
    session.query('SET readonly = 1');
    // A client that reads system.settings (clickhouse-connect) sees it and, as the user may not
    // change it, does not send it: the answer is compressed on the session's value, as by a server.
    httpCompression = session.query("SELECT value FROM system.settings WHERE name = 'enable_http_compression'", 'TabSeparatedRaw').trim();
  });

  async function run(request: ParsedRequest, abandoned: AbortSignal): Promise<Answer> {
    const stop = new AbortController();
    abandoned.addEventListener('abort', () => stop.abort(), { once: true });
    let timer: NodeJS.Timeout | undefined;
    try {
      return await sessions.run(stop.signal, (query) => {
        // From the start of the query, as ClickHouse counts it, not from the wait for a session.
        if (request.timeLimitSeconds > 0) timer = setTimeout(() => stop.abort(), request.timeLimitSeconds * 1000);
        return runOnSession(request, query);
      });
    } catch (error) {
      if (!stop.signal.aborted || abandoned.aborted) throw error;
      throw new Error(`Code: 159. DB::Exception: Timeout exceeded: maximum: ${request.timeLimitSeconds} s (max_execution_time): the query was stopped. (TIMEOUT_EXCEEDED)`);
    } finally {
      clearTimeout(timer);
    }
  }

  async function runOnSession(request: ParsedRequest, query: AnalystQuery): Promise<Answer> {
    let unreadable: Error | undefined;
    const inspected = await inspectAnalystStatement(request.sql, async (statement) => {
      try {
        const result = await query(`SELECT formatQuerySingleLine(${quoted(statement)})`, 'TabSeparatedRaw');
        return result.text().replace(/\n$/, '');
      } catch (error) {
        unreadable = error instanceof Error ? error : new Error(errorMessage(error));
        throw unreadable;
      }
    });
    if ('problem' in inspected) throw new Error(`Code: 164. DB::Exception: ${inspected.problem}. (READONLY)`);
    // Nothing runs that ClickHouse's parser could not read as one statement: this session runs
    // every statement of a text, so the check must not be bypassed by a text it cannot read.
    if (unreadable !== undefined) throw unreadable;
    // A parameter set with SET param_ stays on the session (chDB's binder, which would scope it,
    // escapes the HTTP text a second time), so a placeholder this request does not fill is
    // refused as a server refuses it, never filled with an earlier request's value.
    const unfilled = placeholders(inspected.formatted).find((name) => !request.queryParams.has(name));
    if (unfilled !== undefined) throw new Error(`Code: 456. DB::Exception: Substitution \`${unfilled}\` is not set. (UNKNOWN_QUERY_PARAMETER)`);
    const statements = [`USE ${request.database}`];
    for (const [name, value] of request.queryParams) statements.push(`SET param_${name} = ${quoted(value)}`);
    const format = / FORMAT (\w+)$/.exec(inspected.formatted ?? '')?.[1] ?? request.format;
    const result = await query(`${statements.join('; ')}; ${request.sql}`, format);
    return answer(result, format);
  }

  return {
    run,
    parse: (url, body) => parseRequest(url, body, access.database, true),
    bodyLimit: analystBodyLimit,
    httpCompression,
    close: () => sessions.close(),
  };
}

/** How one user's requests are read and run. */
interface Handling {
  /** `abandoned` fires when the client goes before its answer. */
  run(request: ParsedRequest, abandoned: AbortSignal): Promise<Answer>;
  parse(url: URL, body: string): ParsedRequest | Refusal;
  bodyLimit: number;
  /** enable_http_compression when the request does not set it: the session's value. */
  httpCompression?: string;
  /** Once no request comes: lets the running ones finish, then closes the sessions. */
  close(): Promise<void>;
}

/** A user of the front, as a server knows it: a password, and how its requests are handled. */
interface User {
  password: string;
  handling: Handling;
}

function serveHttp(users: ReadonlyMap<string, User>): Server {
  // Query parameters travel in the URL; ClickHouse accepts URLs up to 1 MiB (http_max_uri_size),
  // Node only 16 KiB by default.
  const server = createServer({ maxHeaderSize: 1024 * 1024 + 64 * 1024 }, (req, res) => {
    handle(req, res).catch((error: unknown) => answerError(res, 500, errorMessage(error)));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const abandoned = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) abandoned.abort();
    });
    const url = new URL(req.url ?? '/', 'http://chdb');
    if (url.pathname === '/ping' || (url.pathname === '/' && req.method === 'GET' && !url.searchParams.has('query'))) {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=UTF-8' }).end('Ok.\n');
      return;
    }
    if (url.pathname !== '/') {
      answerError(res, 404, `Code: 0. DB::Exception: No handler for ${url.pathname}. (UNKNOWN)`);
      return;
    }
    // Before the body is read: nobody unknown makes the process hold a body.
    const user = authenticate(req, url, users);
    if ('status' in user) {
      req.resume();
      answerError(res, user.status, user.message);
      return;
    }
    const { handling } = user;
    const raw = await readBody(req, handling.bodyLimit);
    if (raw === undefined) {
      answerError(res, 413, `Code: 0. DB::Exception: The request body is larger than ${handling.bodyLimit} bytes. (UNKNOWN)`);
      res.once('finish', () => req.destroy());
      return;
    }
    const body = await decodeBody(raw, req.headers['content-encoding'], enabled(url.searchParams.get('decompress')), handling.bodyLimit);
    if ('status' in body) {
      answerError(res, body.status, body.message);
      return;
    }
    // As a server does, these headers win over database= and default_format= (the JDBC driver sends only the headers).
    for (const [name, parameter] of [['x-clickhouse-database', 'database'], ['x-clickhouse-format', 'default_format']] as const) {
      const value = header(req, name);
      if (value !== undefined && value !== '') url.searchParams.set(parameter, value);
    }
    // chDB takes a statement and its data as one text: bytes that are not UTF-8 (a RowBinary or
    // Native insert) would be stored changed, so they are refused instead.
    if (!isUtf8(body)) {
      answerError(res, 400, 'Code: 36. DB::Exception: The request body is not UTF-8 text: this front passes a statement and its data to chDB as text, so a binary format (RowBinary, Native, Parquet, ...) cannot be inserted through it; use a text format such as JSONEachRow or TabSeparated. (BAD_ARGUMENTS)');
      return;
    }
    const parsed = handling.parse(url, body.toString('utf8'));
    if ('status' in parsed) {
      answerError(res, parsed.status, parsed.message);
      return;
    }
    const queryId = url.searchParams.get('query_id') ?? randomUUID();
    try {
      const { output: chdbOutput, format, summary } = await handling.run(parsed, abandoned.signal);
      // As a server, only Native follows the client's revision; chDB writes it for revision 0.
      const output = format === 'Native' ? nativeForClientRevision(chdbOutput, parsed.clientRevision) : chdbOutput;
      // ClickHouse's own blocks inside, the HTTP encoding around them, as ClickHouse layers them.
      // An error is sent as plain text either way: JDBC's client reads both.
      const blocks = enabled(url.searchParams.get('compress')) ? await encodeClickHouseBlocks(output) : output;
      const encoding = enabled(url.searchParams.get('enable_http_compression') ?? handling.httpCompression ?? null) ? answerEncoding(req.headers['accept-encoding']) : undefined;
      const sent = encoding === undefined ? blocks : await encodeAnswer(blocks, encoding);
      res.writeHead(200, {
        'Content-Type': 'text/plain; charset=UTF-8',
        ...(encoding === undefined ? {} : { 'Content-Encoding': encoding }),
        'X-ClickHouse-Query-Id': queryId,
        'X-ClickHouse-Format': format,
        'X-ClickHouse-Timezone': 'UTC',
        'X-ClickHouse-Summary': JSON.stringify(summary),
      });
      res.end(sent);
    } catch (error) {
      const message = errorMessage(error).replace(/^Query failed: /, '');
      answerError(res, statusOf(message), message, queryId);
    }
  }
  return server;
}

/** Output and summary as ClickHouse's X-ClickHouse-Summary carries it (numbers as strings). */
function answer(result: ChdbResult, format: string): Answer {
  const output = Buffer.from(result.bytes());
  return {
    output,
    format,
    summary: {
      read_rows: String(result.rowsRead),
      read_bytes: String(result.bytesRead),
      written_rows: '0',
      written_bytes: '0',
      result_bytes: String(output.length),
      elapsed_ns: String(Math.round(result.elapsed * 1e9)),
    },
  };
}

/** ClickHouse's HTTP status for the error codes a client acts on: authentication and permission. */
function statusOf(message: string): number {
  const code = /^Code: (\d+)\./.exec(message)?.[1];
  if (code === '516' || code === '194' || code === '192') return 401;
  if (code === '159') return 408;
  if (code === '202') return 503;
  if (code === '164' || code === '497') return 403;
  return 500;
}

/**
 * The request's user, as ClickHouse reads it: Basic auth, X-ClickHouse-User/-Key, or the user and
 * password URL parameters; none is `default`.
 */
function authenticate(req: IncomingMessage, url: URL, users: ReadonlyMap<string, User>): User | Refusal {
  let user = url.searchParams.get('user') ?? header(req, 'x-clickhouse-user') ?? 'default';
  let given = url.searchParams.get('password') ?? header(req, 'x-clickhouse-key') ?? '';
  const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
  if (basic !== undefined) {
    const decoded = Buffer.from(basic, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    user = colon < 0 ? decoded : decoded.slice(0, colon);
    given = colon < 0 ? '' : decoded.slice(colon + 1);
  }
  const known = users.get(user);
  if (known !== undefined && sameSecret(given, known.password)) return known;
  return {
    status: 401,
    message: `Code: 516. DB::Exception: ${user}: Authentication failed: password is incorrect, or there is no user with such name. Analysts connect as user analyst (docs/analysts.md). (AUTHENTICATION_FAILED)`,
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Compared as digests, in constant time: the answer does not tell how much of a guess was right. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string): Buffer => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * `analysts`: a read-only user sends no settings (ClickHouse refuses them with readonly = 1) and
 * the session's read-only flag is not the request's to choose.
 */
function parseRequest(url: URL, body: string, defaultDatabase: string, analysts: boolean): ParsedRequest | Refusal {
  const prefix = url.searchParams.get('query') ?? '';
  const sql = prefix === '' ? body : body === '' ? prefix : `${prefix}\n${body}`;
  if (sql.trim() === '') return { status: 400, message: 'Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)' };
  const database = url.searchParams.get('database') ?? defaultDatabase;
  if (!settingName.test(database)) return { status: 400, message: `Code: 81. DB::Exception: Database name ${JSON.stringify(database)} is not a plain identifier. (UNKNOWN_DATABASE)` };
  const clientRevision = url.searchParams.get('client_protocol_version') ?? '0';
  if (!/^\d{1,19}$/.test(clientRevision)) return { status: 400, message: `Code: 27. DB::Exception: Cannot parse client_protocol_version ${JSON.stringify(clientRevision)}: it is a protocol revision, an unsigned integer such as 54460. (CANNOT_PARSE_INPUT_ASSERTION_FAILED)` };
  const settings = new Map<string, string>();
  const queryParams = new Map<string, string>();
  let readonly = false;
  let timeLimitSeconds = 0;
  for (const [name, value] of url.searchParams) {
    if (name.startsWith('param_') && !settingName.test(name)) return { status: 400, message: `Code: 456. DB::Exception: Query parameter ${JSON.stringify(name)} is not a plain identifier. (UNKNOWN_QUERY_PARAMETER)` };
    else if (name.startsWith('param_')) queryParams.set(name.slice('param_'.length), value);
    else if (requestParameters.has(name) || transportSettings.has(name)) continue;
    else if (!settingName.test(name)) return { status: 400, message: `Code: 115. DB::Exception: Setting ${JSON.stringify(name)} is not a plain identifier. (UNKNOWN_SETTING)` };
    else if (analysts && name === 'max_execution_time') {
      const seconds = Number(value);
      if (value.trim() === '' || !Number.isFinite(seconds) || seconds < 0) return { status: 400, message: `Code: 72. DB::Exception: Cannot parse max_execution_time ${JSON.stringify(value)}: it is a number of seconds. (CANNOT_PARSE_NUMBER)` };
      // Below the session's limit it stops the query sooner; above it (or 0, no limit) the session's limit holds.
      if (seconds > 0 && seconds < analystLimits.max_execution_time) timeLimitSeconds = seconds;
    } else if (analysts && !(name === 'readonly' && value === '1')) return { status: 403, message: `Code: 164. DB::Exception: Cannot modify '${name}' setting in readonly mode: analysts' settings and limits are fixed. (READONLY)` };
    else if (name === 'readonly') readonly = value !== '0';
    else settings.set(name, value);
  }
  return { sql, database, format: url.searchParams.get('default_format') ?? 'TabSeparated', settings, queryParams, readonly, clientRevision: Number(clientRevision), timeLimitSeconds };
}

/** The names of the {name:Type} placeholders in a formatted statement, its string literals left out. */
function placeholders(formatted: string | undefined): string[] {
  const code = (formatted ?? '').replace(/'(?:[^'\\]|\\.)*'/g, "''");
  return [...code.matchAll(/\{([A-Za-z_][A-Za-z0-9_]*):/g)].map((match) => match[1] ?? '');
}

/** A ClickHouse string literal: backslashes escaped, quotes doubled. */
function quoted(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

function answerError(res: ServerResponse, status: number, message: string, queryId?: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const code = /^Code: (\d+)\./.exec(message)?.[1] ?? '0';
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=UTF-8',
    'X-ClickHouse-Exception-Code': code,
    // Busy (TOO_MANY_SIMULTANEOUS_QUERIES): a client may try again soon.
    ...(status === 503 ? { 'Retry-After': '1' } : {}),
    ...(queryId === undefined ? {} : { 'X-ClickHouse-Query-Id': queryId }),
  });
  res.end(message.endsWith('\n') ? message : `${message}\n`);
}

/** The body, or undefined once it is past `limit` bytes (the rest is not read). */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** A boolean URL parameter as ClickHouse reads one. */
function enabled(value: string | null): boolean {
  return value === '1' || value?.toLowerCase() === 'true';
}

interface Refusal {
  status: number;
  message: string;
}

/** Starts the front and resolves once it listens. */
export async function listenChdbOverHttp(dataPath: string, port: number, host: string, access?: AnalystAccess | ServerUsers): Promise<ChdbHttpServer> {
  let front: ChdbHttpServer;
  try {
    front = serveChdbOverHttp(dataPath, access);
  } catch (error) {
    throw new SluiceError('CLICKHOUSE_UNAVAILABLE', `Could not open chDB at ${dataPath}: ${errorMessage(error)}. Only one process may open a chDB data directory.`, { cause: error });
  }
  try {
    await new Promise<void>((resolve, reject) => {
      front.server.once('error', reject);
      front.server.listen(port, host, () => resolve());
    });
  } catch (error) {
    await front.close();
    throw new SluiceError('INVALID_CONFIG', `ClickHouse's HTTP interface cannot listen on ${host}:${port}: ${errorMessage(error)}. Choose another port, or 0 to turn it off.`, { cause: error });
  }
  return front;
}
