import { createGatewayMetrics } from './metrics';

/** The sample lines of one metric in the exposition text, e.g. `name{a="b"} 1`. */
function samples(text: string, name: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(`${name}{`));
}

describe('a dialect series (metrics.seriesOf), counted in plain numbers', () => {
  test('shows its counts on every read of the registry, each counted once however often it is read', async () => {
    const metrics = createGatewayMetrics();
    const trieve = metrics.seriesOf('trieve');
    trieve.accepted.add();
    trieve.accepted.add(2);
    trieve.answered('/api/analytics/events', 'PUT', 204).add();
    trieve.rejected('INVALID_EVENT').add();
    metrics.seriesOf('batch').shed.add();

    const first = await metrics.registry.metrics();
    expect(samples(first, 'sluice_gateway_events_accepted_total')).toEqual(['sluice_gateway_events_accepted_total{dialect="trieve"} 3']);
    expect(samples(first, 'sluice_gateway_requests_total')).toEqual(['sluice_gateway_requests_total{route="/api/analytics/events",method="PUT",status="204",dialect="trieve"} 1']);
    expect(samples(first, 'sluice_gateway_events_rejected_total')).toEqual(['sluice_gateway_events_rejected_total{dialect="trieve",reason="INVALID_EVENT"} 1']);
    expect(samples(first, 'sluice_gateway_requests_shed_total')).toEqual(['sluice_gateway_requests_shed_total{dialect="batch"} 1']);

    // Read again: nothing added twice. Then counted further: the counts go on from where they were.
    expect(samples(await metrics.registry.metrics(), 'sluice_gateway_events_accepted_total')).toEqual(['sluice_gateway_events_accepted_total{dialect="trieve"} 3']);
    metrics.seriesOf('trieve').accepted.add();
    expect(samples(await metrics.registry.metrics(), 'sluice_gateway_events_accepted_total')).toEqual(['sluice_gateway_events_accepted_total{dialect="trieve"} 4']);
  });

  test('counts of the series and of direct inc calls add up in the same series', async () => {
    const metrics = createGatewayMetrics();
    metrics.seriesOf('neuralens').accepted.add();
    metrics.eventsAccepted.inc({ dialect: 'neuralens' }, 2);
    expect(samples(await metrics.registry.metrics(), 'sluice_gateway_events_accepted_total')).toEqual(['sluice_gateway_events_accepted_total{dialect="neuralens"} 3']);
  });

  test('a series counted by 0 appears with 0, as prom-client shows inc(labels, 0); one never counted does not appear', async () => {
    const metrics = createGatewayMetrics();
    metrics.seriesOf('batch').accepted.add(0);
    metrics.seriesOf('beacon');
    expect(samples(await metrics.registry.metrics(), 'sluice_gateway_events_accepted_total')).toEqual(['sluice_gateway_events_accepted_total{dialect="batch"} 0']);
  });
});
