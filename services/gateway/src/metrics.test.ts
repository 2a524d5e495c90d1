import { register as globalRegistry } from 'prom-client';
import { bodyBytesBuckets, createGatewayMetrics, publishLatencyBuckets } from './metrics';

const metricNames = [
  'sluice_gateway_requests_total',
  'sluice_gateway_events_accepted_total',
  'sluice_gateway_events_rejected_total',
  'sluice_gateway_kafka_publish_seconds',
  'sluice_gateway_request_body_bytes',
];

/** The sample lines of one metric in the exposition text, e.g. `name{a="b"} 1`. */
function samples(text: string, name: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `));
}

describe('createGatewayMetrics', () => {
  test('registry.metrics() exposes every gateway metric, with its type, and the default process metrics', async () => {
    const { registry } = createGatewayMetrics();
    const text = await registry.metrics();
    for (const name of metricNames) expect(text).toContain(`# HELP ${name} `);
    expect(text).toContain('# TYPE sluice_gateway_requests_total counter');
    expect(text).toContain('# TYPE sluice_gateway_events_accepted_total counter');
    expect(text).toContain('# TYPE sluice_gateway_events_rejected_total counter');
    expect(text).toContain('# TYPE sluice_gateway_kafka_publish_seconds histogram');
    expect(text).toContain('# TYPE sluice_gateway_request_body_bytes histogram');
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).toContain('nodejs_eventloop_lag_seconds');
  });

  test('each metric carries exactly its labels', async () => {
    const metrics = createGatewayMetrics();
    metrics.requests.inc({ route: '/api/analytics/events', method: 'PUT', status: '204', dialect: 'trieve' });
    metrics.eventsAccepted.inc({ dialect: 'trieve' }, 3);
    metrics.eventsRejected.inc({ dialect: 'greenflash', reason: 'INVALID_EVENT' });
    metrics.eventsRejected.inc({ dialect: 'batch', reason: 'KAFKA_UNAVAILABLE' });
    metrics.publishLatency.observe(0.004);
    metrics.bodyBytes.observe({ dialect: 'neuralens' }, 300);

    const text = await metrics.registry.metrics();
    expect(samples(text, 'sluice_gateway_requests_total')).toEqual(['sluice_gateway_requests_total{route="/api/analytics/events",method="PUT",status="204",dialect="trieve"} 1']);
    expect(samples(text, 'sluice_gateway_events_accepted_total')).toEqual(['sluice_gateway_events_accepted_total{dialect="trieve"} 3']);
    expect(samples(text, 'sluice_gateway_events_rejected_total')).toEqual([
      'sluice_gateway_events_rejected_total{dialect="greenflash",reason="INVALID_EVENT"} 1',
      'sluice_gateway_events_rejected_total{dialect="batch",reason="KAFKA_UNAVAILABLE"} 1',
    ]);
    expect(samples(text, 'sluice_gateway_kafka_publish_seconds_count')).toEqual(['sluice_gateway_kafka_publish_seconds_count 1']);
    expect(samples(text, 'sluice_gateway_request_body_bytes_count')).toEqual(['sluice_gateway_request_body_bytes_count{dialect="neuralens"} 1']);

    // A label the metric was not declared with is refused.
    expect(() => metrics.eventsAccepted.inc({ dialect: 'trieve', reason: 'X' } as never)).toThrow(/label/);
    expect(() => metrics.requests.inc({ route: '/', method: 'GET', status: '200', dialect: 'none', extra: 'x' } as never)).toThrow(/label/);
  });

  test('publish latency buckets span 1 ms to 10 s, body size buckets 256 B to 8 MiB', async () => {
    expect(publishLatencyBuckets[0]).toBe(0.001);
    expect(publishLatencyBuckets.at(-1)).toBe(10);
    expect(bodyBytesBuckets[0]).toBe(256);
    expect(bodyBytesBuckets.at(-1)).toBe(8 * 1024 * 1024);
    for (const buckets of [publishLatencyBuckets, bodyBytesBuckets]) expect([...buckets].sort((a, b) => a - b)).toEqual(buckets);

    const metrics = createGatewayMetrics();
    metrics.publishLatency.observe(0.0005);
    metrics.bodyBytes.observe({ dialect: 'batch' }, 8 * 1024 * 1024);
    const text = await metrics.registry.metrics();
    expect(text).toContain('sluice_gateway_kafka_publish_seconds_bucket{le="0.001"} 1');
    expect(text).toContain('sluice_gateway_kafka_publish_seconds_bucket{le="10"} 1');
    expect(text).toContain('sluice_gateway_request_body_bytes_bucket{le="256",dialect="batch"} 0');
    expect(text).toContain('sluice_gateway_request_body_bytes_bucket{le="8388608",dialect="batch"} 1');
  });

  test('publishLatency times a publish with startTimer', async () => {
    const metrics = createGatewayMetrics();
    const stop = metrics.publishLatency.startTimer();
    const seconds = stop();
    expect(seconds).toBeGreaterThanOrEqual(0);
    expect(samples(await metrics.registry.metrics(), 'sluice_gateway_kafka_publish_seconds_count')).toEqual(['sluice_gateway_kafka_publish_seconds_count 1']);
  });

  test('two sets of metrics are independent, and neither touches the global registry', async () => {
    const first = createGatewayMetrics();
    const second = createGatewayMetrics();
    expect(first.registry).not.toBe(second.registry);

    first.eventsAccepted.inc({ dialect: 'trieve' }, 5);
    first.requests.inc({ route: '/healthz', method: 'GET', status: '200', dialect: 'none' });

    expect(samples(await first.registry.metrics(), 'sluice_gateway_events_accepted_total')).toEqual(['sluice_gateway_events_accepted_total{dialect="trieve"} 5']);
    const secondText = await second.registry.metrics();
    expect(samples(secondText, 'sluice_gateway_events_accepted_total')).toEqual([]);
    expect(samples(secondText, 'sluice_gateway_requests_total')).toEqual([]);

    for (const name of metricNames) expect(globalRegistry.getSingleMetric(name)).toBeUndefined();
  });
});
