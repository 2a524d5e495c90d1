/**
 * The tenancy matrix: every endpoint with the right key, a wrong key, no key, and another
 * tenant's dataset, each answered in that dialect's own shape; and with origins: a publishable
 * key from its own origin and a wildcard subdomain of it (stored), from a foreign origin, from a
 * server, and on another tenant's dataset (refused, nothing stored), and a server key from a page.
 * Keys come from a real key file, which the worker also reads, for Kafka-native producers.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRateLimiter } from '@sluice/gateway';
import { createKey, oneTenantRule, openKeyFile, type Datasets, type KeyFile } from '@sluice/tenancy';
import { repositoryRoot } from '@sluice/dev';
import { buildEnvelope, createNativeProducer } from '@sluice/producer';
import { fetchRetrying, type RepeatableRequest } from '../helpers/http';
import { lastSeen, removeTestDirectory, startInProcessPipeline, testBrokers, testLogger, waitFor, type InProcessPipeline } from '../helpers/pipeline';
import { freePort, spawnCaptured } from '../helpers/processes';

let directory: string;
let pipeline: InProcessPipeline;
const keys: Record<'a' | 'b', string> = { a: '', b: '' };
/** Tenant a's publishable key, for the pages of shop-a.example and its subdomains. */
let webKeyA = '';
const pageOfA = 'https://shop-a.example';
/** The two tenants: "acme web" holds Trieve dataset `shop`, "bolt" Neuralens application `shop-b`. */
const shopKeys = { acme: '', bolt: '' };
/** The key file's text as the keys CLI left it. */
let keyFileText = '';

const datasetsOf = (tenant: 'a' | 'b'): Datasets => ({
  trieve: [`ds-${tenant}`],
  neuralens: [`app-${tenant}`],
  greenflash: [`prod-${tenant}`],
  native: [`ds-${tenant}`],
});

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), 'sluice-tenancy-'));
  let contents: string | undefined;
  for (const tenant of ['a', 'b'] as const) {
    const created = createKey(contents, { name: `tenant ${tenant}`, datasets: datasetsOf(tenant) }, new Date());
    contents = created.contents;
    keys[tenant] = created.key;
  }
  const web = createKey(contents, { name: 'tenant a web', datasets: datasetsOf('a'), kind: 'publishable', origins: [pageOfA, 'https://*.shop-a.example'] }, new Date());
  webKeyA = web.key;
  contents = web.contents;
  const acme = createKey(contents, { name: 'acme web', datasets: { trieve: ['shop'] } }, new Date());
  const bolt = createKey(acme.contents, { name: 'bolt', datasets: { neuralens: ['shop-b'] } }, new Date());
  shopKeys.acme = acme.key;
  shopKeys.bolt = bolt.key;
  keyFileText = bolt.contents;
  const file = join(directory, 'keys.json');
  writeFileSync(file, keyFileText);
  pipeline = await startInProcessPipeline({ keyStore: openKeyFile(file, { logger: testLogger }) });
});

afterAll(async () => {
  await pipeline.stop();
  removeTestDirectory(directory);
});

interface Door {
  name: string;
  request(key: string | undefined, tenant: 'a' | 'b'): [string, RepeatableRequest];
  ok: number;
  /** Events in one request. */
  events: number;
  /** The dialect's error body for a refusal with this message. */
  errorShape(message: string): unknown;
}

const requestId = '6f2b6a56-2f5e-4c3b-8a0f-0d6c1f2e3a4b';
const json = (headers: Record<string, string | undefined>): Record<string, string> =>
  Object.fromEntries(Object.entries({ 'content-type': 'application/json', ...headers }).filter((e): e is [string, string] => e[1] !== undefined));
const bearer = (key: string | undefined): string | undefined => (key === undefined ? undefined : `Bearer ${key}`);

