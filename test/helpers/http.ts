import { sleep } from '@sluice/core';

/** How long a test keeps coming back after "later" answers before it gives up and shows the last one. */
const defaultRetryForMs = 60_000;

/** A request that can be sent again: its body is text or bytes, not a stream. */
export type RepeatableRequest = RequestInit & { body?: string | Buffer };

/**
 * fetch as a real client uses it: a 429 or 503 that carries Retry-After is the gateway saying
 * "not now" (a rate limit, Kafka slow to acknowledge on a loaded machine), so the request is sent
 * again after the time it names. Past the deadline the last answer is returned, so a gateway that
 * never recovers still fails the test. The body must be a string or a Buffer, to be sent again.
 */
export async function fetchRetrying(url: string, init: RepeatableRequest = {}, retryForMs = defaultRetryForMs): Promise<Response> {
  const giveUpAt = Date.now() + retryForMs;
  for (;;) {
    const response = await fetch(url, init);
    const retryAfter = response.headers.get('retry-after');
    if ((response.status !== 429 && response.status !== 503) || retryAfter === null || Date.now() >= giveUpAt) return response;
    await response.arrayBuffer();
    await sleep(Math.min(retryAfterMs(retryAfter), Math.max(0, giveUpAt - Date.now())));
  }
}

/** Retry-After is either seconds or an HTTP date. */
function retryAfterMs(value: string): number {
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? 1000 : Math.max(0, date - Date.now());
}
