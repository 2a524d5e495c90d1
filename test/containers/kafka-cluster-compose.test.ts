/**
 * The three-broker compose file for users (docker-compose.kafka-cluster.yml) in real containers:
 * three KRaft nodes, the events topic at replication factor 3 and min.insync.replicas 2. One
 * broker's container is killed (SIGKILL) while batches go in; every event the gateway acknowledged
 * is stored exactly once, and every refusal is a 503 with Retry-After, which the senders honour.
 */
import { randomUUID } from 'node:crypto';
import { sleep } from '@sluice/core';
import { docker, localImageTag } from '@sluice/dev';
import { waitFor } from '../helpers/pipeline';
import { composeStack, recordFigures, untilHealthy, type ComposeStack } from './containers';

jest.setTimeout(300_000);

const services = ['kafka', 'kafka-2', 'kafka-3', 'clickhouse', 'worker', 'gateway'] as const;
const dataset = 'ds-cluster';
let stack: ComposeStack;
const figures: Record<string, unknown> = {};

beforeAll(async () => {
  stack = await composeStack({
    name: 'kafka-cluster',
    files: ['docker-compose.yml', 'docker-compose.kafka-cluster.yml', 'docker-compose.local-images.yml'],
    services,
    environment: { KAFKA_IMAGE: localImageTag('kafka') },
  });
  figures.upMs = await stack.up();
}, 600_000);

afterAll(async () => {
  recordFigures('kafka-cluster-compose', figures);
  await stack.down({ removeVolumes: true });
});

interface SenderReport {
  acknowledged: string[];
  refusals: { status: number; retryAfter: string | null }[];
  /** Batches still refused a minute after their first 503, when a client gives up. */
  abandoned: number;
}

const giveUpAfterMs = 60_000;

/** Batches of 50 Trieve views, each sent again after a 503 (same insert_ids, as a client does), until `isStopped()`. */
async function sendBatches(sender: number, isStopped: () => boolean): Promise<SenderReport> {
  const report: SenderReport = { acknowledged: [], refusals: [], abandoned: 0 };
  for (let batch = 0; !isStopped(); batch++) {
    const ids = Array.from({ length: 50 }, (_v, i) => `s${sender}-b${batch}-e${i}-${randomUUID().slice(0, 8)}`);
    const body = ids.map((id) => JSON.stringify({ source: 'trieve', dataset_id: dataset, insert_id: id, event: { event_type: 'view', event_name: 'cluster', items: [id] } })).join('\n');
    const giveUpAt = Date.now() + giveUpAfterMs;
    for (;;) {
      const response = await fetch(stack.gatewayUrl('/v1/batch'), {
        method: 'POST',
        headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/x-ndjson' },
        body,
      });
      await response.arrayBuffer();
      if (response.status === 200) {
        report.acknowledged.push(...ids);
        break;
      }
      const retryAfter = response.headers.get('retry-after');
      report.refusals.push({ status: response.status, retryAfter });
      if (response.status !== 503 || retryAfter === null) break;
      if (Date.now() > giveUpAt) {
        report.abandoned++;
        break;
      }
      await sleep(Number(retryAfter) * 1000);
    }
  }
  return report;
}

test('one of three brokers killed under load: every acknowledged event is stored exactly once, every refusal a 503 with Retry-After', async () => {
  let stopped = false;
  const senders = [0, 1, 2].map((sender) => sendBatches(sender, () => stopped));
  await sleep(5_000);
  const victim = stack.containerId('kafka-2');
  const killedAt = Date.now();
  await docker(['kill', '--signal', 'KILL', victim]);
  await sleep(20_000);
  stopped = true;
  const reports = await Promise.all(senders);
  const acknowledged = reports.flatMap((r) => r.acknowledged);
  const refusals = reports.flatMap((r) => r.refusals);
  figures.afterKillMs = Date.now() - killedAt;
  figures.acknowledgedEvents = acknowledged.length;
  figures.refusals = refusals.length;
  expect(acknowledged.length).toBeGreaterThan(0);
  expect(refusals.filter((r) => r.status !== 503 || r.retryAfter === null)).toEqual([]);
  // Two brokers of three still hold every partition's in-sync replicas: the refusals end.
  expect(reports.map((r) => r.abandoned)).toEqual([0, 0, 0]);

  const rows = await waitFor(async () => {
    const counted = await stack.query<{ stored: string; distinct_ids: string }>(`SELECT count() AS stored, uniqExact(insert_id) AS distinct_ids FROM events WHERE dataset_id = '${dataset}'`);
    const row = counted[0];
    return row !== undefined && Number(row.distinct_ids) >= acknowledged.length ? row : undefined;
  }, 'every acknowledged event in ClickHouse', 180_000);
  figures.killToAllStoredMs = Date.now() - killedAt;
  // Exactly once: as many rows as distinct ids, and every acknowledged id among them.
  expect(Number(rows.stored)).toBe(Number(rows.distinct_ids));
  const storedIds = new Set((await stack.query<{ insert_id: string }>(`SELECT insert_id FROM events WHERE dataset_id = '${dataset}'`)).map((r) => r.insert_id));
  expect(acknowledged.filter((id) => !storedIds.has(id))).toEqual([]);

  await docker(['start', victim]);
  figures.restartToHealthyMs = await untilHealthy(victim, 'kafka-2');
});