const doors: Door[] = [
  {
    name: 'Trieve events',
    request: (key, tenant) => ['/api/analytics/events', { method: 'PUT', headers: json({ authorization: key, 'tr-dataset': `ds-${tenant}` }), body: JSON.stringify({ event_type: 'view', event_name: 'v', items: [] }) }],
    ok: 204,
    events: 1,
    errorShape: (message) => ({ message: expect.stringContaining(message) as unknown }),
  },
  {
    name: 'Trieve CTR',
    request: (key, tenant) => [
      '/api/analytics/ctr',
      { method: 'PUT', headers: json({ authorization: bearer(key), 'tr-dataset': `ds-${tenant}` }), body: JSON.stringify({ request_id: requestId, ctr_type: 'search', position: 0 }) },
    ],
    ok: 204,
    events: 1,
    errorShape: (message) => ({ message: expect.stringContaining(message) as unknown }),
  },
  {
    name: 'Neuralens',
    request: (key, tenant) => [
      '/analytics/event',
      {
        method: 'POST',
        headers: json({ 'x-neuralens-api-key': bearer(key), 'x-neuralens-application-id': `app-${tenant}` }),
        body: JSON.stringify({ items: [{ id: 'x' }], page: 'PRODUCT_PAGE', event: 'SHARE', timestamp: 1715644800 }),
      },
    ],
    ok: 200,
    events: 1,
    errorShape: (message) => ({ status: 'failure', message: expect.stringContaining(message) as unknown }),
  },
  {
    name: 'Greenflash',
    request: (key, tenant) => ['/api/v1/events', { method: 'POST', headers: json({ authorization: bearer(key) }), body: JSON.stringify({ eventType: 'signup', productId: `prod-${tenant}`, value: '1' }) }],
    ok: 200,
    events: 1,
    errorShape: (message) => ({ success: false, code: expect.any(String) as unknown, message: expect.stringContaining(message) as unknown }),
  },
  {
    name: 'batch',
    request: (key, tenant) => [
      '/v1/batch',
      {
        method: 'POST',
        headers: json({ authorization: bearer(key), 'content-type': 'application/x-ndjson' }),
        body: [
          JSON.stringify({ source: 'trieve', dataset_id: `ds-${tenant}`, event: { event_type: 'view', event_name: 'v', items: [] } }),
          JSON.stringify({ source: 'greenflash', event: { eventType: 'signup', productId: `prod-${tenant}`, value: '1' } }),
        ].join('\n'),
      },
    ],
    ok: 200,
    events: 2,
    errorShape: (message) => ({ code: expect.any(String) as unknown, message: expect.stringContaining(message) as unknown }),
  },
];

async function call(door: Door, key: string | undefined, tenant: 'a' | 'b', extraHeaders: Record<string, string> = {}): Promise<{ status: number; body: unknown; allowOrigin: string | null }> {
  const [path, init] = door.request(key, tenant);
  const response = await fetchRetrying(`${pipeline.gatewayUrl}${path}`, { ...init, headers: { ...(init.headers as Record<string, string>), ...extraHeaders } });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as unknown), allowOrigin: response.headers.get('access-control-allow-origin') };
}

/** The events stored under insert ids made from this Idempotency-Key (a batch's event i gets KEY/i). */
async function storedUnder(idempotencyKey: string, expected: number): Promise<number> {
  const counted = async (): Promise<number> =>
    Number(
      (await pipeline.clickhouse.queryRows<{ n: string }>('SELECT count() AS n FROM events WHERE insert_id = {k:String} OR startsWith(insert_id, {prefix:String})', {
        k: idempotencyKey,
        prefix: `${idempotencyKey}/`,
      }))[0]?.n ?? 0,
    );
  return lastSeen(counted, (n) => n >= expected);
}

