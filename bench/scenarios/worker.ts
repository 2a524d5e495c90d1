/**
 * Worker throughput: how fast the real worker process (services/worker, chDB embedded) drains a
 * pre-filled topic into ClickHouse with sampling and dedup on, against ClickHouse's own Kafka table
 * engine (chDB, in a process of its own: kafka-engine-process.ts) consuming the same topic into the
 * same `events` table with the same materialized views, one after the other in the same run, each
 * with its own consumer group.
 *
 * The topic holds `--events` distinct events (searches with a request_id, their clicks and
 * purchases, and views, over four datasets), every 50th sent twice as a retrying producer would:
 * half of the copies right behind the first, half far later, so the worker drops copies both
 * within a block and from dedup_keys. Sampling keeps `--keep-permille` per mille of each dataset's
 * events (by default 999: at a rate of 1 the worker keeps everything without computing the sampling
 * point, so a rate just under 1 makes the sampling step do its real work), and the bench computes
 * which ones with the worker's own sampling function, so the stored rows are checked exactly.
 *
 * Both sides are timed from the moment they start consuming (the worker once its health endpoint
 * answers; the engine once its materialized view is created, its process started and migrated
 * before) until everything is stored: for the worker, committed (consumer lag 0); for the engine,
 * `events` holding every message. Throughput is Kafka messages consumed per second (copies
 * included) on both sides. The engine neither samples nor dedups, so it stores every message; that
 * is the answer it is checked against.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorMessage, sleep, type OutgoingMessage } from '@sluice/core';
import { envelopeMessage, type Envelope } from '@sluice/envelope';
import { isProcessAlive } from '@sluice/dev';
import { buildEnvelope } from '@sluice/producer';
import { decideSample, parseSamplingRules, type SamplingRules } from '@sluice/worker';
import { freePort } from '../../test/helpers/processes';
import type { Measurement, Scenario, ScenarioContext, ScenarioResult } from '../run';
import type { EngineReport, EngineResult, EngineSettings } from './kafka-engine-process';
import { startEngineProcess } from './kafka-engine';
import { residentMiB, startBenchBroker, startBenchWorker, type BenchBroker } from '../stack';
import { analystSql } from '../../test/helpers/search-stream';

const topic = 'bench-worker-events';
/** startBenchWorker's consumer group for the topic. */
const workerGroup = `bench-${topic}`;
const engineGroup = `bench-engine-${topic}`;
const datasets = ['shop-eu', 'shop-us', 'docs-search', 'support-rag'];
/** Every copyEvery-th distinct event is sent twice. */
const copyEvery = 50;
/** Messages per publish call while prefilling, and how many calls are in flight at once. */
const prefillChunk = 10_000;
const prefillInFlight = 4;
const pollMs = 250;
/** A side that stores nothing more for this long has stalled: the run fails rather than waits. */
const stallMs = 90_000;
const engineDatabase = 'bench_engine';

interface Prefilled {
  /** Kafka messages in the topic: distinct events plus copies. */
  messages: number;
  distinct: number;
  copies: number;
  /** Distinct events the sampling keeps: the worker's expected rows. */
  kept: number;
  /** Copies of kept events: the worker's expected dedup drops. */
  keptCopies: number;
  /** Whether the sampling rate is under 1, so that every stored row records it. */
  sampled: boolean;
  bytes: number;
  seconds: number;
  mix: Record<string, number>;
}

interface Side {
  /** Seconds from the start of consumption until everything is stored (and, for the worker, committed). */
  seconds: number;
  /** Seconds from the start of consumption until the first stored (committed) messages were seen. */
  firstSeconds: number | undefined;
  peakRssMiB: number;
  cpuSeconds: number;
  brokerCpuSeconds: number;
}

