export interface BackoffOptions {
  initialDelayMs: number;
  maxDelayMs: number;
  multiplier: number;
  /** Share of each delay that is randomised, 0..1, so that many clients do not retry in step. */
  jitter: number;
}

export const defaultBackoff: BackoffOptions = { initialDelayMs: 200, maxDelayMs: 10_000, multiplier: 2, jitter: 0.3 };

/** Delay before retry number `attempt` (0-based): exponential with jitter, never above maxDelayMs. */
export function backoffDelay(attempt: number, options: BackoffOptions = defaultBackoff, random: () => number = Math.random): number {
  const exponential = Math.min(options.maxDelayMs, options.initialDelayMs * options.multiplier ** attempt);
  const spread = exponential * options.jitter;
  return Math.min(options.maxDelayMs, Math.round(exponential - spread + random() * 2 * spread));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
