/**
 * Per-key token buckets: each key may send `eventsPerSecond` events on average, in bursts of up
 * to `burst`. A batch takes one token per event, so batching does not get round the limit.
 */
export interface RateLimiter {
  /** Takes `events` tokens from the key's bucket, or says how many seconds until it could. */
  take(keyId: string, events: number): { allowed: true } | { allowed: false; retryAfterSeconds: number };
}

export interface RateLimitOptions {
  eventsPerSecond: number;
  burst: number;
  clock?: () => number;
}

export const unlimited: RateLimiter = { take: () => ({ allowed: true }) };

export function createRateLimiter(options: RateLimitOptions): RateLimiter {
  const clock = options.clock ?? Date.now;
  const buckets = new Map<string, { tokens: number; updatedAt: number }>();
  return {
    take(keyId, events) {
      const now = clock();
      const bucket = buckets.get(keyId) ?? { tokens: options.burst, updatedAt: now };
      bucket.tokens = Math.min(options.burst, bucket.tokens + ((now - bucket.updatedAt) / 1000) * options.eventsPerSecond);
      bucket.updatedAt = now;
      buckets.set(keyId, bucket);
      if (events <= bucket.tokens) {
        bucket.tokens -= events;
        return { allowed: true };
      }
      // A request larger than the burst can never pass; tell the client to wait a full refill.
      const missing = Math.min(events, options.burst) - bucket.tokens;
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(missing / options.eventsPerSecond)) };
    },
  };
}
