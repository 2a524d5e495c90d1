import { SluiceError } from '@sluice/core';
import type { DatasetNamespace, KeyStore, Principal } from '@sluice/tenancy';
import { keyFromAuthorization } from '../auth';
import { originRefusal } from '../cors';
import { rateLimiterFor, type KeyRateLimits } from '../rate-limit';
import { header, type IngestRequest } from './request';

/** The principal of the key in the request's `keyHeader`, which must allow the request's origin (its Origin header). */
export function authenticatedPrincipal(request: Pick<IngestRequest, 'headers'>, keyHeader: string, keyStore: KeyStore): Principal {
  const presentedKey = keyFromAuthorization(header(request, keyHeader));
  if (presentedKey === undefined) throw new SluiceError('UNAUTHORIZED', 'Missing API key');
  const principal = keyStore.authenticate(presentedKey);
  if (!principal) throw new SluiceError('UNAUTHORIZED', 'Invalid API key');
  const refusal = originRefusal(principal, header(request, 'Origin'));
  if (refusal !== undefined) throw refusal;
  return principal;
}

export function rateLimited(what: string, retryAfterSeconds: number): SluiceError {
  return new SluiceError('RATE_LIMITED', `Rate limit exceeded for this API key: ${what}; retry in ${retryAfterSeconds} s`, { retryAfterSeconds });
}

/** Takes `events` from the key's rate, or refuses with 429. */
export function takeEvents(limits: KeyRateLimits, principal: Principal, events: number): void {
  const rate = rateLimiterFor(limits, principal).take(principal.keyId, events);
  if (!rate.allowed) throw rateLimited(`${events} events`, rate.retryAfterSeconds);
}

export function forbiddenMessage(namespace: DatasetNamespace, datasetId: string): string {
  return `This API key may not write to ${namespace} dataset ${JSON.stringify(datasetId)}`;
}

export function authorise(principal: Principal, namespace: DatasetNamespace, datasetId: string): void {
  if (!principal.canWrite(namespace, datasetId)) throw new SluiceError('FORBIDDEN', forbiddenMessage(namespace, datasetId));
}
