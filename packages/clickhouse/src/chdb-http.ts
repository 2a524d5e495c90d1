import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { brotliCompressSync, brotliDecompressSync, deflateSync, gunzipSync, gzipSync, inflateSync } from 'node:zlib';
import { Session } from 'chdb';
import { SluiceError, errorMessage } from '@sluice/core';

/**
 * ClickHouse's HTTP interface in front of an embedded chDB data directory: enough of it for
 * @clickhouse/client (queries, commands, inserts with a body, settings, query parameters, /ping).
 *
 * chDB lets one process open a data directory. Served this way, the directory belongs to a process
 * of its own, and a worker reaches it as it would reach a ClickHouse server (CLICKHOUSE_URL). That
 * makes a ClickHouse outage something a test can cause on this machine: stop this process.
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

export function serveChdbOverHttp(dataPath: string): ChdbHttpServer {
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

  function run(request: ParsedRequest): Promise<Buffer> {
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
      return Buffer.from(result.bytes());
    });
    queues.set(
      session,
      next.catch(() => undefined),
    );
    return next;
  }

  // Query parameters travel in the URL; ClickHouse accepts URLs up to 1 MiB (http_max_uri_size),
  // Node only 16 KiB by default.
  const server = createServer({ maxHeaderSize: 1024 * 1024 + 64 * 1024 }, (req, res) => {
    handle(req, res).catch((error: unknown) => answerError(res, 500, errorMessage(error)));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://chdb');
    const body = decodeBody(await readBody(req), req.headers['content-encoding'], url.searchParams.get('decompress'));
    if (typeof body !== 'string') {
      answerError(res, body.status, body.message);
      return;
    }
    if (url.pathname === '/ping' || (url.pathname === '/' && req.method === 'GET' && !url.searchParams.has('query'))) {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=UTF-8' }).end('Ok.\n');
      return;
    }
    if (url.pathname !== '/') {
      answerError(res, 404, `Code: 0. DB::Exception: No handler for ${url.pathname}. (UNKNOWN)`);
      return;
    }
    const parsed = parseRequest(url, body);
    if (typeof parsed === 'string') {
      answerError(res, 400, parsed);
      return;
    }
    const queryId = url.searchParams.get('query_id') ?? randomUUID();
    try {
      const output = await run(parsed);
      const encoding = url.searchParams.get('enable_http_compression') === '1' ? answerEncoding(req.headers['accept-encoding']) : undefined;
      res.writeHead(200, {
        'Content-Type': 'text/plain; charset=UTF-8',
        ...(encoding === undefined ? {} : { 'Content-Encoding': encoding }),
        'X-ClickHouse-Query-Id': queryId,
        'X-ClickHouse-Format': parsed.format,
        'X-ClickHouse-Timezone': 'UTC',
        'X-ClickHouse-Summary': '{}',
      });
      res.end(encoding === undefined ? output : answerEncoders[encoding](output));
    } catch (error) {
      answerError(res, 500, errorMessage(error), queryId);
    }
  }

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

function parseRequest(url: URL, body: string): ParsedRequest | string {
  const prefix = url.searchParams.get('query') ?? '';
  const sql = prefix === '' ? body : body === '' ? prefix : `${prefix}\n${body}`;
  if (sql.trim() === '') return 'Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)';
  const database = url.searchParams.get('database') ?? 'default';
  if (!settingName.test(database)) return `Code: 81. DB::Exception: Database name ${JSON.stringify(database)} is not a plain identifier. (UNKNOWN_DATABASE)`;
  const settings = new Map<string, string>();
  const queryParams = new Map<string, string>();
  let readonly = false;
  for (const [name, value] of url.searchParams) {
    if (name.startsWith('param_')) queryParams.set(name.slice('param_'.length), value);
    else if (name === 'readonly') readonly = value !== '0';
    else if (requestParameters.has(name) || transportSettings.has(name)) continue;
    else if (!settingName.test(name)) return `Code: 115. DB::Exception: Setting ${JSON.stringify(name)} is not a plain identifier. (UNKNOWN_SETTING)`;
    else settings.set(name, value);
  }
  return { sql, database, format: url.searchParams.get('default_format') ?? 'TabSeparated', settings, queryParams, readonly };
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
    ...(queryId === undefined ? {} : { 'X-ClickHouse-Query-Id': queryId }),
  });
  res.end(message.endsWith('\n') ? message : `${message}\n`);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
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
export async function listenChdbOverHttp(dataPath: string, port: number, host: string): Promise<ChdbHttpServer> {
  let front: ChdbHttpServer;
  try {
    front = serveChdbOverHttp(dataPath);
  } catch (error) {
    throw new SluiceError('CLICKHOUSE_UNAVAILABLE', `Could not open chDB at ${dataPath}: ${errorMessage(error)}. Only one process may open a chDB data directory.`, { cause: error });
  }
  await new Promise<void>((resolve, reject) => {
    front.server.once('error', reject);
    front.server.listen(port, host, () => resolve());
  });
  return front;
}
