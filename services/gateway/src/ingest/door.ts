import type { EventPublisher, Logger, SluiceError } from '@sluice/core';
import type { KeyStore } from '@sluice/tenancy';
import type { CorsDoor } from '../cors';
import type { Reply } from '../http-errors';
import type { GatewayMetrics } from '../metrics';
import type { KeyRateLimits } from '../rate-limit';
import type { Admission } from './admission';
import type { BatchLimits } from './batch';
import type { IngestRequest } from './request';

/** Everything the ingest core works with besides the request: each a dependency a test can replace. */
export interface IngestDeps {
  publisher: EventPublisher;
  keyStore: KeyStore;
  rateLimits: KeyRateLimits;
  metrics: GatewayMetrics;
  logger: Logger;
  /** Largest accepted single-event body; larger ones get 413. */
  maxBodyBytes: number;
  batchLimits: BatchLimits;
  /** The cap on requests in flight; one over it is shed with 503 OVERLOADED. */
  admission: Admission;
  /** Milliseconds a connection is not read after one of its requests is shed; 0 or unset: read at once. */
  overloadPauseMs?: number;
  clock: () => number;
}

/** One ingestion door: where it is, what CORS allows on it, how it serves a request and in which shape it refuses one. */
export interface Door {
  /** The `dialect` label of its metrics. */
  dialect: string;
  /** Its method (upper case) and path, as CORS and routing see them. */
  route: CorsDoor;
  /** Serves a request of the door's method; throws a SluiceError to refuse it. */
  serve(request: IngestRequest, deps: IngestDeps): Promise<Reply>;
  refused(error: SluiceError): Reply;
}
