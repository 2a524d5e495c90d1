import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { brotliCompressSync, brotliDecompressSync, deflateSync, gunzipSync, gzipSync, inflateSync } from 'node:zlib';
import { Session, type ChdbResult } from 'chdb';
import { SluiceError, errorMessage } from '@sluice/core';
import { openAnalystSessions } from './analyst-sessions';
import { analystLimits, inspectAnalystStatement, sessionSettings } from './clickhouse';

export interface AnalystAccess {
  /** The database of a request that names none (database=). */
  database: string;
  /** The password of the users `analyst` and `default`; empty: none. */
  password: string;
  /** Analyst queries that run at once; more wait up to queueWaitMs, then get TOO_MANY_SIMULTANEOUS_QUERIES. */
  maxQueries: number;
  queueWaitMs: number;
}

/** Analysts' users: `default` is what a client sends when told no user, so it is the analyst too. */
const analystUsers = new Set(['analyst', 'default']);
/** An analyst's request body holds a query; the largest ClickHouse takes by default is 256 KiB (max_query_size). */
const analystBodyLimit = 1024 * 1024;

/**
 * ClickHouse's HTTP interface in front of an embedded chDB data directory: enough of it for
 * @clickhouse/client (queries, commands, inserts with a body, settings, query parameters, /ping).
 *
 * chDB lets one process open a data directory. Served this way, the directory belongs to a process
 * of its own, and a worker reaches it as it would reach a ClickHouse server (CLICKHOUSE_URL). That
 * makes a ClickHouse outage something a test can cause on this machine: stop this process.
 *
 * With `analysts`, the same front serves analysts inside the worker, beside its own sessions on the
 * data directory (chDB lets one process open several): every request runs on a read-only session
 * of its own, with the statement check and limits of the worker's POST /sql.
 */
export interface ChdbHttpServer {
  readonly server: Server;
  close(): Promise<void>;
}

/** URL parameters that are not ClickHouse settings. */
const requestParameters = new Set(['query', 'database', 'query_id', 'session_id', 'session_timeout', 'session_check', 'default_format', 'user', 'password']);
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
}

interface Answer {
  output: Buffer;
  format: string;
  summary: Record<string, string>;
}

export function serveChdbOverHttp(dataPath: string, analysts?: AnalystAccess): ChdbHttpServer {
  return analysts === undefined ? serveFront(dataPath) : serveAnalysts(dataPath, analysts);
}

/** The dev/test front: writes, and reads with readonly=2, for a worker in server mode. */
function serveFront(dataPath: string): ChdbHttpServer {
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

  const server = serveHttp({ run, parse: (url, body) => parseRequest(url, body, 'default', false), bodyLimit: Infinity });
  return {
    server,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      writable.close();
      readOnly.close();
    },
  };
}

/**
 * Analysts' front: a few sessions, each with its settings and limits fixed and then locked with
 * readonly = 1, so no request changes them; a request has one to itself (analyst-sessions.ts). A
 * request's database (USE) and query parameters (SET param_) are set before its statement; chDB
 * allows both on a read-only session.
 */
function serveAnalysts(dataPath: string, access: AnalystAccess): ChdbHttpServer {
  let httpCompression = '';
  const sessions = openAnalystSessions(dataPath, access, (session) => {
    for (const [name, value] of Object.entries({ ...sessionSettings, ...analystLimits })) session.query(`SET ${name} = ${quoted(String(value))}`);
    session.query('SET readonly = 1');
    // A client that reads system.settings (clickhouse-connect) sees it and, as the user may not
    // change it, does not send it: the answer is compressed on the session's value, as by a server.
    httpCompression = session.query("SELECT value FROM system.settings WHERE name = 'enable_http_compression'", 'TabSeparatedRaw').trim();
  });

  function run(request: ParsedRequest, abandoned: AbortSignal): Promise<Answer> {
    return sessions.run(abandoned, async (query) => {
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
    });
  }

  const server = serveHttp({
    run,
    parse: (url, body) => parseRequest(url, body, access.database, true),
    authenticate: (req, url) => authenticateAnalyst(req, url, access.password),
    bodyLimit: analystBodyLimit,
    httpCompression,
  });
  return {
    server,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Closing the connections abandons their requests, whose queries are killed.
      server.closeAllConnections();
      await closed;
      await sessions.close();
    },
  };
}

interface Handling {
  /** `abandoned` fires when the client goes before its answer. */
  run(request: ParsedRequest, abandoned: AbortSignal): Promise<Answer>;
  parse(url: URL, body: string): ParsedRequest | Refusal;
  /** Why the request's user may not come in, or undefined. */
  authenticate?(req: IncomingMessage, url: URL): Refusal | undefined;
  bodyLimit: number;
  /** enable_http_compression when the request does not set it: the session's value. */
  httpCompression?: string;
}

