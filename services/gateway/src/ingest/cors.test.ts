/**
 * CORS on the five doors, over HTTP, header by header: preflights answered for the origins the
 * key file allows and refused for others, every answer to an allowed origin readable by its page
 * (refusals included), each key held to its own origins, and publishable keys to their own rate.
 * The publisher is a stand-in: Kafka is not what is tested here (test/integration/tenancy.test.ts
 * sends the same requests through Kafka into ClickHouse).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '@sluice/core';
import { createDevKeyStore, createKey, openKeyFile, type KeyStore } from '@sluice/tenancy';
import { createApp, type GatewayDeps } from '../app';
import { createRateLimiter } from '../rate-limit';
import { recordingPublisher } from '../../../../test/helpers/recording-publisher';

const shop = 'https://shop.example';
const { publisher, published } = recordingPublisher();

let directory: string;
let keyStore: KeyStore;
/** A server key, a publishable key of the same tenant for shop.example and its subdomains, and another tenant's publishable key. */
const keys = { server: '', web: '', other: '' };
const servers: Server[] = [];

beforeAll(() => {
  directory = mkdtempSync(join(tmpdir(), 'sluice-cors-'));
  const datasets = { trieve: ['shop'], neuralens: ['shop'], greenflash: ['shop'], native: ['shop'] };
  const server = createKey(undefined, { name: 'shop server', datasets }, new Date());
  const web = createKey(server.contents, { name: 'shop web', datasets, kind: 'publishable', origins: [shop, 'https://*.shop.example'] }, new Date());
  const other = createKey(web.contents, { name: 'blog web', datasets: { trieve: ['blog'] }, kind: 'publishable', origins: ['https://blog.example'] }, new Date());
  Object.assign(keys, { server: server.key, web: web.key, other: other.key });
  const file = join(directory, 'keys.json');
  writeFileSync(file, other.contents, { mode: 0o600 });
  keyStore = openKeyFile(file, { logger: silentLogger });
});

afterEach(() => {
  published.length = 0;
});

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  rmSync(directory, { recursive: true, force: true });
});

