import type { Principal } from '@sluice/tenancy';

/**
 * Per-key token buckets: each key may send `eventsPerSecond` events on average, in bursts of up
 * to `burst`. A batch takes one token per event, so batching does not get round the limit.
 *
 * A batch is also held to a byte allowance derived from the same rate: `batchBytesPerEvent`
 * bytes of body per event, taken before the body is read, so a key over its rate cannot make the
 * gateway read and parse megabytes first.
 *
 * Publishable keys have a limiter of their own, with a lower rate: they are public, embedded in
 * pages, so anyone can send with them (RATE_LIMIT_PUBLISHABLE_EVENTS_PER_SECOND).
 */
export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export interface RateLimiter {
  /** Takes `events` tokens from the key's bucket, or says how many seconds until it could. */
  take(keyId: string, events: number): RateDecision;
  /** Takes `bytes` of batch body (as sent, before gzip is undone) from the key's byte allowance. */
  takeBytes(keyId: string, bytes: number): RateDecision;
}

export interface RateLimitOptions {
  eventsPerSecond: number;
  burst: number;
  /** Batch body bytes each event of the rate allows; defaultBatchBytesPerEvent unless set. */
  batchBytesPerEvent?: number;
  clock?: () => number;
}

/** Generous for analytics events (usually well under 1 KiB), so the event count is what binds. */
export const defaultBatchBytesPerEvent = 4096;

export const unlimited: RateLimiter = { take: () => ({ allowed: true }), takeBytes: () => ({ allowed: true }) };

function tokenBuckets(perSecond: number, burst: number, clock: () => number): (keyId: string, amount: number) => RateDecision {
  const buckets = new Map<string, { tokens: number; updatedAt: number }>();
  return (keyId, amount) => {
    const now = clock();
    const bucket = buckets.get(keyId) ?? { tokens: burst, updatedAt: now };
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * perSecond);
    bucket.updatedAt = now;
    buckets.set(keyId, bucket);
    if (amount <= bucket.tokens) {
      bucket.tokens -= amount;
      return { allowed: true };
    }
    // A request larger than the burst can never pass; tell the client to wait a full refill.
    const missing = Math.min(amount, burst) - bucket.tokens;
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(missing / perSecond)) };
  };
}

export function createRateLimiter(options: RateLimitOptions): RateLimiter {
  const clock = options.clock ?? Date.now;
  const bytesPerEvent = options.batchBytesPerEvent ?? defaultBatchBytesPerEvent;
  return {
    take: tokenBuckets(options.eventsPerSecond, options.burst, clock),
    takeBytes: tokenBuckets(options.eventsPerSecond * bytesPerEvent, options.burst * bytesPerEvent, clock),
  };
}

/** The limiters keys answer to, by their kind. */
export interface KeyRateLimits {
  /** Secret keys and the dev key. */
  standard: RateLimiter;
  publishable: RateLimiter;
}

/** Publishable keys' default rate (RATE_LIMIT_PUBLISHABLE_EVENTS_PER_SECOND): a page sends a few events a second; a key copied out of it should not send 50,000. */
export const defaultPublishableEventsPerSecond = 100;

export function rateLimiterFor(limits: KeyRateLimits, principal: Pick<Principal, 'kind'>): RateLimiter {
  return principal.kind === 'publishable' ? limits.publishable : limits.standard;
}
