import type { SluiceError } from '@sluice/core';
import type { DatasetNamespace } from '@sluice/tenancy';
import {
  normaliseGreenflashEvent,
  normaliseNeuralensEvent,
  normaliseTrieveCtr,
  normaliseTrieveEvent,
  validateGreenflashEvent,
  validateNeuralensEvent,
  validateTrieveCtr,
  validateTrieveEvent,
  type Envelope,
  type RequestContext,
  type ValidationResult,
} from '@sluice/envelope';
import type { CorsDoor } from './cors';
import { emptyReply, jsonReply, refusalReply, type Reply } from './http-errors';

/** The header whose value becomes an event's insert_id, on every door. */
export const idempotencyKeyHeader = 'Idempotency-Key';

/** Request headers every door takes besides its key and dataset: the insert id, and the body's type and compression. */
export const everyDoorsHeaders: readonly string[] = [idempotencyKeyHeader, 'Content-Type', 'Content-Encoding'];

/**
 * What differs between the dialects, as data: where the key and the dataset come from, the
 * schema, the mapping to the envelope, and the exact replies the dialect's own API gives.
 */
export interface DialectEndpoint<Body> {
  name: 'trieve' | 'trieve_ctr' | 'neuralens' | 'greenflash';
  method: 'put' | 'post';
  path: string;
  namespace: DatasetNamespace;
  /** The header holding the API key, bare or as "Bearer KEY" (keyFromAuthorization). */
  keyHeader: string;
  /** Where the dataset is named: a request header, or a field of the body. */
  dataset: { header: string } | { fromBody(body: Body): string };
  /** Headers the dialect's own clients send that the gateway takes without reading them. */
  clientHeaders?: readonly string[];
  validate(value: unknown): ValidationResult<Body>;
  normalise(body: Body, context: RequestContext): Envelope;
  /** The dialect's own reply to an accepted event, and to a refused one. */
  accepted(envelope: Envelope): Reply;
  refused(error: SluiceError): Reply;
}

/** A single event's refusal names the insert_id the gateway made up, when a retry must reuse it (SluiceError.insertIds). */
function madeUpInsertId(error: SluiceError): { insert_id?: string } {
  const insertId = error.insertIds?.[0]?.insert_id;
  return insertId === undefined ? {} : { insert_id: insertId };
}

/** Both Trieve routes: the key in Authorization (bare or Bearer), the dataset in TR-Dataset, 204 or {message}. */
const trieveShared = {
  method: 'put',
  namespace: 'trieve',
  keyHeader: 'Authorization',
  dataset: { header: 'TR-Dataset' },
  // Trieve's SDK adds it when given an organizationId; a dataset names its tenant here.
  clientHeaders: ['TR-Organization'],
  accepted: () => emptyReply(204),
  refused: (error: SluiceError) => refusalReply(error, { message: error.message, ...madeUpInsertId(error) }),
} as const;

export const trieveEvents: DialectEndpoint<Parameters<typeof normaliseTrieveEvent>[0]> = {
  ...trieveShared,
  name: 'trieve',
  path: '/api/analytics/events',
  validate: validateTrieveEvent,
  normalise: normaliseTrieveEvent,
};

export const trieveCtr: DialectEndpoint<Parameters<typeof normaliseTrieveCtr>[0]> = {
  ...trieveShared,
  name: 'trieve_ctr',
  path: '/api/analytics/ctr',
  validate: validateTrieveCtr,
  normalise: normaliseTrieveCtr,
};

export const neuralens: DialectEndpoint<Parameters<typeof normaliseNeuralensEvent>[0]> = {
  name: 'neuralens',
  method: 'post',
  path: '/analytics/event',
  namespace: 'neuralens',
  // The page shows "Bearer KEY"; a bare key is accepted too.
  keyHeader: 'X-Neuralens-API-Key',
  dataset: { header: 'X-Neuralens-Application-ID' },
  validate: validateNeuralensEvent,
  normalise: normaliseNeuralensEvent,
  accepted: () => jsonReply(200, { status: 'success', message: '' }),
  refused: (error) => refusalReply(error, { status: 'failure', message: error.message, ...madeUpInsertId(error) }),
};

export const greenflash: DialectEndpoint<Parameters<typeof normaliseGreenflashEvent>[0]> = {
  name: 'greenflash',
  method: 'post',
  path: '/api/v1/events',
  namespace: 'greenflash',
  keyHeader: 'Authorization',
  dataset: { fromBody: (body) => body.productId },
  validate: validateGreenflashEvent,
  normalise: normaliseGreenflashEvent,
  accepted: (envelope) => jsonReply(200, { eventId: envelope.event_id, success: true }),
  refused: (error) => refusalReply(error, { success: false, code: error.code, message: error.message, ...madeUpInsertId(error) }),
};

/** Each endpoint's validate produces exactly the body its normalise takes, so the list may forget the body type. */
export const dialectEndpoints: readonly DialectEndpoint<unknown>[] = [trieveEvents, trieveCtr, neuralens, greenflash];

/** A dialect's door as CORS sees it: the headers its preflight allows are those the endpoint reads. */
export function corsDoorOf(endpoint: DialectEndpoint<unknown>): CorsDoor {
  const datasetHeader = 'header' in endpoint.dataset ? [endpoint.dataset.header] : [];
  return {
    method: endpoint.method.toUpperCase(),
    path: endpoint.path,
    allowedHeaders: [endpoint.keyHeader, ...datasetHeader, ...(endpoint.clientHeaders ?? []), ...everyDoorsHeaders],
  };
}
