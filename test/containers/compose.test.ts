/**
 * docker-compose.yml in real containers, brought up by testcontainers with
 * docker-compose.local-images.yml laid over it (local images; the ClickHouse stand-in is the
 * project's chDB HTTP front, not a ClickHouse server). Events go in through the published gateway
 * port in every dialect and are read back through the published ClickHouse port as an analyst.
 * Then each container is restarted (the events are kept, its healthcheck turns healthy again and
 * the pipeline goes on), and the gateway and the worker are stopped as `docker stop` does it:
 * the gateway drains the requests in flight, every acknowledged event is stored, both exit 0.
 */
import { randomUUID } from 'node:crypto';
import { docker, projectImageNames } from '@sluice/dev';
import { devOnlyDependencies } from '../helpers/dev-dependencies';
import { fetchRetrying, type RepeatableRequest } from '../helpers/http';
import { waitFor } from '../helpers/pipeline';
import { composeStack, containerImageTag, containerState, recordFigures, untilHealthy, type ComposeStack } from './containers';

// Restarts wait for healthchecks (10 s apart): minutes, not seconds, on a busy machine.
jest.setTimeout(300_000);

const services = ['kafka', 'clickhouse', 'worker', 'gateway'] as const;
let stack: ComposeStack;
const figures: Record<string, unknown> = {};

beforeAll(async () => {
  stack = await composeStack({ name: 'compose', files: ['docker-compose.yml', 'docker-compose.local-images.yml'], services });
  figures.upMs = await stack.up();
}, 600_000);

afterAll(async () => {
  recordFigures('compose', figures);
  await stack.down({ removeVolumes: true });
});