describe.each(doors.map((d) => [d.name, d] as const))('%s', (_name, door) => {
  test.each([
    ['tenant a', 'a'],
    ['tenant b', 'b'],
  ] as const)('the right key (%s) on its own dataset, from a server (no Origin), is accepted', async (_label, tenant) => {
    expect(await call(door, keys[tenant], tenant)).toMatchObject({ status: door.ok, allowOrigin: null });
  });

  test('a wrong key gets 401 in the dialect shape', async () => {
    const reply = await call(door, 'sk_000000000000_notarealsecretnotarealsecretnotarealsecret0', 'a');
    expect(reply).toEqual({ status: 401, body: door.errorShape('Invalid API key'), allowOrigin: null });
  });

  test('no key gets 401 in the dialect shape', async () => {
    expect(await call(door, undefined, 'a')).toEqual({ status: 401, body: door.errorShape('Missing API key'), allowOrigin: null });
  });

  test("another tenant's dataset gets 403, and nothing is stored for it", async () => {
    const before = await pipeline.bus.countMessages(pipeline.topic);
    const reply = await call(door, keys.a, 'b');
    expect(reply.status).toBe(403);
    if (door.name === 'batch') {
      expect(reply.body).toMatchObject({ accepted: 0, rejected: 2, results: [{ status: 'forbidden' }, { status: 'forbidden' }] });
    } else {
      expect(reply.body).toEqual(door.errorShape('may not write to'));
    }
    expect(await pipeline.bus.countMessages(pipeline.topic)).toBe(before);
  });

  describe('origins', () => {
    const idempotencyKey = (what: string): string => `origins-${door.name.replace(/\W/g, '-')}-${what}`;

    test.each([
      ['its listed origin', pageOfA, 'listed'],
      ['a subdomain under its wildcard', 'https://eu.www.shop-a.example', 'wildcard'],
    ])('the publishable key from a page of %s is accepted, the page may read the answer, and the events are stored', async (_what, origin, what) => {
      const key = idempotencyKey(what);
      expect(await call(door, webKeyA, 'a', { origin, 'idempotency-key': key })).toMatchObject({ status: door.ok, allowOrigin: origin });
      expect(await storedUnder(key, door.events)).toBe(door.events);
    });

    test.each([
      ['the publishable key from a foreign origin', () => webKeyA, 'a', 'https://evil.example', 'ORIGIN_NOT_ALLOWED', null],
      ['the publishable key from a look-alike origin', () => webKeyA, 'a', 'https://evil-shop-a.example', 'ORIGIN_NOT_ALLOWED', null],
      ['the publishable key from a server (no Origin)', () => webKeyA, 'a', undefined, 'ORIGIN_NOT_ALLOWED', null],
      ['the server key from a page', () => keys.a, 'a', pageOfA, 'ORIGIN_NOT_ALLOWED', pageOfA],
      ["the publishable key on another tenant's dataset, from its own origin", () => webKeyA, 'b', pageOfA, 'FORBIDDEN', pageOfA],
    ] as const)('%s is refused with 403, and nothing is stored', async (_what, key, tenant, origin, code, allowOrigin) => {
      const before = await pipeline.bus.countMessages(pipeline.topic);
      const reply = await call(door, key(), tenant, origin === undefined ? {} : { origin });
      expect(reply).toMatchObject({ status: 403, allowOrigin });
      if (code === 'FORBIDDEN' && door.name === 'batch') expect(reply.body).toMatchObject({ accepted: 0, results: [{ status: 'forbidden' }, { status: 'forbidden' }] });
      else if (code === 'FORBIDDEN') expect(reply.body).toEqual(door.errorShape('may not write to'));
      else expect(reply.body).toEqual(door.errorShape(origin === undefined ? 'publishable key' : 'origin'));
      expect(await pipeline.bus.countMessages(pipeline.topic)).toBe(before);
    });
  });
});

test('a batch mixing own and foreign datasets stores only its own and answers 207', async () => {
  const response = await fetchRetrying(`${pipeline.gatewayUrl}/v1/batch`, {
    method: 'POST',
    headers: { authorization: `Bearer ${keys.a}`, 'content-type': 'application/json' },
    body: JSON.stringify([
      { source: 'trieve', dataset_id: 'ds-a', event: { event_type: 'view', event_name: 'mine', items: [] } },
      { source: 'trieve', dataset_id: 'ds-b', event: { event_type: 'view', event_name: 'theirs', items: [] } },
    ]),
  });
  expect(response.status).toBe(207);
  expect(await response.json()).toMatchObject({ accepted: 1, rejected: 1, results: [{ status: 'accepted' }, { status: 'forbidden', errors: [{ path: '/1' }] }] });
});