/** The deterministic stream: request after request, each a search, 0-2 clicks, maybe a purchase and a view. */
function* distinctEvents(total: number, now: number): Generator<Envelope> {
  let state = 42;
  const next = (): number => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  let emitted = 0;
  for (let request = 1; emitted < total; request++) {
    const datasetId = datasets[request % datasets.length] ?? 'shop-eu';
    const requestId = `req-${request}`;
    const userId = `user-${request % 5_000}`;
    const occurredAt = now - Math.floor(next() * 3_600_000);
    const common = { dataset_id: datasetId, occurred_at: occurredAt, received_at: now, user_id: userId };
    const events: Envelope[] = [
      buildEnvelope({ ...common, event_type: 'search', insert_id: `s-${request}`, request_id: requestId, request_type: 'search', query: `query ${request % 5_000}` }, now),
    ];
    const clicks = Math.floor(next() * 3);
    for (let c = 0; c < clicks; c++) {
      events.push(
        buildEnvelope({ ...common, event_type: 'click', insert_id: `c-${request}-${c}`, request_id: requestId, request_type: 'search', position: c, items: [`sku-${(request * 7 + c) % 20_000}`] }, now),
      );
    }
    if (next() < 0.1) {
      events.push(
        buildEnvelope(
          { ...common, event_type: 'purchase', event_name: 'order_completed', insert_id: `p-${request}`, request_id: requestId, request_type: 'search', revenue: 25.5, is_conversion: true, items: [`sku-${(request * 7) % 20_000}`] },
          now,
        ),
      );
    }
    if (next() < 0.3) {
      events.push(buildEnvelope({ ...common, event_type: 'view', event_name: 'product_viewed', insert_id: `v-${request}`, page: '/product', items: [`sku-${request % 20_000}`], properties: { referrer: 'search' } }, now));
    }
    for (const event of events) {
      if (emitted === total) return;
      emitted++;
      yield event;
    }
  }
}

/** Fills the topic: every message, its copies, and what the worker must do with them. */
async function prefill(context: ScenarioContext, broker: BenchBroker, total: number, rules: SamplingRules): Promise<Prefilled> {
  const publisher = await broker.bus.createPublisher({ topic, maxQueuedMessages: prefillChunk * (prefillInFlight + 1), queueTimeoutMs: 120_000, sendTimeoutMs: 120_000 });
  const totalCopies = Math.ceil(total / copyEvery);
  const expectedMessages = total + totalCopies;
  /** A far copy goes this many distinct events after its first: in another block, found in dedup_keys. */
  const deferBy = Math.min(100_000, Math.floor(total / 4));
  const deferred = new Map<number, OutgoingMessage[]>();
  const started = performance.now();
  const counts = { messages: 0, distinct: 0, copies: 0, kept: 0, keptCopies: 0, bytes: 0 };
  const mix: Record<string, number> = {};
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let chunk: OutgoingMessage[] = [];
  const push = (message: OutgoingMessage): void => {
    chunk.push(message);
    counts.messages++;
    counts.bytes += typeof message.value === 'string' ? Buffer.byteLength(message.value) : message.value.length;
  };
  const flush = async (): Promise<void> => {
    if (chunk.length === 0) return;
    const sending = publisher.publish(chunk).catch((error: unknown) => void (failure ??= error));
    chunk = [];
    inFlight.add(sending);
    void sending.finally(() => inFlight.delete(sending));
    while (inFlight.size >= prefillInFlight) await Promise.race(inFlight);
    if (failure !== undefined) throw new Error(`prefill: Kafka refused a send: ${errorMessage(failure)}`);
    context.progress('prefill', counts.messages, expectedMessages);
    context.signal.throwIfAborted();
  };
  try {
    let index = 0;
    for (const envelope of distinctEvents(total, Date.now())) {
      const message = envelopeMessage(envelope);
      const keep = decideSample(envelope, rules).keep;
      counts.distinct++;
      if (keep) counts.kept++;
      mix[envelope.event_type] = (mix[envelope.event_type] ?? 0) + 1;
      push(message);
      if (index % copyEvery === 0) {
        counts.copies++;
        if (keep) counts.keptCopies++;
        if ((index / copyEvery) % 2 === 0) push(message);
        else deferred.set(index + deferBy, [...(deferred.get(index + deferBy) ?? []), message]);
      }
      for (const copy of deferred.get(index) ?? []) push(copy);
      deferred.delete(index);
      index++;
      if (chunk.length >= prefillChunk) await flush();
    }
    for (const copies of deferred.values()) for (const copy of copies) push(copy);
    await flush();
    await Promise.all(inFlight);
    if (failure !== undefined) throw new Error(`prefill: Kafka refused a send: ${errorMessage(failure)}`);
  } finally {
    await publisher.close();
  }
  context.progress('prefill', counts.messages, counts.messages);
  const seconds = (performance.now() - started) / 1000;
  // The broker's freshly written log goes to disk now, not while the first side is being timed.
  spawnSync('sync');
  await sleep(2_000);
  const inTopic = await broker.bus.countMessages(topic);
  if (inTopic !== counts.messages || counts.messages !== expectedMessages) {
    throw new Error(`prefill: sent ${counts.messages} messages (expected ${expectedMessages}), the topic holds ${inTopic}`);
  }
  return { ...counts, sampled: Object.values(rules.datasets).some((d) => (d.default ?? 1) < 1), seconds, mix };
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); 0 once it is gone. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name; in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** The worker's step outcomes from its /metrics, as "step/outcome" → messages. */
async function stepOutcomes(adminPort: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const outcomes: Record<string, number> = {};
  for (const match of text.matchAll(/^sluice_worker_step_outcomes_total\{step="([^"]+)",outcome="([^"]+)"\} (\d+)$/gm)) {
    outcomes[`${match[1]}/${match[2]}`] = Number(match[3]);
  }
  return outcomes;
}

