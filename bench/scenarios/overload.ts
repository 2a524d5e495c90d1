/**
 * The gateway past what it can serve (issue 16, item 5): first the most single-event requests it
 * takes (Trieve PUT, 64 connections, closed loop), then ten times that rate, open loop, for 30 s,
 * each request abandoned after a 5 s client timeout. With load shedding the gateway answers what it
 * takes within a bounded time and refuses the rest at once with 503 and Retry-After; without it,
 * every request waits in one queue and clients time out. Run it with `--max-in-flight 1000000` to
 * see the gateway without a cap. The load comes from 2,048 clients, each with its own kept-alive
 * connection and one request at a time, that by default send again as soon as they are answered,
 * 503s included; with `--retry-after 1` they wait out the Retry-After first, as the SDKs do.
 */
import { Agent } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { closedLoop, describeStatuses, percentile, send, type Answer } from '../load';
import { RawClient, rawRequest } from '../raw-client';
import type { Measurement, Scenario, ScenarioContext, ScenarioResult } from '../run';
import { benchTrieveRequest, residentMiB, startBenchBroker, startBenchGateway } from '../stack';

const gatewayPort = 29182;
const topic = 'bench-overload';
const partitions = 6;
const probeConnections = 64;
const overloadFactor = 10;
const clientTimeoutMs = 5_000;
/**
 * Requests the load generator keeps in flight at most, one connection each. One process cannot
 * send ten times what the gateway takes on the same 2 cores, so what is due past this is not sent
 * (counted as unsent) instead of piling up in the generator's own memory.
 */
const maxConnections = 2_048;
/** The load generator sends what is due every tick, so that it yields to answers in between. */
const tickMs = 5;

interface Overload {
  answers: Answer[];
  sent: number;
  /** Due while each of the generator's maxConnections clients had a request in flight (or, with retryAfter, was waiting to retry), so never sent. */
  unsent: number;
}

/** Sends one request of a client of the fleet and resolves with its answer. */
type Client = () => Promise<Answer>;

/** The fleet: maxConnections clients, each with a kept-alive connection of its own. */
function fleet(url: string, nodeHttp: boolean): { clients: Client[]; connect: () => Promise<void>; close: () => void } {
  const base = new URL(url);
  if (nodeHttp) {
    // Every connection kept once opened, as a fleet of clients keeps its own (by default the agent closes all but 256 idle ones).
    const agent = new Agent({ keepAlive: true, maxSockets: maxConnections, maxFreeSockets: maxConnections });
    const client: Client = () => send(agent, base, benchTrieveRequest, clientTimeoutMs);
    // node:http's agent connects on a request only.
    return { clients: Array.from({ length: maxConnections }, () => client), connect: () => Promise.resolve(), close: () => agent.destroy() };
  }
  const request = rawRequest(base.host, benchTrieveRequest);
  const raw = Array.from({ length: maxConnections }, () => new RawClient(Number(base.port), base.hostname, request, clientTimeoutMs));
  return {
    clients: raw.map((client) => () => client.send()),
    connect: async () => void (await Promise.all(raw.map((client) => client.connect()))),
    close: () => raw.forEach((client) => client.close()),
  };
}

/**
 * Open loop at `rate`: every tick, the requests due by then, each sent by an idle client. What is
 * due while every client is busy is not sent (unsent); `sent` over the duration says the rate the
 * generator reached.
 */
