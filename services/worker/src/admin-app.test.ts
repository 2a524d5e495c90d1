import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { silentLogger } from '@sluice/core';
import { createAdminApp, type AdminDeps } from './admin-app';
import { createBatchHandler } from './batch-handler';
import { createWorkerMetrics } from './metrics';
import { createPartitionProgress, type StalledPartition } from './partition-progress';

let server: Server | undefined;

async function start(overrides: Partial<AdminDeps> = {}): Promise<string> {
  const deps: AdminDeps = {
    clickhouse: { ping: async () => true, readOnlyQuery: async () => '{"n":1}\n' },
    consumerFailure: () => undefined,
    stalledPartitions: () => [],
    metrics: createWorkerMetrics().registry,
    logger: silentLogger,
    ...overrides,
  };
  server = createServer(createAdminApp(deps));
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

test('healthy while it consumes and ClickHouse answers', async () => {
  const response = await fetch(`${await start()}/healthz`);
  expect([response.status, await response.json()]).toEqual([200, { status: 'ok' }]);
});

test('unhealthy once the consumer stopped for good, so a supervisor restarts the worker', async () => {
  const response = await fetch(`${await start({ consumerFailure: () => 'The group is rebalancing' })}/healthz`);
  expect([response.status, await response.json()]).toEqual([503, { status: 'not consuming', reason: 'The group is rebalancing' }]);
});

test('unhealthy while ClickHouse does not answer', async () => {
  const response = await fetch(`${await start({ clickhouse: { ping: async () => false, readOnlyQuery: async () => '' } })}/healthz`);
  expect([response.status, await response.json()]).toEqual([503, { status: 'clickhouse unavailable' }]);
});

describe('a stalled partition', () => {
  const stalled: StalledPartition = { topic: 'events', partition: 5, committed_offset: '1234', lag: 17, stalled_seconds: 75, last_error: 'ClickHouse refused the block' };

  test('makes the worker unhealthy, naming the partition, its offset and the last error', async () => {
    const response = await fetch(`${await start({ stalledPartitions: () => [stalled] })}/healthz`);
    expect([response.status, await response.json()]).toEqual([503, { status: 'stalled', partitions: [stalled] }]);
  });

  test('is named even while ClickHouse does not answer, with that as the likely cause', async () => {
    const response = await fetch(`${await start({ stalledPartitions: () => [stalled], clickhouse: { ping: async () => false, readOnlyQuery: async () => '' } })}/healthz`);
    expect([response.status, await response.json()]).toEqual([503, { status: 'stalled', partitions: [stalled], clickhouse: 'unavailable' }]);
  });

  test('comes after a consumer that stopped for good, which no partition can recover from', async () => {
    const response = await fetch(`${await start({ stalledPartitions: () => [stalled], consumerFailure: () => 'The group is rebalancing' })}/healthz`);
    expect([response.status, await response.json()]).toEqual([503, { status: 'not consuming', reason: 'The group is rebalancing' }]);
  });

  test('shows as sluice_worker_partition_stalled 1, back to 0 once its offset moves, and gone once revoked', async () => {
    let clock = 0;
    const progress = createPartitionProgress({ stallMs: 3_000, now: () => clock });
    const metrics = createWorkerMetrics(() => progress.partitions());
    const url = await start({ metrics: metrics.registry, stalledPartitions: () => progress.stalled() });
    const scrape = async (): Promise<string[]> => (await (await fetch(`${url}/metrics`)).text()).split('\n').filter((line) => line.startsWith('sluice_worker_partition_stalled{'));
    progress.record({ kind: 'assigned', partitions: [4, 5].map((partition) => ({ topic: 'events', partition })) });
    progress.record({ kind: 'fetched', topic: 'events', partition: 5, firstOffset: '1234', highWatermark: '1251' });
    clock += 3_000;
    expect(await scrape()).toEqual(['sluice_worker_partition_stalled{topic="events",partition="4"} 0', 'sluice_worker_partition_stalled{topic="events",partition="5"} 1']);
    expect((await fetch(`${url}/healthz`)).status).toBe(503);
    progress.record({ kind: 'committed', topic: 'events', partition: 5, offset: '1251' });
    expect(await scrape()).toEqual(['sluice_worker_partition_stalled{topic="events",partition="4"} 0', 'sluice_worker_partition_stalled{topic="events",partition="5"} 0']);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    progress.record({ kind: 'assigned', partitions: [{ topic: 'events', partition: 4 }] });
    expect(await scrape()).toEqual(['sluice_worker_partition_stalled{topic="events",partition="4"} 0']);
  });
});

test('POST /sql answers JSONEachRow, and names what is wrong otherwise', async () => {
  const url = await start({
    clickhouse: {
      ping: async () => true,
      readOnlyQuery: async (sql) => {
        if (sql.startsWith('DROP')) throw new Error('Cannot execute query in readonly mode');
        if (sql.startsWith('SLOW')) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
        return '{"n":1}\n';
      },
    },
  });
  const ok = await fetch(`${url}/sql`, { method: 'POST', body: 'SELECT 1' });
  expect([ok.status, ok.headers.get('content-type'), await ok.text()]).toEqual([200, 'application/x-ndjson; charset=utf-8', '{"n":1}\n']);
  const refused = await fetch(`${url}/sql`, { method: 'POST', body: 'DROP TABLE events' });
  expect([refused.status, await refused.json()]).toEqual([400, { code: 'SQL_REJECTED', message: 'Cannot execute query in readonly mode' }]);
  const unavailable = await fetch(`${url}/sql`, { method: 'POST', body: 'SLOW' });
  expect([unavailable.status, unavailable.headers.get('retry-after')]).toEqual([503, '1']);
  const empty = await fetch(`${url}/sql`, { method: 'POST', body: '' });
  expect([empty.status, await empty.json()]).toEqual([400, { code: 'SQL_EMPTY', message: 'Send the SQL query as the request body' }]);
});

test('GET /metrics counts outcomes per step, as the batch handler reports them', async () => {
  const metrics = createWorkerMetrics();
  const { handle } = createBatchHandler({
    storedKeys: { storedAmong: async () => new Set() },
    deadLetters: { store: async () => undefined },
    blocks: { lastOffsetOf: async () => undefined, record: async () => undefined },
    clickhouse: { insertBlock: async () => undefined },
    metrics,
    logger: silentLogger,
  });
  const message = (value: string, offset: string) => ({ topic: 't', partition: 0, offset, key: null, value: Buffer.from(value), headers: {}, timestamp: 0 });
  await handle({ topic: 't', partition: 0, messages: [message('{nope', '1'), message('[]', '2')], heartbeat: async () => undefined, isStale: () => false });
  const response = await fetch(`${await start({ metrics: metrics.registry })}/metrics`);
  const text = await response.text();
  expect(response.status).toBe(200);
  expect(text).toContain('sluice_worker_step_outcomes_total{step="parse",outcome="dlq"} 1');
  expect(text).toContain('sluice_worker_step_outcomes_total{step="parse",outcome="ok"} 1');
  expect(text).toContain('sluice_worker_step_outcomes_total{step="validate",outcome="dlq"} 1');
  expect(text).toContain('sluice_worker_dead_letters_total{step="parse"} 1');
  expect(text).toContain('sluice_worker_batch_messages_count 1');
});

describe('POST /replay', () => {
  const summary = { examined: 2, published: 1, stillRejected: [], dryRun: false };

  test('passes the checked request to the replayer and answers its summary', async () => {
    const replay = jest.fn(async () => summary);
    const url = await start({ replay });
    const response = await fetch(`${url}/replay`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ dataset_id: 'ds', since: '2024-05-14T00:00:00Z', limit: 5, dry_run: true }),
    });
    expect([response.status, await response.json()]).toEqual([200, summary]);
    expect(replay).toHaveBeenCalledWith({ dataset_id: 'ds', since: '2024-05-14T00:00:00Z', limit: 5, dry_run: true });
  });

  test.each([
    [{ datasets: 'ds' }, 'Unknown field "datasets" in the replay request; known fields: dataset_id, since, limit, dry_run', '/datasets'],
    [{ since: 'yesterday' }, 'since must be an ISO 8601 date-time, got "yesterday"', '/since'],
    [{ limit: 0 }, 'limit must be a positive integer, got 0', '/limit'],
    [{ dry_run: 'yes' }, 'dry_run must be true or false, got "yes"', '/dry_run'],
    [{ dataset_id: '' }, 'dataset_id must be a non-empty string, got ""', '/dataset_id'],
  ])('%j gets 400 INVALID_REQUEST naming the field', async (body, message, field) => {
    const replay = jest.fn(async () => summary);
    const response = await fetch(`${await start({ replay })}/replay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect([response.status, await response.json()]).toEqual([400, { code: 'INVALID_REQUEST', message, field }]);
    expect(replay).not.toHaveBeenCalled();
  });

  test('a body that is not JSON gets 400 INVALID_JSON; an array gets INVALID_REQUEST', async () => {
    const url = await start({ replay: async () => summary });
    const broken = await fetch(`${url}/replay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"limit":' });
    expect([broken.status, ((await broken.json()) as { code: string }).code]).toEqual([400, 'INVALID_JSON']);
    const array = await fetch(`${url}/replay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[]' });
    expect([array.status, await array.json()]).toEqual([400, { code: 'INVALID_REQUEST', message: 'The replay request must be a JSON object' }]);
  });
});
