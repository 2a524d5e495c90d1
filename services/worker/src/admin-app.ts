import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { SluiceError, type Logger } from '@sluice/core';
import { classifyQueryError, type ClickHouse } from '@sluice/clickhouse';
import type { Registry } from 'prom-client';
import type { StalledPartition } from './partition-progress';
import { parseReplayRequest, type ReplayRequest, type ReplaySummary } from './replay';

export interface AdminDeps {
  clickhouse: Pick<ClickHouse, 'readOnlyQuery' | 'ping'>;
  /** Why consuming stopped for good, or undefined while the worker consumes. */
  consumerFailure: () => string | undefined;
  /** The partitions this worker owns whose messages wait while their committed offset has not moved for the stall time. */
  stalledPartitions: () => readonly StalledPartition[];
  /** Runs POST /replay; absent where replay is not offered. */
  replay?: (request: ReplayRequest) => Promise<ReplaySummary>;
  /** Served at GET /metrics. */
  metrics: Pick<Registry, 'metrics' | 'contentType'>;
  logger: Logger;
}

/**
 * The worker's admin listener. In embedded mode the worker is the only process that may open
 * chDB's data, so analysts' SQL comes through here, on a connection locked read-only.
 */
export function createAdminApp(deps: AdminDeps): Express {
  const app = express();
  app.disable('x-powered-by');
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
  app.post('/replay', express.json({ limit: '64kb' }), async (req: Request, res: Response) => {
    if (deps.replay === undefined) throw new SluiceError('NOT_FOUND', 'This worker does not offer replay');
    res.json(await deps.replay(parseReplayRequest(req.body ?? {})));
  });
  app.post('/sql', express.text({ type: () => true, limit: '1mb' }), async (req: Request, res: Response) => {
    const sql = typeof req.body === 'string' ? req.body.trim() : '';
    if (sql === '') throw new SluiceError('SQL_EMPTY', 'Send the SQL query as the request body');
    let rows: string;
    try {
      rows = await deps.clickhouse.readOnlyQuery(sql);
    } catch (error) {
      throw classifyQueryError(error);
    }
    res.type('application/x-ndjson').send(rows);
  });
  app.use((req: Request, res: Response) => {
    res.status(404).json({ code: 'NOT_FOUND', message: `No route for ${req.method} ${req.path}` });
  });
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const failure =
      error instanceof SluiceError
        ? error
        : (error as { type?: unknown }).type === 'entity.too.large'
          ? new SluiceError('PAYLOAD_TOO_LARGE', 'The request body is too large (POST /sql takes up to 1 MiB, POST /replay 64 KiB)')
          : (error as { type?: unknown }).type === 'entity.parse.failed'
            ? new SluiceError('INVALID_JSON', 'The request body is not well-formed JSON')
          : new SluiceError('INTERNAL', 'Internal error', { cause: error });
    if (failure.code === 'INTERNAL') deps.logger.error('admin request failed', { error: String(error) });
    if (failure.retriable) res.set('Retry-After', '1');
    res.status(failure.status).json({ code: failure.code, message: failure.message, ...(failure.field === undefined ? {} : { field: failure.field }) });
  });
  return app;
}