async function overload(context: ScenarioContext, url: string, rate: number, durationMs: number, options: { honourRetryAfter: boolean; nodeHttp: boolean; connectFirst: boolean }): Promise<Overload> {
  const { clients, connect, close } = fleet(url, options.nodeHttp);
  if (options.connectFirst) await connect();
  const idle = [...clients];
  const answers: Answer[] = [];
  const pending = new Set<Promise<void>>();
  const started = performance.now();
  const total = Math.floor((rate * durationMs) / 1000);
  let sent = 0;
  let unsent = 0;
  try {
    while (sent + unsent < total && performance.now() - started < durationMs && !context.signal.aborted) {
      const due = Math.min(total, Math.floor(((performance.now() - started) * rate) / 1000));
      unsent += Math.max(0, due - sent - unsent - idle.length);
      for (; sent + unsent < due; sent++) {
        const client = idle.pop();
        if (client === undefined) throw new Error('no idle client for a request counted as sent');
        const answered = client().then(async (answer) => {
          answers.push(answer);
          // A client told to come back later sends nothing until then, as the SDKs do.
          if (options.honourRetryAfter && answer.status === 503) await new Promise((resolve) => setTimeout(resolve, 1000 * Number(answer.retryAfter ?? 1)));
          idle.push(client);
        });
        pending.add(answered);
        void answered.finally(() => pending.delete(answered));
      }
      context.progress(`overload: ${rate} req/s`, performance.now() - started, durationMs);
      await new Promise((resolve) => setTimeout(resolve, tickMs));
    }
    await Promise.all(pending);
    context.signal.throwIfAborted();
  } finally {
    context.progress(`overload: ${rate} req/s`, 1, 1);
    close();
  }
  return { answers, sent, unsent };
}