async function startGateway(deps: Partial<GatewayDeps> = {}): Promise<string> {
  const server = createServer(createApp({ publisher, keyStore, logger: silentLogger, kafkaReadiness: () => Promise.resolve(undefined), ...deps }));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

let gateway: string;
beforeAll(async () => {
  gateway = await startGateway();
});

interface Door {
  name: string;
  path: string;
  method: 'PUT' | 'POST';
  /** What the door's preflight allows, written out: the contract pages rely on. */
  allowHeaders: string;
  /** What a browser asks for, as it asks: lower case, sorted, every header its client sends. */
  browserAsks: string;
  /** The request's own headers and body, holding `key`. */
  request(key: string | undefined): { headers: Record<string, string>; body: string };
  ok: number;
  /** The dialect's error body. */
  errorBody(code: string, message: string): unknown;
}

const bearer = (key: string | undefined): Record<string, string> => (key === undefined ? {} : { authorization: `Bearer ${key}` });
const trieveBody = JSON.stringify({ event_type: 'view', event_name: 'v', items: [] });

const doors: Door[] = [
  {
    name: 'Trieve events',
    path: '/api/analytics/events',
    method: 'PUT',
    allowHeaders: 'Authorization, TR-Dataset, TR-Organization, Idempotency-Key, Content-Type, Content-Encoding',
    browserAsks: 'authorization,content-type,tr-dataset,tr-organization',
    request: (key) => ({ headers: { ...bearer(key), 'tr-dataset': 'shop', 'content-type': 'application/json' }, body: trieveBody }),
    ok: 204,
    errorBody: (_code, message) => ({ message }),
  },
  {
    name: 'Trieve CTR',
    path: '/api/analytics/ctr',
    method: 'PUT',
    allowHeaders: 'Authorization, TR-Dataset, TR-Organization, Idempotency-Key, Content-Type, Content-Encoding',
    browserAsks: 'authorization,content-type,idempotency-key,tr-dataset',
    request: (key) => ({
      headers: { ...bearer(key), 'tr-dataset': 'shop', 'content-type': 'application/json' },
      body: JSON.stringify({ request_id: '6f2b6a56-2f5e-4c3b-8a0f-0d6c1f2e3a4b', ctr_type: 'search', position: 0 }),
    }),
    ok: 204,
    errorBody: (_code, message) => ({ message }),
  },
  {
    name: 'Neuralens',
    path: '/analytics/event',
    method: 'POST',
    allowHeaders: 'X-Neuralens-API-Key, X-Neuralens-Application-ID, Idempotency-Key, Content-Type, Content-Encoding',
    browserAsks: 'content-type,x-neuralens-api-key,x-neuralens-application-id',
    request: (key) => ({
      headers: { ...(key === undefined ? {} : { 'x-neuralens-api-key': `Bearer ${key}` }), 'x-neuralens-application-id': 'shop', 'content-type': 'application/json' },
      body: JSON.stringify({ items: [{ id: 'x' }], page: 'PRODUCT_PAGE', event: 'SHARE', timestamp: 1715644800 }),
    }),
    ok: 200,
    errorBody: (_code, message) => ({ status: 'failure', message }),
  },
  {
    name: 'Greenflash',
    path: '/api/v1/events',
    method: 'POST',
    allowHeaders: 'Authorization, Idempotency-Key, Content-Type, Content-Encoding',
    browserAsks: 'authorization,content-type',
    request: (key) => ({ headers: { ...bearer(key), 'content-type': 'application/json' }, body: JSON.stringify({ eventType: 'signup', productId: 'shop', value: '1' }) }),
    ok: 200,
    errorBody: (code, message) => ({ success: false, code, message }),
  },
  {
    name: 'batch',
    path: '/v1/batch',
    method: 'POST',
    allowHeaders: 'Authorization, Idempotency-Key, Content-Type, Content-Encoding',
    browserAsks: 'authorization,content-encoding,content-type,idempotency-key',
    request: (key) => ({
      headers: { ...bearer(key), 'content-type': 'application/x-ndjson' },
      body: JSON.stringify({ source: 'trieve', dataset_id: 'shop', event: { event_type: 'view', event_name: 'v', items: [] } }),
    }),
    ok: 200,
    errorBody: (code, message) => ({ code, message }),
  },
];

/** Every CORS header of an answer, and Vary, by lower-case name. */
function corsHeaders(response: Response): Record<string, string> {
  return Object.fromEntries([...response.headers].filter(([name]) => name.startsWith('access-control-') || name === 'vary'));
}

async function preflight(door: Pick<Door, 'path'>, headers: Record<string, string>, base = gateway): Promise<{ status: number; cors: Record<string, string>; body: unknown }> {
  const response = await fetch(`${base}${door.path}`, { method: 'OPTIONS', headers });
  const text = await response.text();
  return { status: response.status, cors: corsHeaders(response), body: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

async function send(door: Door, key: string | undefined, origin: string | undefined, base = gateway): Promise<{ status: number; cors: Record<string, string>; body: unknown }> {
  const { headers, body } = door.request(key);
  const response = await fetch(`${base}${door.path}`, { method: door.method, headers: { ...headers, ...(origin === undefined ? {} : { origin }) }, body });
  const text = await response.text();
  return { status: response.status, cors: corsHeaders(response), body: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

/** What every answer to an origin some key allows carries. */
const readable = (origin: string): Record<string, string> => ({
  'access-control-allow-origin': origin,
  'access-control-allow-credentials': 'true',
  'access-control-expose-headers': 'Retry-After',
  vary: 'Origin',
});

describe.each(doors.map((door) => [door.name, door] as const))('%s', (_name, door) => {
  test.each([
    ['a listed origin', shop],
    ['a subdomain under a listed wildcard', 'https://eu.www.shop.example'],
  ])('a preflight from %s is answered 204 with exactly the CORS headers of the door', async (_from, origin) => {
    const answer = await preflight(door, { origin, 'access-control-request-method': door.method, 'access-control-request-headers': door.browserAsks });
    expect(answer).toEqual({
      status: 204,
      body: undefined,
      cors: {
        'access-control-allow-origin': origin,
        'access-control-allow-methods': door.method,
        'access-control-allow-headers': door.allowHeaders,
        'access-control-max-age': '7200',
        'access-control-allow-credentials': 'true',
        vary: 'Origin',
      },
    });
  });

  test('a preflight from an origin no key allows gets 403 in the dialect shape, and no access', async () => {
    for (const origin of ['https://evil.example', 'https://evil-shop.example', 'https://shop.example.evil.example', 'http://shop.example', 'null']) {
      const answer = await preflight(door, { origin, 'access-control-request-method': door.method, 'access-control-request-headers': door.browserAsks });
      const message = `No API key allows requests from the origin ${JSON.stringify(origin)}; a key lists the origins it may be used from (docs/keys.md)`;
      expect([origin, answer]).toEqual([origin, { status: 403, cors: { vary: 'Origin' }, body: door.errorBody('ORIGIN_NOT_ALLOWED', message) }]);
    }
  });

  test('a preflight for another method, or a header the door does not take, gets 403 and no access', async () => {
    const otherMethod = door.method === 'PUT' ? 'POST' : 'PUT';
    expect(await preflight(door, { origin: shop, 'access-control-request-method': otherMethod })).toEqual({
      status: 403,
      cors: { vary: 'Origin' },
      body: door.errorBody('PREFLIGHT_REFUSED', `${door.path} takes ${door.method} requests, not "${otherMethod}"`),
    });
    expect(await preflight(door, { origin: shop, 'access-control-request-method': door.method, 'access-control-request-headers': `${door.browserAsks},x-requested-with` })).toEqual({
      status: 403,
      cors: { vary: 'Origin' },
      body: door.errorBody('PREFLIGHT_REFUSED', `${door.method} ${door.path} does not take the request header "x-requested-with"; it takes ${door.allowHeaders}`),
    });
  });

  test('an OPTIONS that is no preflight is told what the door takes', async () => {
    const response = await fetch(`${gateway}${door.path}`, { method: 'OPTIONS' });
    expect([response.status, response.headers.get('allow'), response.headers.get('access-control-allow-origin')]).toEqual([204, `${door.method}, OPTIONS`, null]);
  });

  test('the publishable key from a page of its origin is accepted, and the page may read the answer', async () => {
    const answer = await send(door, keys.web, 'https://www.shop.example');
    expect([answer.status, answer.cors]).toEqual([door.ok, readable('https://www.shop.example')]);
    expect(published).toHaveLength(1);
  });

  test('the server key from a server is accepted, with no access granted to anyone', async () => {
    const answer = await send(door, keys.server, undefined);
    expect([answer.status, answer.cors]).toEqual([door.ok, { vary: 'Origin' }]);
    expect(published).toHaveLength(1);
  });

  test.each([
    ['no key', undefined, 401, 'UNAUTHORIZED', 'Missing API key'],
    ['an unknown key', 'pk_000000000000_notarealsecretnotarealsecretnotarealsecret0', 401, 'UNAUTHORIZED', 'Invalid API key'],
    [
      'the server key',
      'server',
      403,
      'ORIGIN_NOT_ALLOWED',
      'This API key is for servers only (it lists no origins), and this request comes from a web page of "https://shop.example": a page sends events with a publishable key (pk_...) that lists its origin (docs/keys.md)',
    ],
    ['another origin\'s publishable key', 'other', 403, 'ORIGIN_NOT_ALLOWED', 'This API key may not be used from the origin "https://shop.example": it is not one of the key\'s origins (docs/keys.md)'],
  ] as const)('from an allowed origin, %s is refused in the dialect shape, and the page may read why', async (_what, key, status, code, message) => {
    const presented = key === 'server' || key === 'other' ? keys[key] : key;
    expect(await send(door, presented, shop)).toEqual({ status, cors: readable(shop), body: door.errorBody(code, message) });
    expect(published).toEqual([]);
  });

  test('from an origin no key allows, even the right key is refused, and the page may not read the answer', async () => {
    const answer = await send(door, keys.web, 'https://evil.example');
    expect(answer).toEqual({
      status: 403,
      cors: { vary: 'Origin' },
      body: door.errorBody('ORIGIN_NOT_ALLOWED', 'This API key may not be used from the origin "https://evil.example": it is not one of the key\'s origins (docs/keys.md)'),
    });
    expect(published).toEqual([]);
  });

  test('the publishable key from a server (no Origin) is refused', async () => {
    const message =
      'This is a publishable key (pk_...), which is accepted only from the web pages of its origins, and this request has no Origin header: a server sends events with a secret key (sk_...)';
    expect(await send(door, keys.web, undefined)).toEqual({ status: 403, cors: { vary: 'Origin' }, body: door.errorBody('ORIGIN_NOT_ALLOWED', message) });
    expect(published).toEqual([]);
  });
});

describe('the beacon door (its key is in the URL or the body, never a header)', () => {
  const beacon = { path: '/v1/beacon' };

  test("a keepalive fetch's preflight is answered 204 with exactly the door's CORS headers; sendBeacon's text/plain needs none", async () => {
    expect(await preflight(beacon, { origin: shop, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' })).toEqual({
      status: 204,
      body: undefined,
      cors: {
        'access-control-allow-origin': shop,
        'access-control-allow-methods': 'POST',
        'access-control-allow-headers': 'Content-Type',
        'access-control-max-age': '7200',
        'access-control-allow-credentials': 'true',
        vary: 'Origin',
      },
    });
  });

  test('a preflight from an origin no key allows, or asking for a key header, gets 403 and no access', async () => {
    expect(await preflight(beacon, { origin: 'https://evil.example', 'access-control-request-method': 'POST' })).toMatchObject({ status: 403, cors: { vary: 'Origin' }, body: { code: 'ORIGIN_NOT_ALLOWED' } });
    expect(await preflight(beacon, { origin: shop, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' })).toMatchObject({
      status: 403,
      cors: { vary: 'Origin' },
      body: { code: 'PREFLIGHT_REFUSED' },
    });
  });

  test("the publishable key from a page of its origin is accepted, and the page may read the answer", async () => {
    const response = await fetch(`${gateway}/v1/beacon?key=${keys.web}&dataset_id=shop`, {
      method: 'POST',
      headers: { origin: 'https://www.shop.example', 'content-type': 'text/plain;charset=UTF-8' },
      body: JSON.stringify({ source: 'trieve', event: { event_type: 'view', event_name: 'v', items: [] } }),
    });
    expect([response.status, corsHeaders(response)]).toEqual([204, readable('https://www.shop.example')]);
    expect(published).toHaveLength(1);
  });
});

test('publishable keys have their own rate: past it a page reads the 429 and its Retry-After, while a secret key goes on', async () => {
  const limited = await startGateway({ publishableRateLimiter: createRateLimiter({ eventsPerSecond: 1, burst: 2 }) });
  const greenflash = doors.find((door) => door.name === 'Greenflash');
  if (greenflash === undefined) throw new Error('no Greenflash door');
  expect((await send(greenflash, keys.web, shop, limited)).status).toBe(200);
  expect((await send(greenflash, keys.web, shop, limited)).status).toBe(200);
  const { headers, body } = greenflash.request(keys.web);
  const refused = await fetch(`${limited}${greenflash.path}`, { method: 'POST', headers: { ...headers, origin: shop }, body });
  expect(refused.status).toBe(429);
  expect(refused.headers.get('retry-after')).toBe('1');
  expect(corsHeaders(refused)).toEqual(readable(shop));
  await refused.arrayBuffer();
  for (let i = 0; i < 5; i++) expect((await send(greenflash, keys.server, undefined, limited)).status).toBe(200);
});

describe('without a key file, the dev key works from any origin', () => {
  let devGateway: string;
  beforeAll(async () => {
    devGateway = await startGateway({ keyStore: createDevKeyStore('sk_dev_cors') });
  });

  test.each(['http://localhost:3000', 'https://anything.example', 'null'])('from %s: the preflight is answered and the event accepted', async (origin) => {
    const door = doors[0];
    if (door === undefined) throw new Error('no door');
    const answer = await preflight(door, { origin, 'access-control-request-method': 'PUT', 'access-control-request-headers': door.browserAsks }, devGateway);
    expect(answer.status).toBe(204);
    expect(answer.cors['access-control-allow-origin']).toBe(origin);
    const sent = await send(door, 'sk_dev_cors', origin, devGateway);
    expect([sent.status, sent.cors]).toEqual([204, readable(origin)]);
  });
});
