/**
 * A three-node Kafka cluster, the events topic at replication factor 3 and min.insync.replicas 2,
 * and one node killed with SIGKILL while clients send through the gateway to the worker. Every
 * event the gateway acknowledged must be stored exactly once, with the killed node still down;
 * every request it refused must have been a 503 with Retry-After, which the clients obeyed.
 * The figures (how long the gateway refused, how long the lag took to drain) are printed, not asserted.
 * This file runs its own cluster, on ports no other test uses.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger, sleep } from '@sluice/core';
import { removeBrokerData, startLocalCluster, type LocalCluster } from '@sluice/dev';
import { testDataRoot } from '../helpers/test-broker';
import { lastSeen, startInProcessPipeline, type InProcessPipeline } from '../helpers/pipeline';

const nodes = [
  { port: 19410, controllerPort: 19413 },
  { port: 19411, controllerPort: 19414 },
  { port: 19412, controllerPort: 19415 },
];
const dataset = 'ds-cluster';
const senders = 3;
const eventsPerRequest = 10;
/** A client gives up on one request after this long of 503s; the test then shows that request as unexpected. */
const giveUpAfterMs = 60_000;

let cluster: LocalCluster;
let pipeline: InProcessPipeline;

beforeAll(async () => {
  const dataDirectory = join(testDataRoot, 'kafka-cluster');
  removeBrokerData(dataDirectory);
  cluster = await startLocalCluster({ dataDirectory, nodes, heapMegabytes: 384, logger: createLogger({ level: 'warn', bindings: { service: 'test-kafka-cluster' } }) });
  pipeline = await startInProcessPipeline({ brokers: cluster.brokers, partitions: 6, replicationFactor: 3 });
}, 180_000);

afterAll(async () => {
  await pipeline?.stop();
  await cluster?.stop();
});

interface Answer {
  status: number;
  retryAfter: string | null;
  at: number;
}

/** Sends one batch until it is acknowledged, obeying Retry-After as a real client does; every answer is kept. */
async function sendBatch(insertIds: string[], answers: Answer[]): Promise<boolean> {
  const body = JSON.stringify(insertIds.map((id) => ({ source: 'trieve', dataset_id: dataset, insert_id: id, event: { event_type: 'view', event_name: 'cluster', items: [id] } })));
  const giveUpAt = Date.now() + giveUpAfterMs;
  for (;;) {
    const response = await fetch(`${pipeline.gatewayUrl}/v1/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${pipeline.apiKey}` },
      body,
    });
    await response.arrayBuffer();
    const retryAfter = response.headers.get('retry-after');
    answers.push({ status: response.status, retryAfter, at: Date.now() });
    if (response.status === 200) return true;
    if (response.status !== 503 || retryAfter === null || Date.now() >= giveUpAt) return false;
    await sleep(Number(retryAfter) * 1000);
  }
}

async function storedCopies(): Promise<Map<string, number>> {
  const rows = await pipeline.clickhouse.queryRows<{ insert_id: string; copies: number }>(
    `SELECT insert_id, toUInt32(count()) AS copies FROM events WHERE dataset_id = '${dataset}' GROUP BY insert_id`,
  );
  return new Map(rows.map((row) => [row.insert_id, Number(row.copies)]));
}

test('with one of three brokers killed under load, every acknowledged event is stored exactly once and every refusal is a 503 with Retry-After', async () => {
  const answers: Answer[] = [];
  const acknowledged: string[] = [];
  const abandoned: string[] = [];
  let sending = true;
  let sequence = 0;
  let resent = 0;
  const sender = async (): Promise<void> => {
    for (let batch = 1; sending; batch++) {
      const ids = Array.from({ length: eventsPerRequest }, () => `cluster-${sequence++}`);
      if (!(await sendBatch(ids, answers))) {
        abandoned.push(...ids);
        continue;
      }
      acknowledged.push(...ids);
      // Now and then a client whose answer was lost sends the same batch again: one copy must be stored.
      if (batch % 5 === 0 && (await sendBatch(ids, answers))) resent += ids.length;
    }
  };
  const running = Array.from({ length: senders }, sender);
  // -1: the lag could not be read (a partition without a leader), shown rather than thrown.
  const readLag = (): Promise<number> => pipeline.bus.consumerLag(pipeline.groupId, pipeline.topic).catch(() => -1);

  await sleep(5_000);
  const victim = cluster.nodes[0];
  if (!victim) throw new Error('the cluster has no nodes');
  const killedAt = Date.now();
  await victim.kill();
  // The worker's recovery: how long until everything acknowledged before the kill is stored, and the lag meanwhile.
  const backlog = [...acknowledged];
  const lagSamples: number[] = [];
  let backlogStoredAt: number | undefined;
  const watching = (async () => {
    while (sending) {
      lagSamples.push(await readLag());
      if (backlogStoredAt === undefined) {
        const seen = await storedCopies();
        if (backlog.every((id) => seen.has(id))) backlogStoredAt = Date.now();
      }
      await sleep(500);
    }
  })();
  await sleep(20_000);
  sending = false;
  await Promise.all(running);
  await watching;
  const sendersStoppedAt = Date.now();

  // With the killed node still down: the two in-sync replicas left hold everything acknowledged.
  const copies = await lastSeen(storedCopies, (seen) => acknowledged.every((id) => seen.has(id)), 60_000);
  const allStoredAt = Date.now();
  const lag = await lastSeen(readLag, (value) => value === 0, 30_000);

  const refusals = answers.filter((a) => a.status !== 200);
  const figures = {
    requests: answers.length,
    acknowledgedEvents: acknowledged.length,
    resentEvents: resent,
    acknowledgedAfterKill: answers.filter((a) => a.status === 200 && a.at > killedAt).length,
    refusals: refusals.length,
    firstRefusalAfterKillMs: refusals[0] ? refusals[0].at - killedAt : null,
    refusingWindowMs: refusals.length > 0 ? (refusals.at(-1)?.at ?? 0) - (refusals[0]?.at ?? 0) : 0,
    killToBacklogStoredMs: backlogStoredAt === undefined ? null : backlogStoredAt - killedAt,
    largestLagAfterKill: Math.max(...lagSamples),
    killToAllStoredMs: allStoredAt - killedAt,
    sendersStoppedToAllStoredMs: allStoredAt - sendersStoppedAt,
    lagAfterDrain: lag,
  };
  console.log(`kafka-cluster figures: ${JSON.stringify(figures)}`);
  mkdirSync(join(testDataRoot, 'figures'), { recursive: true });
  writeFileSync(join(testDataRoot, 'figures', 'kafka-cluster.json'), JSON.stringify(figures, null, 2));

  expect(abandoned).toEqual([]);
  expect(refusals.filter((a) => a.status !== 503 || a.retryAfter === null)).toEqual([]);
  expect(acknowledged.filter((id) => copies.get(id) !== 1).map((id) => [id, copies.get(id) ?? 0])).toEqual([]);
  expect([...copies].filter(([, count]) => count !== 1)).toEqual([]);
  expect(lag).toBe(0);
  // The test must have run under load through the kill, not before or after it.
  expect(figures.acknowledgedAfterKill).toBeGreaterThan(0);

  // The killed node comes back on its data and rejoins; the pipeline carries on with it.
  await victim.restart();
  const after = ['cluster-after-restart-0', 'cluster-after-restart-1'];
  expect(await sendBatch(after, answers)).toBe(true);
  const finalCopies = await lastSeen(storedCopies, (seen) => after.every((id) => seen.has(id)), 60_000);
  expect(after.map((id) => finalCopies.get(id))).toEqual([1, 1]);
}, 300_000);