/** The worker's mean Kafka batch (one block each), from its /metrics. */
async function meanBatchMessages(adminPort: number): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const sum = /^sluice_worker_batch_messages_sum (\S+)$/m.exec(text)?.[1];
  const count = /^sluice_worker_batch_messages_count (\S+)$/m.exec(text)?.[1];
  return sum === undefined || count === undefined || Number(count) === 0 ? undefined : Number(sum) / Number(count);
}

/** The action's answer, retried every half second for up to timeoutMs (a coordinator still loading, a broker busy). */
async function retried<T>(action: () => Promise<T>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await action();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(500);
    }
  }
}

/**
 * Polls `stored()` until it reaches `total`, drawing progress; throws when nothing more is stored
 * for stallMs, the process dies (`alive()` says why) or the run is interrupted. Returns the seconds
 * until everything was stored and until the first messages were.
 */
async function follow(
  context: ScenarioContext,
  label: string,
  total: number,
  stored: () => Promise<number>,
  sample: () => void,
  alive: () => string | undefined,
): Promise<{ seconds: number; firstSeconds: number | undefined }> {
  const started = performance.now();
  let firstSeconds: number | undefined;
  let last = -1;
  let lastChange = started;
  let lastError: string | undefined;
  for (;;) {
    context.signal.throwIfAborted();
    const problem = alive();
    if (problem !== undefined) throw new Error(`${label}: ${problem}`);
    // A failed look-up counts as no progress; the stall limit ends a run whose look-ups keep failing.
    const count = await stored().catch((error: unknown) => {
      lastError = errorMessage(error);
      return last;
    });
    const now = performance.now();
    sample();
    if (count > 0 && firstSeconds === undefined) firstSeconds = (now - started) / 1000;
    if (count !== last) {
      last = count;
      lastChange = now;
    }
    context.progress(label, Math.max(0, Math.min(count, total)), total);
    if (count >= total) return { seconds: (now - started) / 1000, firstSeconds };
    if (now - lastChange > stallMs) throw new Error(`${label}: stalled at ${count} of ${total} messages for ${stallMs / 1000} s${lastError === undefined ? '' : ` (last error: ${lastError})`}`);
    await sleep(pollMs);
  }
}

