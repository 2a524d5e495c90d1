import { randomUUID } from 'node:crypto';
import { SluiceError } from '@sluice/core';
import { formatIssues } from '@sluice/envelope';
import { corsDoorOf, idempotencyKeyHeader, type DialectEndpoint } from '../dialects';
import type { Reply } from '../http-errors';
import { assertStorableValues } from '../json-body';
import { keyHeader } from '../key-headers';
import { rateLimiterFor } from '../rate-limit';
import { authenticatedPrincipal, authorise } from './authenticate';
import type { Door, IngestDeps } from './door';
import { checkedMessage, publish } from './publish';
import { readBodyText } from './read-body';
import { bodyIs, header, type IngestRequest } from './request';

/**
 * JSON bodies only, up to `limit` bytes (after gzip, deflate or br is undone), every value
 * storable. An empty body is an empty object, so its missing fields are named.
 */
export async function readJsonBody(request: IngestRequest, limit: number): Promise<unknown> {
  if (!bodyIs(request, ['application/json', '+json'])) {
    throw new SluiceError('UNSUPPORTED_MEDIA_TYPE', `Content-Type must be application/json, got ${JSON.stringify(header(request, 'Content-Type') ?? '(none)')}`);
  }
  const text = await readBodyText(request, { limit, utfOnly: true });
  let body: unknown;
  try {
    body = text === '' ? {} : JSON.parse(text);
  } catch (error) {
    throw new SluiceError('INVALID_JSON', `The body is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  assertStorableValues(body);
  return body;
}

/**
 * One dialect's endpoint. The order of checks is the order of cost: the key (401) and its origin
 * (403), the rate (429), the body (415, 413, 400), the dataset (400, 403), then Kafka (503), and a
 * reply only after Kafka has acknowledged.
 */
async function serveEvent<Body>(endpoint: DialectEndpoint<Body>, request: IngestRequest, deps: IngestDeps): Promise<Reply> {
  const principal = authenticatedPrincipal(request, endpoint.keyHeader, deps.keyStore);
  const rate = rateLimiterFor(deps.rateLimits, principal).take(principal.keyId, 1);
  if (!rate.allowed) throw new SluiceError('RATE_LIMITED', `Rate limit exceeded for this API key; retry in ${rate.retryAfterSeconds} s`, { retryAfterSeconds: rate.retryAfterSeconds });
  const body = await readJsonBody(request, deps.maxBodyBytes);
  const { dataset } = endpoint;
  // A missing dataset header is reported before the body's problems, as the vendors' APIs do.
  const headerDataset = 'header' in dataset ? keyHeader(request, dataset.header, true) : undefined;
  const validation = endpoint.validate(body);
  if (!validation.ok) throw new SluiceError('INVALID_EVENT', formatIssues(validation.issues), { field: validation.issues[0]?.path });
  const datasetId = 'header' in dataset ? (headerDataset as string) : dataset.fromBody(validation.value);
  authorise(principal, endpoint.namespace, datasetId);
  const envelope = endpoint.normalise(validation.value, {
    datasetId,
    eventId: randomUUID(),
    receivedAt: deps.clock(),
    idempotencyKey: keyHeader(request, idempotencyKeyHeader, false),
  });
  // An insert_id the client sent it knows already; one the gateway made up (the event id) it learns from a 503.
  const madeUp = envelope.insert_id === envelope.event_id;
  await publish(deps, [checkedMessage(envelope)], madeUp ? [{ index: 0, insert_id: envelope.insert_id }] : []);
  deps.metrics.seriesOf(endpoint.name).accepted.add();
  return endpoint.accepted(envelope);
}

/** A dialect's endpoint as a door of the core. */
export function singleEventDoor<Body>(endpoint: DialectEndpoint<Body>): Door {
  return {
    dialect: endpoint.name,
    route: corsDoorOf(endpoint),
    serve: (request, deps) => serveEvent(endpoint, request, deps),
    refused: (error) => endpoint.refused(error),
  };
}