async function run(context: ScenarioContext): Promise<ScenarioResult> {
  const durationMs = (context.options.seconds ?? 30) * 1000;
  const warmupMs = (context.options.warmup ?? 10) * 1000;
  const maxInFlight = context.options['max-in-flight'] ?? 0;
  const failures: string[] = [];
  const broker = await startBenchBroker(context);
  await broker.createTopic(topic, partitions);
  const maxWaitMs = context.options['max-wait-ms'] ?? 0;
  const pauseMs = context.options['pause-ms'] ?? -1;
  const acceptHandles = context.options['accept-handles'] ?? 0;
  const env: Record<string, string> = {
    ...(maxInFlight === 0 ? {} : { OVERLOAD_MAX_IN_FLIGHT: String(maxInFlight) }),
    ...(pauseMs === -1 ? {} : { OVERLOAD_PAUSE_MS: String(pauseMs) }),
    ...(acceptHandles === 0 ? {} : { GATEWAY_ACCEPT_HANDLES: String(acceptHandles) }),
    ...(maxWaitMs === 0 ? {} : { OVERLOAD_MAX_WAIT_MS: String(maxWaitMs) }),
  };
  const gateway = await startBenchGateway(context, { brokers: broker.brokers, topic, partitions, port: gatewayPort, env });
  const url = `http://127.0.0.1:${gatewayPort}`;

  let rate = context.options.rate ?? 0;
  if (rate === 0) {
    const probe = await closedLoop({
      signal: context.signal,
      url,
      connections: probeConnections,
      warmupMs,
      durationMs: 5_000,
      next: () => benchTrieveRequest,
      onProgress: (done, total) => context.progress('overload: the sustainable rate', done, total),
    });
    const sustainable = probe.requests / 5;
    rate = Math.round(sustainable * overloadFactor);
    context.log(`sustainable: ${sustainable.toFixed(0)} req/s (${describeStatuses(probe.statuses)}); overload: ${rate} req/s`);
  }

  const idleMiB = residentMiB(gateway.pid) ?? 0;
  let peakMiB = idleMiB;
  const sampleMemory = setInterval(() => (peakMiB = Math.max(peakMiB, residentMiB(gateway.pid) ?? 0)), 250);
  context.onCleanup(() => clearInterval(sampleMemory));
  // The generator's own lag: an answer it reads late counts as latency the gateway did not add.
  const generatorLag = monitorEventLoopDelay({ resolution: 10 });
  generatorLag.enable();
  const honourRetryAfter = (context.options['retry-after'] ?? 0) === 1;
  const nodeHttp = (context.options['node-http'] ?? 0) === 1;
  const connectFirst = (context.options['connect-first'] ?? 0) === 1;
  const { answers, sent, unsent } = await overload(context, url, rate, durationMs, { honourRetryAfter, nodeHttp, connectFirst });
  generatorLag.disable();
  clearInterval(sampleMemory);

  const accepted = answers.filter((answer) => answer.status === 204);
  const shed = answers.filter((answer) => answer.status === 503);
  const timedOut = answers.filter((answer) => answer.timedOut === true);
  const unexpected = answers.filter((answer) => answer.status !== 204 && answer.status !== 503 && answer.timedOut !== true);
  const shedWithoutRetryAfter = shed.filter((answer) => answer.retryAfter === undefined).length;
  const latency = (answer: Answer): number => answer.answeredAt - answer.startedAt;
  const acceptedMs = accepted.map(latency);
  const statuses = new Map<number, number>();
  for (const answer of answers) statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
  context.log(`overload: ${sent} sent, ${unsent} unsent (the generator's ${maxConnections} clients all busy${honourRetryAfter ? ' or waiting out a Retry-After' : ''}), ${describeStatuses(statuses)}; ${timedOut.length} client timeouts; gateway RSS ${idleMiB.toFixed(0)} -> ${peakMiB.toFixed(0)} MiB`);
  const histogram = latencyHistogram(acceptedMs);
  context.log(`accepted latency: ${histogram.map(({ upToMs, count }) => `${upToMs === Infinity ? 'more' : `<${upToMs}`} ${count}`).join(', ')} (ms)`);
  const opened = answers.filter((answer) => answer.newConnection === true);
  const connectMs = opened.flatMap((answer) => (answer.connectMs === undefined ? [] : [answer.connectMs]));
  const timedOutConnecting = timedOut.filter((answer) => answer.newConnection === true && answer.connectMs === undefined).length;
  const timedOutOnNew = timedOut.filter((answer) => answer.newConnection === true).length;
  const shedMs = shed.map(latency);
  const acceptedReusedMs = accepted.filter((answer) => answer.newConnection === false).map(latency);
  context.log(
    `connections opened: ${opened.length} (connect p50 ${percentile(connectMs, 50).toFixed(0)} ms, p99 ${percentile(connectMs, 99).toFixed(0)} ms, ${connectMs.filter((ms) => ms >= 900).length} over 0.9 s); ` +
      `timeouts: ${timedOutOnNew} on new connections (${timedOutConnecting} never connected), ${timedOut.length - timedOutOnNew} on reused ones; 503 p99 ${percentile(shedMs, 99).toFixed(0)} ms; accepted p99 on reused connections ${percentile(acceptedReusedMs, 99).toFixed(0)} ms (${acceptedReusedMs.length}); ` +
      `generator event-loop lag p50 ${(generatorLag.percentile(50) / 1e6).toFixed(0)} ms, p99 ${(generatorLag.percentile(99) / 1e6).toFixed(0)} ms, max ${(generatorLag.max / 1e6).toFixed(0)} ms`,
  );
  if (shedWithoutRetryAfter > 0) failures.push(`overload: ${shedWithoutRetryAfter} of ${shed.length} 503 answers had no Retry-After`);
  if (unexpected.length > 0) failures.push(`overload: ${unexpected.length} answers neither 204 nor 503 nor a client timeout: ${unexpected[0]?.status} ${unexpected[0]?.body.slice(0, 200)}`);

  const phase = `${overloadFactor}x load, ${rate.toLocaleString('en-US')} req/s for ${durationMs / 1000} s, ${clientTimeoutMs / 1000} s client timeout${honourRetryAfter ? ', clients honour Retry-After' : ''}`;
  const measurement = (name: string, value: number, unit: Measurement['unit'], goal: Measurement['goal'], note: string): Measurement => ({
    phase,
    name,
    value,
    unit,
    better: 'lower',
    baseline: null,
    goal,
    check: null,
    note,
  });
  const measurements: Measurement[] = [
    measurement('accepted requests: latency p99', percentile(acceptedMs, 99), 'ms', { atMost: 1_000 }, `${accepted.length.toLocaleString('en-US')} accepted; p50 ${percentile(acceptedMs, 50).toFixed(0)} ms, max ${percentile(acceptedMs, 100).toFixed(0)} ms`),
    measurement('answered 503', (100 * shed.length) / Math.max(1, answers.length), '%', null, shedWithoutRetryAfter === 0 ? 'every one with Retry-After' : `${shedWithoutRetryAfter} without Retry-After`),
    measurement('client timeouts', timedOut.length, 'requests', { atMost: 0 }, `of ${answers.length.toLocaleString('en-US')} requests`),
    measurement('gateway peak RSS', peakMiB, 'MiB', null, `${idleMiB.toFixed(0)} MiB before the load`),
    { ...measurement('requests sent', (1000 * sent) / durationMs, 'req/s', null, `the load generator's rate, of ${rate.toLocaleString('en-US')} asked; ${unsent.toLocaleString('en-US')} unsent with ${maxConnections} in flight`), better: 'higher' },
  ];
  return {
    measurements,
    details: { rate, sent, unsent, honourRetryAfter, nodeHttp, connectFirst, statuses: Object.fromEntries(statuses), timedOut: timedOut.length, shedWithoutRetryAfter, idleMiB, peakMiB, maxInFlight: maxInFlight === 0 ? 'default' : maxInFlight, maxWaitMs: maxWaitMs === 0 ? 'default' : maxWaitMs, pauseMs: pauseMs === -1 ? 'default' : pauseMs, acceptHandles: acceptHandles === 0 ? 'default' : acceptHandles },
    failures,
  };
}

