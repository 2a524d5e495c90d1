import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { SluiceError, errorMessage, type Logger } from '@sluice/core';
import type { ClickHouse } from '@sluice/clickhouse';
import type { Registry } from 'prom-client';
import type { StalledPartition } from './partition-progress';
import { parseReplayRequest, type ReplayRequest, type ReplaySummary } from './replay';

export interface AdminDeps {
  clickhouse: Pick<ClickHouse, 'ping'>;
  /** Why consuming stopped for good, or undefined while the worker consumes. */
  consumerFailure: () => string | undefined;
  /** The partitions this worker owns whose messages wait while their committed offset has not moved for the stall time. */
  stalledPartitions: () => readonly StalledPartition[];
  /** Runs POST /replay; absent where replay is not offered. */
  replay?: (request: ReplayRequest) => Promise<ReplaySummary>;
  /** Served at GET /metrics. */
  metrics: Pick<Registry, 'metrics' | 'contentType'>;
  /** ADMIN_TOKEN: the bearer token state-changing routes require; unset (or empty) turns those routes off. */
  adminToken?: string;
  /** ADMIN_HOST: a name the listener answers to on its port, besides 127.0.0.1, localhost and [::1]. */
  listenHost?: string;
  /** ADMIN_ALLOWED_HOSTS: further Host header values accepted as they are (a name, or name:port, behind a proxy). */
  allowedHosts?: readonly string[];
  logger: Logger;
}

const loopbackNames = ['127.0.0.1', 'localhost', '[::1]'];

/** A name as it appears in a Host header: an IPv6 address (two colons or more) in brackets. */
function hostName(name: string): string {
  const lower = name.trim().toLowerCase();
  return lower.split(':').length > 2 && !lower.startsWith('[') ? `[${lower}]` : lower;
}

const sha256 = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * Refuses what a web page could make a browser send: a Host that is not one of the listener's own
 * names (DNS rebinding: evil.example resolving to 127.0.0.1) and an Origin other than the Host's
 * own (a form posted across sites, which a browser sends with no preflight).
 */
function sameSiteOnly(deps: Pick<AdminDeps, 'listenHost' | 'allowedHosts'>) {
  const names = [...loopbackNames, ...(deps.listenHost === undefined ? [] : [hostName(deps.listenHost)])];
  const exact = new Set((deps.allowedHosts ?? []).map(hostName));
  return (req: Request, _res: Response, next: NextFunction): void => {
    const host = req.headers.host?.toLowerCase();
    if (host === undefined || host === '') throw new SluiceError('HOST_NOT_ALLOWED', 'The request has no Host header; the admin listener answers only requests naming it');
    const ownNames = names.map((name) => `${name}:${req.socket.localPort ?? ''}`);
    if (!ownNames.includes(host) && !exact.has(host)) {
      throw new SluiceError('HOST_NOT_ALLOWED', `Host ${JSON.stringify(host)} is not a name of this admin listener (${[...ownNames, ...exact].join(', ')}); add it to ADMIN_ALLOWED_HOSTS if the worker is reached by that name`);
    }
    const origin = req.headers.origin?.toLowerCase();
    if (origin !== undefined && origin !== `http://${host}` && origin !== `https://${host}`) {
      throw new SluiceError('CROSS_ORIGIN', `A request from origin ${JSON.stringify(origin)} may not use the admin listener: only the listener's own origin may`);
    }
    next();
  };
}

/** State-changing routes need `Authorization: Bearer <ADMIN_TOKEN>`; with no token set they are off, never open. */
function adminTokenRequired(token: string | undefined) {
  const expected = token === undefined || token === '' ? undefined : sha256(token);
  return (req: Request, _res: Response, next: NextFunction): void => {
    const route = `${req.method} ${req.path}`;
    if (expected === undefined) throw new SluiceError('ADMIN_DISABLED', `${route} is off: set ADMIN_TOKEN on the worker to turn it on (npm start sets one)`);
    const presented = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '')?.[1];
    if (presented === undefined) throw new SluiceError('ADMIN_TOKEN_MISSING', `${route} needs the admin token: send Authorization: Bearer <ADMIN_TOKEN> (npm start keeps it in .data/admin-token)`);
    // Hashes have one length, so the comparison takes the same time whatever was sent.
    if (!timingSafeEqual(sha256(presented), expected)) throw new SluiceError('ADMIN_TOKEN_WRONG', `The admin token sent for ${route} is not the worker's ADMIN_TOKEN`);
    next();
  };
}