function serveHttp(handling: Handling): Server {
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
    const refusal = handling.authenticate?.(req, url);
    if (refusal !== undefined) {
      req.resume();
      answerError(res, refusal.status, refusal.message);
      return;
    }
    const raw = await readBody(req, handling.bodyLimit);
    if (raw === undefined) {
      answerError(res, 413, `Code: 0. DB::Exception: The request body is larger than ${handling.bodyLimit} bytes. (UNKNOWN)`);
      res.once('finish', () => req.destroy());
      return;
    }
    const body = decodeBody(raw, req.headers['content-encoding'], url.searchParams.get('decompress'));
    if (typeof body !== 'string') {
      answerError(res, body.status, body.message);
      return;
    }
    const parsed = handling.parse(url, body);
    if ('status' in parsed) {
      answerError(res, parsed.status, parsed.message);
      return;
    }
    const queryId = url.searchParams.get('query_id') ?? randomUUID();
    try {
      const { output, format, summary } = await handling.run(parsed, abandoned.signal);
      const encoding = (url.searchParams.get('enable_http_compression') ?? handling.httpCompression) === '1' ? answerEncoding(req.headers['accept-encoding']) : undefined;
      res.writeHead(200, {
        'Content-Type': 'text/plain; charset=UTF-8',
        ...(encoding === undefined ? {} : { 'Content-Encoding': encoding }),
        'X-ClickHouse-Query-Id': queryId,
        'X-ClickHouse-Format': format,
        'X-ClickHouse-Timezone': 'UTC',
        'X-ClickHouse-Summary': JSON.stringify(summary),
      });
      res.end(encoding === undefined ? output : answerEncoders[encoding](output));
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
  if (code === '164' || code === '497') return 403;
  if (code === '159') return 408;
  if (code === '202') return 503;
  return 500;
}

/**
 * The request's user, as ClickHouse reads it: Basic auth, X-ClickHouse-User/-Key, or the user and
 * password URL parameters; none is `default`.
 */
function authenticateAnalyst(req: IncomingMessage, url: URL, password: string): Refusal | undefined {
  let user = url.searchParams.get('user') ?? header(req, 'x-clickhouse-user') ?? 'default';
  let given = url.searchParams.get('password') ?? header(req, 'x-clickhouse-key') ?? '';
  const basic = /^Basic\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
  if (basic !== undefined) {
    const decoded = Buffer.from(basic, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    user = colon < 0 ? decoded : decoded.slice(0, colon);
    given = colon < 0 ? '' : decoded.slice(colon + 1);
  }
  if (analystUsers.has(user) && sameSecret(given, password)) return undefined;
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
  const settings = new Map<string, string>();
  const queryParams = new Map<string, string>();
  let readonly = false;
  for (const [name, value] of url.searchParams) {
    if (name.startsWith('param_') && !settingName.test(name)) return { status: 400, message: `Code: 456. DB::Exception: Query parameter ${JSON.stringify(name)} is not a plain identifier. (UNKNOWN_QUERY_PARAMETER)` };
    else if (name.startsWith('param_')) queryParams.set(name.slice('param_'.length), value);
    else if (requestParameters.has(name) || transportSettings.has(name)) continue;
    else if (!settingName.test(name)) return { status: 400, message: `Code: 115. DB::Exception: Setting ${JSON.stringify(name)} is not a plain identifier. (UNKNOWN_SETTING)` };
    else if (analysts && !(name === 'readonly' && value === '1')) return { status: 403, message: `Code: 164. DB::Exception: Cannot modify '${name}' setting in readonly mode: analysts' settings and limits are fixed. (READONLY)` };
    else if (name === 'readonly') readonly = value !== '0';
    else settings.set(name, value);
  }
  return { sql, database, format: url.searchParams.get('default_format') ?? 'TabSeparated', settings, queryParams, readonly };
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

/** The answer encodings this front offers, with node:zlib, in the order it prefers them. */
const answerEncoders = { gzip: gzipSync, deflate: deflateSync, br: brotliCompressSync } as const;
type AnswerEncoding = keyof typeof answerEncoders;

/** The first encoding we offer that Accept-Encoding names (without q=0), as ClickHouse picks one. */
function answerEncoding(acceptEncoding: string | undefined): AnswerEncoding | undefined {
  const accepted = new Set(
    (acceptEncoding ?? '')
      .split(',')
      .map((part) => part.trim().toLowerCase().split(';'))
      .filter(([, quality]) => quality === undefined || !/^\s*q\s*=\s*0(\.0*)?\s*$/.test(quality))
      .map(([name]) => name ?? ''),
  );
  return (Object.keys(answerEncoders) as AnswerEncoding[]).find((name) => accepted.has(name));
}

interface Refusal {
  status: number;
  message: string;
}

/** The request body's encodings this front can undo, with node:zlib. */
const bodyDecoders: Record<string, (compressed: Buffer) => Buffer> = {
  gzip: gunzipSync,
  'x-gzip': gunzipSync,
  deflate: inflateSync,
  br: brotliDecompressSync,
};

/**
 * The request body as text, or why it cannot be read. A body this front cannot decode is refused:
 * run as it came, an lz4 insert body (clickhouse-connect's default) was taken for an empty query
 * tail and answered 200 with nothing stored.
 */
function decodeBody(raw: Buffer, contentEncoding: string | undefined, decompress: string | null): string | Refusal {
  if (decompress !== null && decompress !== '0') {
    return { status: 415, message: "Code: 48. DB::Exception: decompress=1 (ClickHouse's compressed block format) is not supported here; send the body uncompressed or with Content-Encoding gzip, deflate or br. (NOT_IMPLEMENTED)" };
  }
  const encoding = (contentEncoding ?? '').trim().toLowerCase();
  if (encoding === '' || encoding === 'identity') return raw.toString('utf8');
  const decoder = bodyDecoders[encoding];
  if (decoder === undefined) {
    return { status: 415, message: `Code: 48. DB::Exception: Content-Encoding ${JSON.stringify(encoding)} is not supported here; send the body uncompressed or with gzip, deflate or br. (NOT_IMPLEMENTED)` };
  }
  try {
    return decoder(raw).toString('utf8');
  } catch (error) {
    return { status: 400, message: `Code: 354. DB::Exception: The request body is not valid ${encoding}: ${errorMessage(error)}. (ZLIB_INFLATE_FAILED)` };
  }
}

/** Starts the front and resolves once it listens. */
export async function listenChdbOverHttp(dataPath: string, port: number, host: string, analysts?: AnalystAccess): Promise<ChdbHttpServer> {
  let front: ChdbHttpServer;
  try {
    front = serveChdbOverHttp(dataPath, analysts);
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