const gateway = (path: string): string => stack.gatewayUrl(path);
const query = <T>(sql: string): Promise<T[]> => stack.query<T>(sql);
const json = (headers: Record<string, string>, body: unknown): RepeatableRequest => ({ headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

/** One request per door, each in its dialect's own shape and with its answer, all for `dataset`. */
function doorRequests(dataset: string): { door: string; url: string; init: RepeatableRequest; status: number }[] {
  const bearer = { authorization: `Bearer ${stack.apiKey}` };
  const id = randomUUID();
  return [
    { door: 'trieve events', url: gateway('/api/analytics/events'), init: { method: 'PUT', ...json({ ...bearer, 'tr-dataset': dataset }, { event_type: 'view', event_name: 'pdp', items: ['sku-1'] }) }, status: 204 },
    { door: 'trieve ctr', url: gateway('/api/analytics/ctr'), init: { method: 'PUT', ...json({ ...bearer, 'tr-dataset': dataset }, { request_id: id, ctr_type: 'search', position: 2, clicked_chunk_tracking_id: 'sku-1' }) }, status: 204 },
    {
      door: 'neuralens',
      url: gateway('/analytics/event'),
      init: { method: 'POST', ...json({ 'x-neuralens-api-key': `Bearer ${stack.apiKey}`, 'x-neuralens-application-id': dataset }, { uid: '3845', items: [{ id: 'AV768' }], page: 'PRODUCT_PAGE', event: 'SHARE', timestamp: 1715644800 }) },
      status: 200,
    },
    {
      door: 'greenflash',
      url: gateway('/api/v1/events'),
      init: { method: 'POST', ...json(bearer, { eventType: 'trial_started', productId: dataset, value: '49.00', valueType: 'currency', influence: 'positive' }) },
      status: 200,
    },
    {
      door: 'batch',
      url: gateway('/v1/batch'),
      init: {
        method: 'POST',
        headers: { ...bearer, 'content-type': 'application/x-ndjson' },
        body: [
          { source: 'trieve', dataset_id: dataset, insert_id: `batch-${id}`, event: { event_type: 'add_to_cart', event_name: 'cart', items: ['sku-2'] } },
          { source: 'neuralens', dataset_id: dataset, event: { items: [{ id: 'AV769' }], page: 'PRODUCT_PAGE', event: 'SHARE', timestamp: 1715644800 } },
        ]
          .map((line) => JSON.stringify(line))
          .join('\n'),
      },
      status: 200,
    },
  ];
}

/** Rows per source that doorRequests(dataset) stores. */
const storedByDoors = { greenflash: 1, neuralens: 2, trieve: 2, trieve_ctr: 1 };

/** Sends one request per door and returns each door's status. */
async function sendThroughEveryDoor(dataset: string): Promise<Record<string, number>> {
  const statuses: Record<string, number> = {};
  for (const request of doorRequests(dataset)) statuses[request.door] = (await fetchRetrying(request.url, request.init, 120_000)).status;
  return statuses;
}

const expectedStatuses = (): Record<string, number> => Object.fromEntries(doorRequests('x').map((r) => [r.door, r.status]));

/** Rows per source stored for the datasets (Greenflash's dataset is its productId, Neuralens' its application id). */
async function storedPerSource(dataset: string): Promise<Record<string, number>> {
  const rows = await query<{ source: string; n: string }>(`SELECT source, count() AS n FROM events WHERE dataset_id = '${dataset}' GROUP BY source ORDER BY source`);
  return Object.fromEntries(rows.map((row) => [row.source, Number(row.n)]));
}

async function untilStored(dataset: string, expected: Record<string, number>, what: string): Promise<void> {
  await waitFor(async () => (JSON.stringify(await storedPerSource(dataset).catch(() => ({}))) === JSON.stringify(expected) ? true : undefined), what, 180_000);
  expect(await storedPerSource(dataset)).toEqual(expected);
}

test('an event in every dialect, sent to the published gateway port, is stored once and read back through the published ClickHouse port', async () => {
  expect(await sendThroughEveryDoor('ds-compose')).toEqual(expectedStatuses());
  await untilStored('ds-compose', storedByDoors, 'every door\'s events in ClickHouse');
});

test('the images run as a non-root user, with no dev dependency (tsx, TypeScript, ...) and no TypeScript source; the gateway without chDB', async () => {
  const devDependencies = devOnlyDependencies();
  expect(devDependencies).toEqual(expect.arrayContaining(['tsx', 'typescript', 'jest']));
  const sizes: Record<string, number> = {};
  for (const target of ['gateway', 'worker'] as const) {
    const image = `${projectImageNames[target]}:${containerImageTag}`;
    expect(JSON.parse(await docker(['image', 'inspect', '--format', '{{json .Config.User}}', image]))).toBe('10001:10001');
    const present = await docker(['run', '--rm', image, 'node', '-e', 'console.log(JSON.stringify(process.argv.slice(1).filter((name) => require("node:fs").existsSync(`/app/node_modules/${name}`))))', ...devDependencies, 'chdb']);
    expect([target, JSON.parse(present)]).toEqual([target, target === 'worker' ? ['chdb'] : []]);
    // Our code only (some dependencies ship their TypeScript beside their JavaScript).
    expect([target, await docker(['run', '--rm', image, 'find', '/app', '-name', 'node_modules', '-prune', '-o', '-name', '*.ts', '!', '-name', '*.d.ts', '-print'])]).toEqual([target, '']);
    sizes[target] = Number((await docker(['image', 'inspect', '--format', '{{.Size}}', image])).trim());
  }
  figures.imageBytes = sizes;
});

test.each(services)('restarting %s: it turns healthy again, the events are kept, and new events are stored', async (service) => {
  const before = await storedPerSource('ds-compose');
  const id = stack.containerId(service);
  const started = Date.now();
  await docker(['restart', '--time', '30', id]);
  await untilHealthy(id, service);
  const restartFigures = (figures.restartToHealthyMs ??= {}) as Record<string, number>;
  restartFigures[service] = Date.now() - started;
  // The others' healthchecks see it back too before anything is sent.
  for (const other of services) await untilHealthy(stack.containerId(other), other);
  expect(await storedPerSource('ds-compose')).toEqual(before);
  const dataset = `ds-after-${service}`;
  expect(await sendThroughEveryDoor(dataset)).toEqual(expectedStatuses());
  await untilStored(dataset, storedByDoors, `events sent after restarting ${service}`);
});

test('docker stop drains the gateway: every acknowledged request in flight is stored, and it exits 0', async () => {
  const id = stack.containerId('gateway');
  const dataset = 'ds-drain';
  const outcomes: { insertId: string; status: number }[] = [];
  let stopped = false;
  // 16 clients sending one request after another until the gateway is gone: some are in flight when it is told to stop.
  const clients = Array.from({ length: 16 }, async (_v, client) => {
    for (let n = 0; !stopped; n++) {
      const insertId = `drain-${client}-${n}`;
      const status = await fetch(gateway('/api/analytics/events'), {
        method: 'PUT',
        headers: { authorization: `Bearer ${stack.apiKey}`, 'tr-dataset': dataset, 'content-type': 'application/json', 'idempotency-key': insertId },
        body: JSON.stringify({ event_type: 'view', event_name: 'drain', items: [insertId] }),
      }).then(
        (response) => response.status,
        () => 0,
      );
      outcomes.push({ insertId, status });
      if (status !== 204) return;
    }
  });
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const stopping = Date.now();
  await docker(['stop', '--time', '30', id]);
  figures.gatewayStopMs = Date.now() - stopping;
  stopped = true;
  await Promise.all(clients);
  expect((await containerState(id)).exitCode).toBe(0);
  const acknowledged = outcomes.filter((o) => o.status === 204).map((o) => o.insertId);
  // Refused or cut off before an answer is allowed (a client sends those again); a 204 is a promise.
  expect(outcomes.filter((o) => ![204, 503, 0].includes(o.status))).toEqual([]);
  expect(acknowledged.length).toBeGreaterThan(0);
  figures.drain = { acknowledged: acknowledged.length, refused503: outcomes.filter((o) => o.status === 503).length, connectionClosed: outcomes.filter((o) => o.status === 0).length };
  const stored = await waitFor(async () => {
    const rows = await query<{ insert_id: string }>(`SELECT DISTINCT insert_id FROM events WHERE dataset_id = '${dataset}'`);
    const ids = new Set(rows.map((row) => row.insert_id));
    return acknowledged.every((ackId) => ids.has(ackId)) ? ids : undefined;
  }, 'every acknowledged request in ClickHouse', 120_000);
  expect(acknowledged.filter((ackId) => !stored.has(ackId))).toEqual([]);
  await docker(['start', id]);
  await untilHealthy(id, 'gateway');
});

test('docker stop stops the worker cleanly (exit 0); what arrives meanwhile is stored once it is back', async () => {
  const id = stack.containerId('worker');
  const stopping = Date.now();
  await docker(['stop', '--time', '30', id]);
  figures.workerStopMs = Date.now() - stopping;
  expect((await containerState(id)).exitCode).toBe(0);
  expect(await sendThroughEveryDoor('ds-while-worker-stopped')).toEqual(expectedStatuses());
  await docker(['start', id]);
  await untilHealthy(id, 'worker');
  await untilStored('ds-while-worker-stopped', storedByDoors, 'the events sent while the worker was stopped');
});

test('docker compose down and up again (containers recreated, volumes kept): every event is still there, and the pipeline goes on', async () => {
  const before = await storedPerSource('ds-compose');
  expect(before).toEqual(storedByDoors);
  await stack.down({ removeVolumes: false });
  figures.recreateUpMs = await stack.up();
  expect(await storedPerSource('ds-compose')).toEqual(before);
  expect(await sendThroughEveryDoor('ds-after-recreate')).toEqual(expectedStatuses());
  await untilStored('ds-after-recreate', storedByDoors, 'events sent after the stack was recreated');
});