async function measureWorker(
  context: ScenarioContext,
  broker: BenchBroker,
  partitions: number,
  prefilled: Prefilled,
  samplingFile: string,
): Promise<{ side: Side; startupSeconds: number; meanBatchMessages: number | undefined; checks: Record<string, unknown>; failures: string[] }> {
  const adminPort = await freePort();
  const analystsPort = await freePort();
  const startedAt = performance.now();
  const worker = await startBenchWorker(context, { brokers: broker.brokers, topic, partitions, adminPort, analystsPort, env: { SAMPLING_FILE: samplingFile } });
  const startupSeconds = (performance.now() - startedAt) / 1000;
  context.log(`worker started in ${startupSeconds.toFixed(1)} s (chDB opened, migrations applied); consuming ${prefilled.messages.toLocaleString('en-US')} messages`);
  const cpuBefore = cpuSeconds(worker.pid);
  const brokerCpuBefore = cpuSeconds(broker.pid);
  let peakRssMiB = 0;
  const timing = await follow(
    context,
    'worker',
    prefilled.messages,
    async () => prefilled.messages - (await broker.bus.consumerLag(workerGroup, topic)),
    () => void (peakRssMiB = Math.max(peakRssMiB, residentMiB(worker.pid) ?? 0)),
    () => (isProcessAlive(worker.pid) ? undefined : 'the worker process exited (see its log above)'),
  );
  const side: Side = { ...timing, peakRssMiB, cpuSeconds: cpuSeconds(worker.pid) - cpuBefore, brokerCpuSeconds: cpuSeconds(broker.pid) - brokerCpuBefore };

  const sql = analystSql(`http://127.0.0.1:${analystsPort}`);
  const [stored] = await sql<{ rows: number; ids: number; sampled: number }>('SELECT count() AS rows, uniqExact(dataset_id, insert_id) AS ids, countIf(sample_rate < 1) AS sampled FROM events');
  const [rejected] = await sql<{ n: number }>('SELECT count() AS n FROM events_rejected');
  const [keys] = await sql<{ n: number }>('SELECT count() AS n FROM dedup_keys');
  const outcomes = await stepOutcomes(adminPort);
  const batchMessages = await meanBatchMessages(adminPort);
  await worker.stop();

  const expectedSampleDrops = prefilled.distinct - prefilled.kept + (prefilled.copies - prefilled.keptCopies);
  const checks = { rows: stored?.rows, distinctIds: stored?.ids, rowsWithSampleRate: stored?.sampled, dedupKeys: keys?.n, rejected: rejected?.n, stepOutcomes: outcomes, meanBatchMessages: batchMessages };
  const failures: string[] = [];
  const expect = (what: string, actual: number | undefined, expected: number): void => {
    if (actual !== expected) failures.push(`worker: ${what} is ${actual ?? 'missing'}, expected ${expected}`);
  };
  expect('SELECT count() FROM events', stored?.rows, prefilled.kept);
  expect('uniqExact(dataset_id, insert_id) of events', stored?.ids, prefilled.kept);
  expect('SELECT count() FROM dedup_keys', keys?.n, prefilled.kept);
  expect('rows recording a sample_rate under 1', stored?.sampled, prefilled.sampled ? prefilled.kept : 0);
  expect('SELECT count() FROM events_rejected', rejected?.n, 0);
  expect('messages the sampling dropped (sluice_worker_step_outcomes_total sample/drop)', outcomes['sample/drop'] ?? 0, expectedSampleDrops);
  expect('copies the dedup dropped (sluice_worker_step_outcomes_total dedup/drop)', outcomes['dedup/drop'] ?? 0, prefilled.keptCopies);
  return { side, startupSeconds, meanBatchMessages: batchMessages, checks, failures };
}

