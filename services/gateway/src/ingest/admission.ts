import { monitorEventLoopDelay } from 'node:perf_hooks';
import { SluiceError } from '@sluice/core';

/**
 * Load shedding: a cap on the ingest requests in flight in the core and, when set, a budget on the
 * time requests wait before the core sees them. A request over either is refused at once (503 OVERLOADED, Retry-After) before its body is read or its key checked, so
 * that what the gateway does take is answered within a bounded time and memory, instead of every
 * request waiting in one growing queue until clients time out (and retry, storing twice).
 */
export interface Admission {
  /** Takes a place, or answers the refusal to send when every place is taken. */
  enter(): SluiceError | undefined;
  /** Gives back a place taken by enter(), once the request's reply is produced. */
  leave(): void;
  readonly inFlight: number;
}

/**
 * 256: the gateway acknowledges 4-8k single events a second on 2 cores (README, Benchmarks), so 256
 * in flight are answered in 30-60 ms; on a busy machine serving 500 a second (issue 16's run), in
 * about 0.5 s, still within a 1 s p99. Batches count one each, however many events they hold.
 */
export const defaultMaxInFlight = 256;

/**
 * Milliseconds a kept-alive connection is not read after one of its requests is shed, so that
 * clients ignoring Retry-After cannot keep the event loop busy shedding them (sendReply). 250:
 * well under the Retry-After (1 s), so clients honouring it never notice, and short enough that a
 * request sent at once anyway, then accepted, is still answered well within a 1 s p99 (bench
 * overload: accepted 2.2-4.4k req/s without it, 6.7-10.4k with it, p99 0.29-0.71 s).
 */
export const defaultOverloadPauseMs = 250;

/** Seconds a shed client is told to wait: long enough for the requests in flight to be answered. */
export const overloadedRetryAfterSeconds = 1;

/**
 * A request's queue time before the core sees it, which no counter of the core can know: the event
 * loop's lag, the most a timer ran late in the last window. Requests read from sockets wait that long.
 */
export function eventLoopLag(windowMs = 100): { lagMs(): number } {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  let lastMs = 0;
  setInterval(() => {
    lastMs = histogram.max / 1e6;
    histogram.reset();
  }, windowMs).unref();
  return { lagMs: () => lastMs };
}

export function createAdmission(maxInFlight: number, queueTime?: { maxWaitMs: number; lagMs(): number }): Admission {
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new SluiceError('INVALID_CONFIG', `The in-flight cap must be a positive whole number, got ${maxInFlight}`);
  let inFlight = 0;
  const refusal = (why: string): SluiceError =>
    new SluiceError('OVERLOADED', `${why}; retry in ${overloadedRetryAfterSeconds} s`, { retryAfterSeconds: overloadedRetryAfterSeconds });
  // Made once: an error captures a stack trace, which was a tenth of the gateway's CPU while it shed (bench overload's profile).
  const full = refusal(`The gateway is serving ${maxInFlight} requests, its limit`);
  return {
    enter() {
      if (inFlight >= maxInFlight) return full;
      if (queueTime !== undefined) {
        const lag = queueTime.lagMs();
        if (lag > queueTime.maxWaitMs) return refusal(`Requests wait ${Math.round(lag)} ms to be read, over the gateway's budget of ${queueTime.maxWaitMs} ms`);
      }
      inFlight++;
      return undefined;
    },
    leave() {
      inFlight--;
    },
    get inFlight() {
      return inFlight;
    },
  };
}
