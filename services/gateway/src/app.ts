import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { SluiceError, type EventPublisher, type Logger } from '@sluice/core';
import { type KeyStore } from '@sluice/tenancy';
import { corsDoorOf, dialectEndpoints, refuseWithCode } from './dialects';
import { defaultMaxBodyBytes } from './json-body';
import { createGatewayMetrics, type GatewayMetrics } from './metrics';
import { buildOpenApiDocument } from './openapi';
import { unlimited, type RateLimiter } from './rate-limit';
import { batchCorsDoor, createBatchRoute, defaultBatchLimits, type BatchLimits } from './routes/batch';
import { beaconCorsDoor, beaconPath, createBeaconRoute } from './routes/beacon';
import { createCorsRoute } from './routes/cors';
import { createSingleEventRoute } from './routes/single-event';

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
  clock?: () => number;
}


/** The `route` label of a request that matched no route. */
export const unmatchedRoute = 'unmatched';

/**
 * Labels from the route that matched, never from the raw path: routing ignores case and trailing
 * slashes, so `/V1/Batch/` and any random path would each make a series of their own.
 */
function metricLabels(req: Request): { route: string; dialect: string } {
  const matched: unknown = (req.route as { path?: unknown } | undefined)?.path;
  if (typeof matched !== 'string') return { route: unmatchedRoute, dialect: 'none' };
  const dialect = dialectEndpoints.find((e) => e.path === matched)?.name ?? (matched === '/v1/batch' ? 'batch' : matched === beaconPath ? 'beacon' : 'none');
  return { route: matched, dialect };
}

/** Builds the gateway's HTTP app without listening, so tests drive it in-process. */
export function createApp(deps: GatewayDeps): Express {
  const metrics = deps.metrics ?? createGatewayMetrics();
  const standardRate = deps.rateLimiter ?? unlimited;
  const routeDeps = {
    publisher: deps.publisher,
    keyStore: deps.keyStore,
    rateLimits: { standard: standardRate, publishable: deps.publishableRateLimiter ?? standardRate },
    metrics,
    logger: deps.logger,
    maxBodyBytes: deps.maxBodyBytes ?? defaultMaxBodyBytes,
    clock: deps.clock ?? Date.now,
  };
  const openApi = JSON.stringify(buildOpenApiDocument());
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use((req: Request, res: Response, next: NextFunction) => {
    res.on('finish', () => {
      const { route, dialect } = metricLabels(req);
      const bytes = Number(req.get('Content-Length') ?? 0);
      if (bytes > 0) metrics.bodyBytes.observe({ dialect }, bytes);
      metrics.requests.inc({ route, method: req.method, status: String(res.statusCode), dialect });
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

  // CORS first: it answers preflights, and gives every other answer of a door its headers.
  for (const endpoint of dialectEndpoints) app.use(createCorsRoute(corsDoorOf(endpoint), { keyStore: deps.keyStore, refuse: (res, error) => endpoint.refused(res, error) }));
  app.use(createCorsRoute(batchCorsDoor, { keyStore: deps.keyStore, refuse: refuseWithCode }));
  app.use(createCorsRoute(beaconCorsDoor, { keyStore: deps.keyStore, refuse: refuseWithCode }));
  for (const endpoint of dialectEndpoints) app.use(createSingleEventRoute(endpoint, routeDeps));
  app.use(createBatchRoute({ ...routeDeps, limits: deps.batchLimits ?? defaultBatchLimits }));
  app.use(createBeaconRoute({ ...routeDeps, limits: deps.batchLimits ?? defaultBatchLimits }));

  app.use((req: Request, res: Response) => refuseWithCode(res, new SluiceError('NOT_FOUND', `No route for ${req.method} ${req.path}`)));
  return app;
}
