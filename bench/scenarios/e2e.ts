/**
 * End to end: Kafka, the worker and the gateway as processes, as `npm start` runs them. First the
 * most single-event requests per second the whole stack sustains (64 connections, closed loop);
 * then a steady load at 50% and at 90% of that, for 60 s each (open loop). For every event, the
 * latency from the gateway's acknowledgement to its row in ClickHouse: the row's stored_at, which
 * ClickHouse sets when it inserts the block, minus the moment the client got its 2xx. Consumer
 * lag and each process's resident memory are sampled every second.
 */
import { closedLoop, describeStatuses, openLoop, percentile, type LoadRequest } from '../load';
import type { Measurement, Scenario, ScenarioContext, ScenarioResult } from '../run';
import { benchApiKey, residentMiB, startBenchBroker, startBenchGateway, startBenchWorker } from '../stack';
import { adminSql } from '../../test/helpers/search-stream';

const connections = 64;
const gatewayPort = 29183;
const adminPort = 29184;
const topic = 'bench-e2e';
const partitions = 6;
const loads = [0.5, 0.9] as const;

function trieveRequest(dataset: string, insertId: string): LoadRequest {
  return {
    method: 'PUT',
    path: '/api/analytics/events',
    headers: { authorization: `Bearer ${benchApiKey}`, 'tr-dataset': dataset, 'content-type': 'application/json', 'idempotency-key': insertId },
    body: Buffer.from(JSON.stringify({ event_type: 'view', event_name: 'product_viewed', items: ['sku-1', 'sku-2'] })),
  };
}