/**
 * ClickHouse's Kafka engine in chDB, in a process of its own (bench/scenarios/kafka-engine-process.ts):
 * started and ready (migrations applied, Kafka table created), then timed from the creation of its
 * materialized view until `events` holds every message.
 */
async function measureEngine(
  context: ScenarioContext,
  broker: BenchBroker,
  prefilled: Prefilled,
  settings: EngineSettings,
): Promise<{ side: Side | undefined; version: string; settingsSql: string; checks: Record<string, unknown>; failures: string[] }> {
  const dataPath = mkdtempSync(join(tmpdir(), 'sluice-bench-engine-chdb-'));
  context.onCleanup(() => rmSync(dataPath, { recursive: true, force: true }));
  const engine = startEngineProcess(context, { ...settings, dataPath, database: engineDatabase, brokers: broker.brokers, topic, group: engineGroup, messages: prefilled.messages, pollMs });
  const failures: string[] = [];
  const fail = (problem: string): void => void failures.push(`kafka engine: ${problem}`);
  const describe = (report: EngineReport | undefined | 'timeout'): string =>
    report === undefined ? `its process exited: ${engine.stderrTail()}` : report === 'timeout' ? 'its process stopped reporting' : 'error' in report ? report.error : JSON.stringify(report);

  const ready = await engine.next(120_000);
  if (ready === undefined || ready === 'timeout' || !('ready' in ready)) throw new Error(`the Kafka engine process did not start: ${describe(ready)}`);
  context.signal.throwIfAborted();
  context.log(`Kafka engine process ready (chDB ${ready.ready.version}); consuming ${prefilled.messages.toLocaleString('en-US')} messages`);

  const cpuBefore = cpuSeconds(engine.pid);
  const brokerCpuBefore = cpuSeconds(broker.pid);
  let peakRssMiB = 0;
  let side: Side | undefined;
  let result: EngineResult | undefined;
  let lastCount = -1;
  let lastChange = performance.now();
  let stopping = false;
  engine.send('go');
  while (result === undefined) {
    const report = await engine.next(stallMs);
    if (side === undefined) peakRssMiB = Math.max(peakRssMiB, residentMiB(engine.pid) ?? 0);
    if (report === undefined || report === 'timeout' || 'error' in report || 'ready' in report) {
      fail(describe(report));
      break;
    }
    if ('stored' in report) {
      context.progress('kafka engine', Math.min(report.stored, prefilled.messages), prefilled.messages);
      if (report.stored !== lastCount) {
        lastCount = report.stored;
        lastChange = performance.now();
      }
      const stalled = performance.now() - lastChange > stallMs;
      if (!stopping && (stalled || context.signal.aborted)) {
        stopping = true;
        if (stalled) fail(`stalled at ${report.stored} of ${prefilled.messages} messages for ${stallMs / 1000} s`);
        engine.send('stop');
      }
    } else if ('finished' in report) {
      context.progress('kafka engine', prefilled.messages, prefilled.messages);
      side = {
        seconds: report.finished.seconds,
        firstSeconds: report.finished.firstSeconds ?? undefined,
        peakRssMiB,
        cpuSeconds: cpuSeconds(engine.pid) - cpuBefore,
        brokerCpuSeconds: cpuSeconds(broker.pid) - brokerCpuBefore,
      };
    } else if ('result' in report) {
      result = report.result;
    }
  }
  await engine.end();
  context.signal.throwIfAborted();

  if (result !== undefined) {
    if (result.rows === 0) fail(`consumed nothing in chDB ${result.version} (${ready.ready.settingsSql}); its consumers: ${JSON.stringify(result.consumers)}`);
    const expect = (what: string, actual: number, expected: number): void => {
      if (actual !== expected) fail(`${what} is ${actual}, expected ${expected}`);
    };
    expect('SELECT count() FROM events (every message, copies included)', result.rows, prefilled.messages);
    expect('uniqExact(dataset_id, insert_id) of events', result.distinctIds, prefilled.distinct);
    expect('uniqExact(kafka_partition, kafka_offset) of events (each message once)', result.offsets, prefilled.messages);
    expect('SELECT count() FROM dedup_keys', result.dedupKeys, prefilled.distinct);
  }
  if (side === undefined && failures.length === 0) fail('did not finish');
  return { side, version: ready.ready.version, settingsSql: ready.ready.settingsSql, checks: { ...result }, failures };
}

