import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Kafka publish latency: 1 ms to 10 s, roughly doubling. */
export const publishLatencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Request body sizes: 256 B to 8 MiB (the batch limit), by powers of four. */
export const bodyBytesBuckets = [256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 8_388_608];

export interface GatewayMetrics {
  /** Each app has its own registry, so tests can build many apps in one process. */
  registry: Registry;
  requests: Counter<'route' | 'method' | 'status' | 'dialect'>;
  eventsAccepted: Counter<'dialect'>;
  /** `reason` is an error-catalogue code (INVALID_EVENT, UNAUTHORIZED, RATE_LIMITED, KAFKA_UNAVAILABLE, ...). */
  eventsRejected: Counter<'dialect' | 'reason'>;
  /** Ingest requests refused with 503 OVERLOADED before any work was done on them. */
  requestsShed: Counter<'dialect'>;
  publishLatency: Histogram;
  bodyBytes: Histogram<'dialect'>;
}

/** The gateway's Prometheus metrics, on a registry of their own (never prom-client's global one). */
export function createGatewayMetrics(): GatewayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    requests: new Counter({
      name: 'sluice_gateway_requests_total',
      help: 'HTTP requests answered, by route, method, status and dialect.',
      labelNames: ['route', 'method', 'status', 'dialect'] as const,
      registers,
    }),
    eventsAccepted: new Counter({
      name: 'sluice_gateway_events_accepted_total',
      help: 'Events acknowledged by Kafka and accepted, by dialect.',
      labelNames: ['dialect'] as const,
      registers,
    }),
    eventsRejected: new Counter({
      name: 'sluice_gateway_events_rejected_total',
      help: 'Events refused, by dialect and error-catalogue code.',
      labelNames: ['dialect', 'reason'] as const,
      registers,
    }),
    requestsShed: new Counter({
      name: 'sluice_gateway_requests_shed_total',
      help: 'Ingest requests refused with 503 OVERLOADED (too many in flight) before their body was read, by dialect.',
      labelNames: ['dialect'] as const,
      registers,
    }),
    publishLatency: new Histogram({
      name: 'sluice_gateway_kafka_publish_seconds',
      help: 'Time from handing events to the Kafka producer until Kafka acknowledged them (or refused), in seconds.',
      buckets: publishLatencyBuckets,
      registers,
    }),
    bodyBytes: new Histogram({
      name: 'sluice_gateway_request_body_bytes',
      help: 'Request body sizes as declared by Content-Length, in bytes, by dialect.',
      labelNames: ['dialect'] as const,
      buckets: bodyBytesBuckets,
      registers,
    }),
  };
}