async function run(context: ScenarioContext): Promise<ScenarioResult> {
  const seconds = context.options.seconds ?? 60;
  const measurements: Measurement[] = [];
  const failures: string[] = [];
  const details: Record<string, unknown> = {};

  const broker = await startBenchBroker(context);
  await broker.createTopic(topic, partitions);
  const worker = await startBenchWorker(context, { brokers: broker.brokers, topic, partitions, adminPort });
  const gateway = await startBenchGateway(context, { brokers: broker.brokers, topic, partitions, port: gatewayPort });
  const groupId = `bench-${topic}`;
  const processes = { gateway: gateway.pid, worker: worker.pid, kafka: broker.pid };

  const peak = await closedLoop({
    url: `http://127.0.0.1:${gatewayPort}`,
    connections,
    warmupMs: 3_000,
    durationMs: 10_000,
    next: (i) => trieveRequest('e2e-max', `max-${i}`),
    onProgress: (done, total) => context.progress('end to end: the most req/s', done, total),
  });
  if (!(peak.statuses.size === 1 && peak.statuses.has(204))) failures.push(`the peak load got ${describeStatuses(peak.statuses)}`);
  const maxRate = peak.requests / 10;
  context.log(`end to end: the stack takes at most ${maxRate.toFixed(0)} single-event req/s (p99 ${percentile(peak.latenciesMs, 99).toFixed(1)} ms)`);
  details.maxRequestsPerSecond = maxRate;
  await waitForLag(context, broker.bus, groupId, 0, 180_000);

  for (const load of loads) {
    context.signal.throwIfAborted();
    const percent = Math.round(load * 100);
    const dataset = `e2e-${percent}`;
    const rate = Math.max(1, Math.floor(maxRate * load));
    const ackedAt = new Map<string, number>();
    const lags: number[] = [];
    const memory: Record<string, number[]> = { gateway: [], worker: [], kafka: [] };
    const sampler = setInterval(() => {
      void broker.bus.consumerLag(groupId, topic).then((lag) => lags.push(lag), () => undefined);
      for (const [name, pid] of Object.entries(processes)) memory[name]?.push(residentMiB(pid) ?? 0);
    }, 1_000);
    const result = await openLoop({
      url: `http://127.0.0.1:${gatewayPort}`,
      connections,
      ratePerSecond: rate,
      durationMs: seconds * 1000,
      next: (i) => trieveRequest(dataset, `${dataset}-${i}`),
      onAnswer: (answer, i) => {
        if (answer.status === 204) ackedAt.set(`${dataset}-${i}`, performance.timeOrigin + answer.answeredAt);
      },
      onProgress: (done, total) => context.progress(`end to end: ${percent}% load, ${rate} req/s`, done, total),
    });
    clearInterval(sampler);
    if (!(result.statuses.size === 1 && result.statuses.has(204))) failures.push(`${percent}% load got ${describeStatuses(result.statuses)}`);
    await waitForLag(context, broker.bus, groupId, 0, 180_000);

    const stored = await adminSql(adminPort)<{ insert_id: string; stored: number }>(`SELECT insert_id, toUnixTimestamp64Milli(stored_at) AS stored FROM events WHERE dataset_id = '${dataset}'`);
    if (stored.length !== ackedAt.size) failures.push(`${percent}% load: ${ackedAt.size} events acknowledged, ${stored.length} rows stored`);
    const latencies = stored.flatMap((row) => {
      const acked = ackedAt.get(row.insert_id);
      return acked === undefined ? [] : [Math.max(0, row.stored - acked)];
    });
    const phase = `${percent}% load (${rate} req/s for ${seconds} s)`;
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    const peakMiB = (name: string): number => Math.max(0, ...(memory[name] ?? []));
    measurements.push(
      { phase, name: 'ack to row in ClickHouse, p50', value: p50, unit: 'ms', better: 'lower', baseline: null, goal: null, check: stored.length === ackedAt.size ? 'MATCH' : 'MISMATCH' },
      { phase, name: 'ack to row in ClickHouse, p99', value: p99, unit: 'ms', better: 'lower', baseline: null, goal: load === 0.5 ? { atMost: 2_000 } : null, check: null, note: `max ${percentile(latencies, 100).toFixed(0)} ms` },
      { phase, name: 'gateway answer, p99', value: percentile(result.latenciesMs, 99), unit: 'ms', better: 'lower', baseline: null, goal: null, check: null, note: `p50 ${percentile(result.latenciesMs, 50).toFixed(1)} ms` },
      { phase, name: 'consumer lag, max (messages)', value: Math.max(0, ...lags), unit: 'messages', better: 'lower', baseline: null, goal: null, check: null },
      {
        phase,
        name: 'peak RSS: gateway / worker / Kafka',
        value: peakMiB('gateway') + peakMiB('worker') + peakMiB('kafka'),
        unit: 'MiB',
        better: 'lower',
        baseline: null,
        goal: null,
        check: null,
        note: `${peakMiB('gateway').toFixed(0)} / ${peakMiB('worker').toFixed(0)} / ${peakMiB('kafka').toFixed(0)} MiB`,
      },
    );
    const workerMetrics = await fetch(`http://127.0.0.1:${adminPort}/metrics`).then((r) => r.text());
    const metric = (name: string): number => Number(new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(workerMetrics)?.[1] ?? Number.NaN);
    const inserts = metric('sluice_worker_insert_seconds_count');
    const batches = metric('sluice_worker_batch_messages_count');
    context.log(
      `  worker so far: ${batches} batches of ${(metric('sluice_worker_batch_messages_sum') / batches).toFixed(0)} messages on average; ${inserts} inserts of ${((metric('sluice_worker_insert_seconds_sum') / inserts) * 1000).toFixed(0)} ms on average`,
    );
    context.log(`${phase}: ack to row p50 ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms; lag max ${Math.max(0, ...lags)}; RSS gateway ${peakMiB('gateway').toFixed(0)} / worker ${peakMiB('worker').toFixed(0)} / Kafka ${peakMiB('kafka').toFixed(0)} MiB`);
    details[phase] = { acknowledged: ackedAt.size, stored: stored.length, late: result.late, lags, memoryMiB: memory, gatewayP50Ms: percentile(result.latenciesMs, 50) };
  }
  return { measurements, details, failures };
}

async function waitForLag(context: ScenarioContext, bus: { consumerLag(groupId: string, topic: string): Promise<number> }, groupId: string, lag: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    context.signal.throwIfAborted();
    if ((await bus.consumerLag(groupId, topic)) <= lag) return;
    if (Date.now() > deadline) throw new Error(`the worker did not catch up within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

export const e2eScenario: Scenario = {
  name: 'e2e',
  description: 'end to end at 50% and 90% of the most single-event req/s the stack takes: latency from the gateway ack to the row in ClickHouse, consumer lag, RSS',
  options: [{ name: 'seconds', description: 'seconds of steady load per level', default: 60, min: 5 }],
  run,
};
