import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { SluiceError, type EventPublisher, type Logger } from '@sluice/core';
import { type KeyStore } from '@sluice/tenancy';
import { codedRefusal, sendReply, toSluiceError, type Reply } from './http-errors';
import { createAdmission, defaultMaxInFlight, defaultOverloadPauseMs, eventLoopLag } from './ingest/admission';
import { defaultBatchLimits, type BatchLimits } from './ingest/batch';
import { doorFor, ingestAt } from './ingest/core';
import type { Door, IngestDeps } from './ingest/door';
import { pathOf } from './ingest/request';
import { defaultMaxBodyBytes } from './json-body';
import { createGatewayMetrics, type GatewayMetrics } from './metrics';
import { buildOpenApiDocument } from './openapi';
import { unlimited, type RateLimiter } from './rate-limit';

export interface GatewayDeps {
  publisher: EventPublisher;
  keyStore: KeyStore;
  logger: Logger;
  /** Resolves to undefined when Kafka is reachable, or to the reason it is not. */
  kafkaReadiness: () => Promise<string | undefined>;
  metrics?: GatewayMetrics;
  /** Secret keys' and the dev key's rate. */
  rateLimiter?: RateLimiter;
  /** Publishable keys' rate; the same as rateLimiter unless given. */
  publishableRateLimiter?: RateLimiter;
  /** Largest accepted single-event body; larger ones get 413. */
  maxBodyBytes?: number;
  batchLimits?: BatchLimits;
  /** Most ingest requests in flight at once; more are shed with 503 OVERLOADED. */
  maxInFlight?: number;
  /** Event-loop lag past which ingest requests are shed with 503 OVERLOADED; 0 or unset: none. */
  maxWaitMs?: number;
  /** Milliseconds a kept-alive connection is not read after one of its requests is shed; 0: read at once. */
  overloadPauseMs?: number;
  clock?: () => number;
}

/** The `route` label of a request that matched no route. */
export const unmatchedRoute = 'unmatched';

/**
 * Writes an ingestion door's reply and counts the request. Labels come from the route that matched,
 * never from the raw path: routing ignores case and trailing slashes, so `/V1/Batch/` and any
 * random path would each make a series of their own.
 */
function answer(metrics: GatewayMetrics, door: Door, req: IncomingMessage, res: ServerResponse, reply: Reply): void {
  sendReply(req, res, reply);
  const series = metrics.seriesOf(door.dialect);
  const bytes = Number(req.headers['content-length'] ?? 0);
  if (bytes > 0) series.bodyBytes.observe(bytes);
  series.answered(door.route.path, req.method ?? '', res.statusCode).add();
}

/** The application framework for everything but the ingestion doors: health, readiness, metrics, the OpenAPI document, 404. */
function createExpressApp(deps: GatewayDeps, metrics: GatewayMetrics): Express {
  const openApi = JSON.stringify(buildOpenApiDocument());
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use((req: Request, res: Response, next: NextFunction) => {
    res.on('finish', () => {
      const matched: unknown = (req.route as { path?: unknown } | undefined)?.path;
      metrics.requests.inc({ route: typeof matched === 'string' ? matched : unmatchedRoute, method: req.method, status: String(res.statusCode), dialect: 'none' });
    });
    next();
  });

  app.get('/healthz', (_req: Request, res: Response) => void res.json({ status: 'ok' }));
  app.get('/readyz', async (_req: Request, res: Response) => {
    const reason = await deps.kafkaReadiness();
    if (reason === undefined) res.json({ status: 'ready' });
    else res.status(503).set('Retry-After', '1').json({ status: 'not ready', reason });
  });
  app.get('/metrics', async (_req: Request, res: Response) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.get('/openapi.json', (_req: Request, res: Response) => void res.type('application/json').send(openApi));

  app.use((req: Request, res: Response) => sendReply(req, res, codedRefusal(new SluiceError('NOT_FOUND', `No route for ${req.method} ${req.path}`))));
  return app;
}

/**
 * Builds the gateway's request listener without listening, so tests drive it in-process: the
 * ingestion doors go to the ingest core, straight from node:http; every other request to express.
 */
export function createApp(deps: GatewayDeps): RequestListener {
  const metrics = deps.metrics ?? createGatewayMetrics();
  const standardRate = deps.rateLimiter ?? unlimited;
  const ingestDeps: IngestDeps = {
    publisher: deps.publisher,
    keyStore: deps.keyStore,
    rateLimits: { standard: standardRate, publishable: deps.publishableRateLimiter ?? standardRate },
    metrics,
    logger: deps.logger,
    maxBodyBytes: deps.maxBodyBytes ?? defaultMaxBodyBytes,
    batchLimits: deps.batchLimits ?? defaultBatchLimits,
    admission: createAdmission(deps.maxInFlight ?? defaultMaxInFlight, deps.maxWaitMs ? { maxWaitMs: deps.maxWaitMs, ...eventLoopLag() } : undefined),
    overloadPauseMs: deps.overloadPauseMs ?? defaultOverloadPauseMs,
    clock: deps.clock ?? Date.now,
  };
  const app = createExpressApp(deps, metrics);

  // Everything but the ingestion doors; express's handler returns nothing useful.
  const other = (req: IncomingMessage, res: ServerResponse): void => void app(req, res);
  return (req, res) => {
    const door = doorFor(pathOf({ url: req.url ?? '/' }));
    if (door === undefined) return other(req, res);
    ingestAt(door, { method: req.method ?? '', url: req.url ?? '/', headers: req.headers, body: req }, ingestDeps)
      .then((reply) => answer(metrics, door, req, res, reply))
      .catch((error: unknown) => {
        // Only writing the reply can fail here: the core answers every refusal itself.
        if (!res.headersSent) answer(metrics, door, req, res, codedRefusal(toSluiceError(error, deps.logger)));
      });
  };
}
