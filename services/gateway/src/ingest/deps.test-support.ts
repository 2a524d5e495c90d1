import { silentLogger, type EventPublisher } from '@sluice/core';
import { createDevKeyStore } from '@sluice/tenancy';
import { createGatewayMetrics } from '../metrics';
import { unlimited } from '../rate-limit';
import { createAdmission, defaultMaxInFlight } from './admission';
import { defaultBatchLimits } from './batch';
import type { IngestDeps } from './door';

/** The ingest core's dependencies for a test that calls it directly: one dev key, no rate limit, a fixed clock, 1 KiB bodies. */
export function testIngestDeps(publisher: EventPublisher, apiKey: string, maxInFlight = defaultMaxInFlight): IngestDeps {
  return {
    publisher,
    keyStore: createDevKeyStore(apiKey),
    rateLimits: { standard: unlimited, publishable: unlimited },
    metrics: createGatewayMetrics(),
    logger: silentLogger,
    maxBodyBytes: 1024,
    batchLimits: defaultBatchLimits,
    admission: createAdmission(maxInFlight),
    clock: () => Date.parse('2026-01-01T00:00:00Z'),
  };
}