/** A JSON route takes only application/json, which a web form cannot send. */
function jsonOnly(req: Request, _res: Response, next: NextFunction): void {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new SluiceError('UNSUPPORTED_MEDIA_TYPE', `${req.method} ${req.path} takes Content-Type: application/json, got ${type === '' ? 'none' : JSON.stringify(type)}`);
  }
  next();
}

/** The JSON body read as text by express.text; empty is refused, so no body ever means "everything". */
function parseJsonBody(body: unknown): unknown {
  if (typeof body !== 'string' || body.trim() === '') throw new SluiceError('INVALID_REQUEST', 'The request body is empty: send a JSON object');
  try {
    return JSON.parse(body) as unknown;
  } catch {
    throw new SluiceError('INVALID_JSON', 'The request body is not well-formed JSON');
  }
}

/**
 * The worker's admin listener: health, metrics and replay. Analysts' SQL does not come here: they
 * use ClickHouse's HTTP interface (the worker's own in embedded mode, the server's otherwise).
 * GET /healthz and GET /metrics skip the Host and Origin checks: they change nothing, show no
 * events, and probes (Docker, Kubernetes) call them by addresses the listener cannot know.
 */
export function createAdminApp(deps: AdminDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  const sameSite = sameSiteOnly(deps);
  app.get('/healthz', async (_req: Request, res: Response) => {
    const consumerFailure = deps.consumerFailure();
    if (consumerFailure !== undefined) return void res.status(503).json({ status: 'not consuming', reason: consumerFailure });
    const up = await deps.clickhouse.ping().catch(() => false);
    // A stalled partition means events are acknowledged and not stored: named first, with ClickHouse's state as a likely cause.
    const stalled = deps.stalledPartitions();
    if (stalled.length > 0) return void res.status(503).json({ status: 'stalled', partitions: stalled, ...(up ? {} : { clickhouse: 'unavailable' }) });
    res.status(up ? 200 : 503).json({ status: up ? 'ok' : 'clickhouse unavailable' });
  });
  app.get('/metrics', async (_req: Request, res: Response) => {
    res.type(deps.metrics.contentType).send(await deps.metrics.metrics());
  });
  app.post('/replay', sameSite, adminTokenRequired(deps.adminToken), jsonOnly, express.text({ type: 'application/json', limit: '64kb' }), async (req: Request, res: Response) => {
    if (deps.replay === undefined) throw new SluiceError('NOT_FOUND', 'This worker does not offer replay');
    res.json(await deps.replay(parseReplayRequest(parseJsonBody(req.body))));
  });
  app.use((req: Request, res: Response) => {
    res.status(404).json({ code: 'NOT_FOUND', message: `No route for ${req.method} ${req.path}` });
  });
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const bodyError = (error as { type?: unknown }).type;
    const failure =
      error instanceof SluiceError
        ? error
        : bodyError === 'entity.too.large'
          ? new SluiceError('PAYLOAD_TOO_LARGE', 'The request body is too large (POST /replay takes up to 64 KiB)')
          : bodyError === 'charset.unsupported' || bodyError === 'encoding.unsupported'
            ? new SluiceError('UNSUPPORTED_MEDIA_TYPE', errorMessage(error))
            : new SluiceError('INTERNAL', 'Internal error', { cause: error });
    if (failure.code === 'INTERNAL') deps.logger.error('admin request failed', { error: String(error) });
    if (failure.retriable) res.set('Retry-After', '1');
    if (failure.status === 401) res.set('WWW-Authenticate', 'Bearer realm="sluice admin"');
    res.status(failure.status).json({ code: failure.code, message: failure.message, ...(failure.field === undefined ? {} : { field: failure.field }) });
  });
  return app;
}
