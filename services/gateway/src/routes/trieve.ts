import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { SluiceError, type EventPublisher, type Logger } from '@sluice/core';
import { formatIssues, normaliseTrieveEvent, validateTrieveEvent } from '@sluice/envelope';
import { keyFromAuthorization, type ApiKeyAuthenticator } from '../auth';
import { retryAfterSeconds, toSluiceError } from '../http-errors';
import { checkedEnvelope, keyHeader, toMessage } from '../publish';

export interface TrieveRouteDeps {
  publisher: EventPublisher;
  authenticator: ApiKeyAuthenticator;
  logger: Logger;
  maxBodyBytes: number;
  clock: () => number;
}

/** Trieve's analytics API: PUT /api/analytics/events, answering 204 or {"message": "..."}. */
export function createTrieveRouter(deps: TrieveRouteDeps): Router {
  const router = express.Router();
  const parseJson = express.json({ limit: deps.maxBodyBytes, strict: false, type: () => true });

  router.put('/api/analytics/events', requireKey(deps.authenticator), requireJsonContentType, parseJson, async (req: Request, res: Response) => {
    const datasetId = keyHeader(req, 'TR-Dataset', true);
    const validation = validateTrieveEvent(req.body);
    if (!validation.ok) throw new SluiceError('INVALID_EVENT', formatIssues(validation.issues), { field: validation.issues[0]?.path });
    const envelope = normaliseTrieveEvent(validation.value, {
      datasetId,
      eventId: randomUUID(),
      receivedAt: deps.clock(),
      idempotencyKey: keyHeader(req, 'Idempotency-Key', false),
    });
    await deps.publisher.publish([toMessage(checkedEnvelope(envelope))]);
    res.status(204).end();
  });

  router.use((error: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) return next(error);
    const failure = toSluiceError(error, deps.logger);
    if (failure.retriable) res.set('Retry-After', String(retryAfterSeconds));
    res.status(failure.status).json({ message: failure.message });
  });
  return router;
}

function requireKey(authenticator: ApiKeyAuthenticator) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    const key = keyFromAuthorization(req.get('Authorization'));
    if (key === undefined) return next(new SluiceError('UNAUTHORIZED', 'Missing API key: send it in the Authorization header'));
    if (!authenticator.isValid(key)) return next(new SluiceError('UNAUTHORIZED', 'Invalid API key'));
    next();
  };
}

function requireJsonContentType(req: Request, _res: Response, next: NextFunction): void {
  if (req.is('application/json') === 'application/json' || req.is('+json')) return next();
  next(new SluiceError('UNSUPPORTED_MEDIA_TYPE', `Content-Type must be application/json, got ${JSON.stringify(req.get('Content-Type') ?? '(none)')}`));
}
