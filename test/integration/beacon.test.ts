/**
 * POST /v1/beacon end to end: beacons sent as Chromium sends them (text/plain, an Origin) go
 * through the gateway, real Kafka and the worker into ClickHouse, with keys from a real key file.
 * Refused beacons are checked against the store: nothing of them lands. (A Kafka that does not
 * acknowledge is tested in services/gateway/src/ingest/beacon.test.ts, as for the other doors.)
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashKey, openKeyFile } from '@sluice/tenancy';
import { fetchRetrying } from '../helpers/http';
import { removeTestDirectory, startInProcessPipeline, testLogger, waitFor, type InProcessPipeline } from '../helpers/pipeline';

const publishableKey = `pk_0a1b2c3d4e5f_${'p'.repeat(43)}`;
const secretKey = `sk_5f4e3d2c1b0a_${'s'.repeat(43)}`;
const shop = 'https://shop.example';

let directory: string;
let pipeline: InProcessPipeline;

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'sluice-beacon-'));
  const createdAt = new Date().toISOString();
  const keys = [
    { id: '0a1b2c3d4e5f', name: 'shop web', kind: 'publishable', sha256: hashKey(publishableKey), datasets: { trieve: ['shop'], neuralens: ['shop-app'] }, origins: [shop], created_at: createdAt },
    // A secret key that may be used from the shop's pages too: still never in a beacon.
    { id: '5f4e3d2c1b0a', name: 'shop server', sha256: hashKey(secretKey), datasets: { trieve: ['shop'] }, origins: [shop], created_at: createdAt },
  ];
  const file = join(directory, 'keys.json');
  writeFileSync(file, JSON.stringify({ version: 1, keys }), { mode: 0o600 });
  // One partition: once a later event is stored, every event published before it has been consumed.
  pipeline = await startInProcessPipeline({ keyStore: openKeyFile(file, { logger: testLogger }), partitions: 1 });
});

afterAll(async () => {
  await pipeline.stop();
  removeTestDirectory(directory);
});

/** A beacon as `navigator.sendBeacon(url, JSON.stringify(body))` sends it from a page of `origin` (null: from a server, no Origin); 503 and 429 are retried. */
async function beacon(query: string, body: unknown, origin: string | null = shop): Promise<{ status: number; body: unknown }> {
  const headers: Record<string, string> = { 'content-type': 'text/plain;charset=UTF-8', ...(origin === null ? {} : { origin }) };
  const response = await fetchRetrying(`${pipeline.gatewayUrl}/v1/beacon${query}`, { method: 'POST', headers, body: JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

const view = (insertId: string): object => ({ source: 'trieve', insert_id: insertId, event: { event_type: 'view', event_name: 'pdp', items: ['sku-1'] } });

async function storedRows(insertIds: readonly string[]): Promise<{ insert_id: string; dataset_id: string; source: string }[]> {
  return pipeline.clickhouse.queryRows<{ insert_id: string; dataset_id: string; source: string }>(
    'SELECT insert_id, dataset_id, source FROM events WHERE insert_id IN {ids:Array(String)} ORDER BY insert_id',
    { ids: insertIds },
  );
}

/** Waits until every one of `insertIds` is stored, and returns the rows. */
async function stored(insertIds: readonly string[]): Promise<{ insert_id: string; dataset_id: string; source: string }[]> {
  return waitFor(async () => {
    const rows = await storedRows(insertIds);
    return rows.length >= insertIds.length ? rows : undefined;
  }, `events ${insertIds.join(', ')} in ClickHouse`);
}

test('one event, the key and the dataset in the query string: 204, then stored', async () => {
  const answer = await beacon(`?key=${publishableKey}&dataset_id=shop`, view('one-1'));
  expect(answer).toEqual({ status: 204, body: undefined });
  expect(await stored(['one-1'])).toEqual([{ insert_id: 'one-1', dataset_id: 'shop', source: 'trieve' }]);
});

test('a batch, the key and the dataset in the body: 204, then every event stored', async () => {
  const answer = await beacon('', {
    key: publishableKey,
    dataset_id: 'shop',
    events: [view('batch-1'), { source: 'neuralens', dataset_id: 'shop-app', insert_id: 'batch-2', event: { items: [{ id: 'AV768' }], page: 'PRODUCT_PAGE', event: 'SHARE', timestamp: 1715644800 } }],
  });
  expect(answer).toEqual({ status: 204, body: undefined });
  expect(await stored(['batch-1', 'batch-2'])).toEqual([
    { insert_id: 'batch-1', dataset_id: 'shop', source: 'trieve' },
    { insert_id: 'batch-2', dataset_id: 'shop-app', source: 'neuralens' },
  ]);
});

test("an invalid event gets the batch door's per-event report, and only the valid one is stored", async () => {
  const answer = await beacon(`?key=${publishableKey}&dataset_id=shop`, { events: [view('mixed-ok'), { source: 'trieve', insert_id: 'mixed-bad', event: { event_type: 'view' } }] });
  expect(answer).toEqual({
    status: 207,
    body: {
      accepted: 1,
      duplicates: 0,
      rejected: 1,
      results: [
        { index: 0, status: 'accepted', event_id: expect.any(String) as unknown, insert_id: 'mixed-ok' },
        { index: 1, status: 'invalid', errors: expect.arrayContaining([expect.objectContaining({ path: expect.stringMatching(/^\/1\/event/) as unknown })]) as unknown },
      ],
    },
  });
  await stored(['mixed-ok']);
  expect(await storedRows(['mixed-bad'])).toEqual([]);
});

test('a secret key, a foreign Origin and no Origin are each refused with 403, and nothing of them is stored', async () => {
  const refusals = [
    await beacon(`?key=${secretKey}&dataset_id=shop`, view('refused-secret')),
    await beacon(`?key=${publishableKey}&dataset_id=shop`, view('refused-foreign'), 'https://evil.example'),
    await beacon(`?key=${publishableKey}&dataset_id=shop`, view('refused-server'), null),
  ];
  expect(refusals.map((r) => [r.status, (r.body as { code?: string } | undefined)?.code])).toEqual([
    [403, 'PUBLISHABLE_KEY_REQUIRED'],
    [403, 'ORIGIN_NOT_ALLOWED'],
    [403, 'ORIGIN_NOT_ALLOWED'],
  ]);
  // Sent after the refused ones, into the one partition: once it is stored, they would have been.
  expect((await beacon(`?key=${publishableKey}&dataset_id=shop`, view('after-refusals'))).status).toBe(204);
  await stored(['after-refusals']);
  expect(await storedRows(['refused-secret', 'refused-foreign', 'refused-server'])).toEqual([]);
});
