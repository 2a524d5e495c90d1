import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { SluiceError, type EventPublisher, type IndexedInsertId, type Logger, type OutgoingMessage } from '@sluice/core';
import { type DatasetNamespace, type KeyStore, type Principal } from '@sluice/tenancy';
import { formatIssues } from '@sluice/envelope';
import { keyFromAuthorization } from '../auth';
import { wasRefusedWhileReading } from '../body-gate';
import { originRefusal } from '../cors';
import { idempotencyKeyHeader, type DialectEndpoint } from '../dialects';
import { toSluiceError } from '../http-errors';
import { jsonBody } from '../json-body';
import type { GatewayMetrics } from '../metrics';
import { keyHeader } from '../key-headers';
import { checkedMessage } from '../publish';
import { rateLimiterFor, type KeyRateLimits } from '../rate-limit';

export interface SingleEventDeps {
  publisher: EventPublisher;
  keyStore: KeyStore;
  rateLimits: KeyRateLimits;
  metrics: GatewayMetrics;
  logger: Logger;
  maxBodyBytes: number;
  clock: () => number;
}

/** What every request carries once authenticated: the key's principal. */
type Authenticated = Response<unknown, { principal: Principal }>;

/**
 * One dialect's endpoint. The order of checks is the order of cost: the key (401) and its origin
 * (403), the rate (429), the body (415, 413, 400), the dataset (400, 403), then Kafka (503), and a
 * reply only after Kafka has acknowledged.
 */
export function createSingleEventRoute<Body>(endpoint: DialectEndpoint<Body>, deps: SingleEventDeps): Router {
  const router = express.Router();
  const authenticate = (req: Request, res: Authenticated, next: NextFunction): void => {
    res.locals.principal = authenticatedPrincipal(req, endpoint.keyHeader, deps.keyStore);
    const rate = rateLimiterFor(deps.rateLimits, res.locals.principal).take(res.locals.principal.keyId, 1);
    if (!rate.allowed) throw new SluiceError('RATE_LIMITED', `Rate limit exceeded for this API key; retry in ${rate.retryAfterSeconds} s`, { retryAfterSeconds: rate.retryAfterSeconds });
    next();
  };

  const refuse = (res: Response, failure: SluiceError): void => {
    deps.metrics.eventsRejected.inc({ dialect: endpoint.name, reason: failure.code });
    endpoint.refused(res, failure);
  };

  router[endpoint.method](endpoint.path, authenticate, ...jsonBody(deps.maxBodyBytes, refuse), async (req: Request, res: Authenticated) => {
    const { dataset } = endpoint;
    // A missing dataset header is reported before the body's problems, as the vendors' APIs do.
    const headerDataset = 'header' in dataset ? keyHeader(req, dataset.header, true) : undefined;
    const validation = endpoint.validate(req.body);
    if (!validation.ok) throw new SluiceError('INVALID_EVENT', formatIssues(validation.issues), { field: validation.issues[0]?.path });
    const datasetId = 'header' in dataset ? (headerDataset as string) : dataset.fromBody(validation.value);
    authorise(res.locals.principal, endpoint, datasetId);
    const envelope = endpoint.normalise(validation.value, {
      datasetId,
      eventId: randomUUID(),
      receivedAt: deps.clock(),
      idempotencyKey: keyHeader(req, idempotencyKeyHeader, false),
    });
    // An insert_id the client sent it knows already; one the gateway made up (the event id) it learns from a 503.
    const madeUp = envelope.insert_id === envelope.event_id;
    await publish(deps, [checkedMessage(envelope)], madeUp ? [{ index: 0, insert_id: envelope.insert_id }] : []);
    deps.metrics.eventsAccepted.inc({ dialect: endpoint.name });
    endpoint.accepted(res, envelope);
  });

  router.use(endpoint.path, (error: unknown, _req: Request, res: Response, next: NextFunction) => {
    // The body reader fails once the connection of a refused body closes: the refusal was the answer.
    if (wasRefusedWhileReading(res)) return;
    if (res.headersSent) return next(error);
    refuse(res, toSluiceError(error, deps.logger));
  });
  return router;
}

/** The principal of the key in the request's `keyHeader`, which must allow the request's origin (its Origin header). */
export function authenticatedPrincipal(req: Request, keyHeader: string, keyStore: KeyStore): Principal {
  const presentedKey = keyFromAuthorization(req.get(keyHeader));
  if (presentedKey === undefined) throw new SluiceError('UNAUTHORIZED', 'Missing API key');
  const principal = keyStore.authenticate(presentedKey);
  if (!principal) throw new SluiceError('UNAUTHORIZED', 'Invalid API key');
  const refusal = originRefusal(principal, req.get('Origin'));
  if (refusal !== undefined) throw refusal;
  return principal;
}

export function forbiddenMessage(namespace: DatasetNamespace, datasetId: string): string {
  return `This API key may not write to ${namespace} dataset ${JSON.stringify(datasetId)}`;
}

export function authorise(principal: Principal, endpoint: Pick<DialectEndpoint<unknown>, 'namespace'>, datasetId: string): void {
  if (!principal.canWrite(endpoint.namespace, datasetId)) throw new SluiceError('FORBIDDEN', forbiddenMessage(endpoint.namespace, datasetId));
}

/**
 * Publishes and waits for Kafka's acknowledgement. KAFKA_UNAVAILABLE is ambiguous (a send that
 * timed out may still land), so that refusal names `insertIds`: a retry that reuses them is stored
 * once, by the worker's dedup.
 */
export async function publish(deps: Pick<SingleEventDeps, 'publisher' | 'metrics'>, messages: OutgoingMessage[], insertIds: readonly IndexedInsertId[]): Promise<void> {
  const stopTimer = deps.metrics.publishLatency.startTimer();
  try {
    await deps.publisher.publish(messages);
  } catch (error) {
    if (error instanceof SluiceError && error.code === 'KAFKA_UNAVAILABLE' && insertIds.length > 0) throw error.withInsertIds(insertIds);
    throw error;
  } finally {
    stopTimer();
  }
}