async function run(context: ScenarioContext): Promise<ScenarioResult> {
  const events = context.options.events ?? 1_000_000;
  const partitions = context.options.partitions ?? 6;
  const keepPermille = context.options['keep-permille'] ?? 999;
  const engine: EngineSettings = {
    consumers: context.options['engine-consumers'] ?? 2,
    blockSize: context.options['engine-block-size'] ?? 65_536,
    flushIntervalMs: context.options['engine-flush-ms'] ?? 1_000,
  };
  if (keepPermille > 1000) throw new Error(`--keep-permille must be at most 1000, got ${keepPermille}`);

  const rate = keepPermille / 1000;
  const samplingJson = { datasets: Object.fromEntries(datasets.map((d) => [d, { default: rate }])) };
  const rules = parseSamplingRules(samplingJson, 'the bench sampling rules');
  const configDirectory = mkdtempSync(join(tmpdir(), 'sluice-bench-worker-config-'));
  context.onCleanup(() => rmSync(configDirectory, { recursive: true, force: true }));
  const samplingFile = join(configDirectory, 'sampling.json');
  writeFileSync(samplingFile, JSON.stringify(samplingJson, null, 2));

  const broker = await startBenchBroker(context);
  await broker.createTopic(topic, partitions);
  const prefilled = await prefill(context, broker, events, rules);
  // The first look-up of a group makes the broker create and load its offsets topic; done here, so
  // neither side's timing includes it (kafkajs retries until the coordinator has loaded).
  for (const group of [workerGroup, engineGroup]) {
    const lag = await retried(() => broker.bus.consumerLag(group, topic), 60_000);
    if (lag !== prefilled.messages) throw new Error(`consumer group ${group} already has offsets on ${topic} (lag ${lag} of ${prefilled.messages})`);
  }
  context.log(
    `prefilled ${topic}: ${prefilled.messages.toLocaleString('en-US')} messages (${prefilled.distinct.toLocaleString('en-US')} distinct events, ${prefilled.copies.toLocaleString('en-US')} copies), ` +
      `${(prefilled.bytes / 2 ** 20).toFixed(0)} MiB in ${prefilled.seconds.toFixed(1)} s (${Math.round(prefilled.messages / prefilled.seconds).toLocaleString('en-US')} messages/s); ` +
      `sampling at ${rate} keeps ${prefilled.kept.toLocaleString('en-US')}`,
  );

  const worker = await measureWorker(context, broker, partitions, prefilled, samplingFile);
  const workerRate = prefilled.messages / worker.side.seconds;
  const meanBatch = worker.meanBatchMessages;
  context.log(
    `worker: ${Math.round(workerRate).toLocaleString('en-US')} messages/s (${worker.side.seconds.toFixed(1)} s, first commit after ${worker.side.firstSeconds?.toFixed(1) ?? '-'} s), ${worker.side.cpuSeconds.toFixed(1)} CPU s, ` +
      `peak RSS ${worker.side.peakRssMiB.toFixed(0)} MiB, ${meanBatch === undefined ? '-' : Math.round(meanBatch).toLocaleString('en-US')} messages per batch`,
  );
  context.signal.throwIfAborted();

  const baseline = await measureEngine(context, broker, prefilled, engine);
  const engineSide = baseline.side;
  // Not a check (the engine commits after its insert, as the worker does): whether it had committed all it stored.
  const engineLagAfter = await broker.bus.consumerLag(engineGroup, topic);
  const engineRate = engineSide === undefined ? undefined : prefilled.messages / engineSide.seconds;
  context.log(
    `kafka engine (chDB ${baseline.version}): ` +
      (engineSide === undefined || engineRate === undefined
        ? 'did not finish'
        : `${Math.round(engineRate).toLocaleString('en-US')} messages/s (${engineSide.seconds.toFixed(1)} s, first rows after ${engineSide.firstSeconds?.toFixed(1) ?? '-'} s), ` +
          `${engineSide.cpuSeconds.toFixed(1)} CPU s, peak RSS ${engineSide.peakRssMiB.toFixed(0)} MiB`),
  );

  const failures = [...worker.failures, ...baseline.failures];
  const check = failures.length === 0 ? 'MATCH' : 'MISMATCH';
  const phase = `${(prefilled.distinct / 1e6).toLocaleString('en-US')}M events, ${partitions} partitions`;
  const engineNote = `engine: ${engine.consumers} consumers, blocks of ${engine.blockSize}, flush ${engine.flushIntervalMs} ms`;
  const measurements: Measurement[] = [
    {
      phase,
      name: 'Kafka → ClickHouse: messages consumed/s, sampling + dedup on',
      value: workerRate,
      unit: 'events/s',
      better: 'higher',
      baseline: engineRate === undefined ? null : { value: engineRate, what: 'ClickHouse Kafka engine (chDB), no dedup' },
      goal: { ratioAtLeast: 1 },
      check,
      note: `Kafka messages (${prefilled.copies} copies among them), start to all stored; worker start-up ${worker.startupSeconds.toFixed(1)} s excluded; ${engineNote}`,
    },
    {
      phase,
      name: 'peak resident memory while consuming',
      value: worker.side.peakRssMiB,
      unit: 'MiB',
      better: 'lower',
      baseline: engineSide === undefined ? null : { value: engineSide.peakRssMiB, what: 'the Kafka engine (chDB) process' },
      goal: null,
      check: null,
      note: `CPU seconds: worker ${worker.side.cpuSeconds.toFixed(1)}, engine ${engineSide?.cpuSeconds.toFixed(1) ?? '-'}`,
    },
  ];
  return {
    measurements,
    failures,
    details: {
      topic,
      partitions,
      sampling: { rate, file: samplingJson },
      prefill: prefilled,
      clickhouseVersion: baseline.version,
      worker: { ...worker.side, startupSeconds: worker.startupSeconds, messagesPerSecond: workerRate, storedRowsPerSecond: prefilled.kept / worker.side.seconds, checks: worker.checks },
      engine: { ...engineSide, settings: { ...engine, threadPerConsumer: engine.consumers > 1, sql: baseline.settingsSql }, messagesPerSecond: engineRate ?? null, lagAfter: engineLagAfter, checks: baseline.checks },
    },
  };
}

export const workerScenario: Scenario = {
  name: 'worker',
  description: 'messages/s the worker drains from a pre-filled topic into ClickHouse (sampling, dedup on), against ClickHouse\'s Kafka table engine in chDB',
  options: [
    { name: 'events', description: 'distinct events in the topic (every 50th is also sent twice)', default: 1_000_000, min: 1_000 },
    { name: 'partitions', description: 'partitions of the topic', default: 6, min: 1 },
    { name: 'keep-permille', description: 'the sampling rate of every dataset, in per mille (1000 keeps everything without sampling points)', default: 999, min: 1 },
    { name: 'engine-consumers', description: 'kafka_num_consumers of the engine (thread per consumer above 1)', default: 2, min: 1 },
    { name: 'engine-block-size', description: 'kafka_max_block_size and kafka_poll_max_batch_size of the engine', default: 65_536, min: 1 },
    { name: 'engine-flush-ms', description: 'kafka_flush_interval_ms of the engine', default: 1_000, min: 1 },
  ],
  run,
};