/** Counts of latencies up to each bound (ms), the last bound unbounded. */
function latencyHistogram(latenciesMs: readonly number[]): { upToMs: number; count: number }[] {
  const bounds = [50, 100, 250, 500, 1_000, 2_000, 3_000, 5_000, Infinity];
  const counts = bounds.map((upToMs) => ({ upToMs, count: 0 }));
  for (const ms of latenciesMs) {
    const bucket = counts.find(({ upToMs }) => ms < upToMs);
    if (bucket !== undefined) bucket.count++;
  }
  return counts;
}

export const overloadScenario: Scenario = {
  name: 'overload',
  description: `the gateway at ${overloadFactor}x the single-event rate it sustains, open loop with a ${clientTimeoutMs / 1000} s client timeout: accepted p99, 503s with Retry-After, timeouts, peak RSS`,
  options: [
    { name: 'seconds', description: 'seconds of overload', default: 30, min: 2 },
    { name: 'warmup', description: 'seconds of load before the sustainable rate is measured, not counted', default: 10, min: 0 },
    { name: 'rate', description: 'requests per second to send; 0: ten times the rate measured first', default: 0, min: 0 },
    { name: 'max-in-flight', description: "the gateway's OVERLOAD_MAX_IN_FLIGHT; 0: its default", default: 0, min: 0 },
    { name: 'max-wait-ms', description: "the gateway's OVERLOAD_MAX_WAIT_MS; 0: its default", default: 0, min: 0 },
    { name: 'pause-ms', description: "the gateway's OVERLOAD_PAUSE_MS; -1: its default", default: -1, min: -1 },
    { name: 'accept-handles', description: "the gateway's GATEWAY_ACCEPT_HANDLES; 0: its default", default: 0, min: 0 },
    { name: 'node-http', description: "1: the clients are node:http's (an Agent), which cost the generator several times the CPU of its own minimal HTTP/1.1 client (0)", default: 0, min: 0 },
    { name: 'connect-first', description: '1: the clients connect before the load starts (a surge on connections already open); 0: each connects with its first request, all in the first few milliseconds', default: 0, min: 0 },
    { name: 'retry-after', description: "1: a client answered 503 waits its Retry-After before sending again, as the SDKs do; 0: at once (clients that ignore it, the harder case)", default: 0, min: 0 },
  ],
  run,
};