test('straight onto Kafka, with no key to present: a dataset the key file lists is stored, an unknown one is a dead letter naming it', async () => {
  const producer = await createNativeProducer({ brokers: testBrokers(), topic: pipeline.topic });
  try {
    await producer.send([
      buildEnvelope({ dataset_id: 'ds-unlisted', event_type: 'view', insert_id: 'native-stranger' }),
      buildEnvelope({ dataset_id: 'ds-b', event_type: 'view', insert_id: 'native-listed' }),
    ]);
  } finally {
    await producer.close();
  }
  const rejected = await waitFor(async () => {
    const found = await pipeline.clickhouse.queryRows<{ step: string; reason: string; dataset_id: string }>(
      `SELECT step, reason, dataset_id FROM events_rejected FINAL WHERE kafka_topic = {topic:String} AND insert_id = 'native-stranger'`,
      { topic: pipeline.topic },
    );
    return found.length > 0 ? found : undefined;
  }, 'the unknown dataset to be rejected');
  expect(rejected).toEqual([{ step: 'dataset', reason: 'dataset "ds-unlisted" is not known: no key in KEYS_FILE lists it under "native" (source native)', dataset_id: 'ds-unlisted' }]);
  const stored = await waitFor(async () => {
    const found = await pipeline.clickhouse.queryRows<{ dataset_id: string }>(`SELECT dataset_id FROM events WHERE insert_id IN ('native-listed', 'native-stranger')`);
    return found.length > 0 ? found : undefined;
  }, 'the listed dataset to be stored');
  expect(stored).toEqual([{ dataset_id: 'ds-b' }]);
});

