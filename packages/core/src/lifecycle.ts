import type { Logger } from './logger';

/** Copies of one Ctrl-C arrive from the terminal, npm and our bootstrap within moments; count them once. */
const repeatWindowMs = 3_000;

/**
 * Runs `stop` once on SIGINT or SIGTERM, then exits. A signal that comes more than a few
 * seconds into the shutdown forces the exit, so a stuck shutdown can still be cut short.
 */
export function onShutdownSignal(logger: Logger, stop: () => Promise<void>): void {
  let stoppingSince: number | undefined;
  const handle = (signal: NodeJS.Signals): void => {
    if (stoppingSince !== undefined) {
      if (Date.now() - stoppingSince < repeatWindowMs) return;
      logger.warn('signal received while stopping; exiting now', { signal });
      process.exit(1);
    }
    stoppingSince = Date.now();
    logger.info('stopping', { signal });
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error('shutdown failed', { error: String(error) });
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handle);
  process.on('SIGTERM', handle);
}
