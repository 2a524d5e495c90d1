import express, { type Express, type Request, type Response } from 'express';
import { SluiceError, type EventPublisher, type Logger } from '@sluice/core';
import type { ApiKeyAuthenticator } from './auth';
import { createTrieveRouter } from './routes/trieve';

export interface GatewayDeps {
  publisher: EventPublisher;
  authenticator: ApiKeyAuthenticator;
  logger: Logger;
  /** Largest accepted request body; larger ones get 413. */
  maxBodyBytes?: number;
  clock?: () => number;
}

export const defaultMaxBodyBytes = 1024 * 1024;

/** Builds the gateway's HTTP app without listening, so tests drive it in-process. */
export function createApp(deps: GatewayDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.get('/healthz', (_req: Request, res: Response) => {
    res.json({ status: 'ok' });
  });
  app.use(
    createTrieveRouter({
      publisher: deps.publisher,
      authenticator: deps.authenticator,
      logger: deps.logger,
      maxBodyBytes: deps.maxBodyBytes ?? defaultMaxBodyBytes,
      clock: deps.clock ?? Date.now,
    }),
  );
  app.use((req: Request, res: Response) => {
    const error = new SluiceError('NOT_FOUND', `No route for ${req.method} ${req.path}`);
    res.status(error.status).json({ message: error.message, code: error.code });
  });
  return app;
}