describe('one dataset id, two namespaces: two tenants never share a dataset', () => {
  test('a key file granting "shop" under trieve to one key and under neuralens to another stops the gateway, naming both', async () => {
    // The keys CLI refuses such a grant, so make it as a hand edit would.
    const edited = JSON.parse(keyFileText) as KeyFile;
    const boltIndex = edited.keys.findIndex((k) => k.name === 'bolt');
    const acmeIndex = edited.keys.findIndex((k) => k.name === 'acme web');
    const bolt = edited.keys[boltIndex];
    if (bolt === undefined) throw new Error('no key "bolt" in the key file');
    bolt.datasets = { neuralens: ['shop'] };
    const file = join(directory, 'colliding-keys.json');
    writeFileSync(file, JSON.stringify(edited, null, 2));

    const gateway = spawnCaptured(process.execPath, ['--import', 'tsx', 'services/gateway/src/main.ts'], {
      cwd: repositoryRoot,
      env: { ...process.env, KEYS_FILE: file, KAFKA_BROKERS: testBrokers().join(','), GATEWAY_PORT: String(await freePort()), LOG_LEVEL: 'error' },
    });
    let timer: NodeJS.Timeout | undefined;
    const exited = await Promise.race([gateway.exit, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), 60_000)))]);
    clearTimeout(timer);
    if (exited === undefined) gateway.child.kill('SIGKILL');
    expect(exited).toEqual({ code: 1, signal: null });
    expect(gateway.output()).toContain(
      `gateway failed to start: ${file}: keys[${boltIndex}].datasets.neuralens lists "shop", which keys[${acmeIndex}] ("acme web") holds under trieve; ${oneTenantRule}`,
    );
  });

  test("with distinct ids, each tenant's Idempotency-Key: order-1001 event is stored; neither drops the other's as a duplicate", async () => {
    const trieve = await fetch(`${pipeline.gatewayUrl}/api/analytics/events`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: shopKeys.acme, 'tr-dataset': 'shop', 'idempotency-key': 'order-1001' },
      body: JSON.stringify({ event_type: 'view', event_name: 'order page', items: ['sku-1'] }),
    });
    expect(trieve.status).toBe(204);
    const neuralens = await fetch(`${pipeline.gatewayUrl}/analytics/event`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-neuralens-api-key': `Bearer ${shopKeys.bolt}`, 'x-neuralens-application-id': 'shop-b', 'idempotency-key': 'order-1001' },
      body: JSON.stringify({ items: [{ id: 'x' }], page: 'PRODUCT_PAGE', event: 'SHARE', timestamp: 1715644800 }),
    });
    expect(neuralens.status).toBe(200);
    const stored = await waitFor(async () => {
      const rows = await pipeline.clickhouse.queryRows<{ dataset_id: string; source: string }>(
        "SELECT dataset_id, source FROM events WHERE insert_id = 'order-1001' ORDER BY dataset_id",
      );
      return rows.length >= 2 ? rows : undefined;
    }, 'both tenants\' order-1001 events to be stored');
    expect(stored).toEqual([
      { dataset_id: 'shop', source: 'trieve' },
      { dataset_id: 'shop-b', source: 'neuralens' },
    ]);
  });

  test("the other tenant cannot write to acme's shop under any namespace: 403", async () => {
    const bearer = `Bearer ${shopKeys.bolt}`;
    const attempts: Array<[string, RequestInit]> = [
      ['/api/analytics/events', { method: 'PUT', headers: { 'content-type': 'application/json', authorization: bearer, 'tr-dataset': 'shop' }, body: JSON.stringify({ event_type: 'view', event_name: 'v', items: [] }) }],
      [
        '/analytics/event',
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-neuralens-api-key': bearer, 'x-neuralens-application-id': 'shop' },
          body: JSON.stringify({ items: [{ id: 'x' }], page: 'PRODUCT_PAGE', event: 'SHARE', timestamp: 1715644800 }),
        },
      ],
      ['/api/v1/events', { method: 'POST', headers: { 'content-type': 'application/json', authorization: bearer }, body: JSON.stringify({ eventType: 'signup', productId: 'shop', value: '1' }) }],
      [
        '/v1/batch',
        {
          method: 'POST',
          headers: { 'content-type': 'application/x-ndjson', authorization: bearer },
          body: [
            JSON.stringify({ source: 'trieve', dataset_id: 'shop', event: { event_type: 'view', event_name: 'v', items: [] } }),
            JSON.stringify(buildEnvelope({ dataset_id: 'shop', event_type: 'view', insert_id: 'bolt-native' })),
          ].join('\n'),
        },
      ],
    ];
    for (const [path, init] of attempts) {
      const response = await fetch(`${pipeline.gatewayUrl}${path}`, init);
      await response.arrayBuffer();
      expect([path, response.status]).toEqual([path, 403]);
    }
  });
});

describe('rate limit', () => {
  let limited: InProcessPipeline;
  beforeAll(async () => {
    limited = await startInProcessPipeline({ rateLimiter: createRateLimiter({ eventsPerSecond: 1, burst: 2 }) });
  });
  afterAll(async () => {
    await limited.stop();
  });

  test('past its burst a key gets 429 with Retry-After, in the dialect shape', async () => {
    const send = (): Promise<Response> =>
      fetch(`${limited.gatewayUrl}/analytics/event`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-neuralens-api-key': `Bearer ${limited.apiKey}`, 'x-neuralens-application-id': 'app' },
        body: JSON.stringify({ items: [{ id: 'x' }], page: 'PRODUCT_PAGE', event: 'SHARE', timestamp: 1715644800 }),
      });
    expect((await send()).status).toBe(200);
    expect((await send()).status).toBe(200);
    const refused = await send();
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(await refused.json()).toEqual({ status: 'failure', message: 'Rate limit exceeded for this API key; retry in 1 s' });
  });
});
