/**
 * POST /v1/beacon in-process: the key and the dataset from the body or the query string, only
 * publishable keys, only from their origins, and the batch door's checks and acknowledgement. The
 * publisher is a stand-in that records what it was given: Kafka is not what is tested here
 * (test/integration/beacon.test.ts sends to a real one).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SluiceError, silentLogger, type EventPublisher, type OutgoingMessage } from '@sluice/core';
import { createDevKeyStore, hashKey, openKeyFile, type KeyStore } from '@sluice/tenancy';
import { createApp } from '../app';
import { createRateLimiter, unlimited, type RateLimiter } from '../rate-limit';
import { maxBeaconBytes } from './beacon';

const publishableKey = `pk_0123456789ab_${'P'.repeat(43)}`;
const secretKey = `sk_ba9876543210_${'S'.repeat(43)}`;
const shop = 'https://shop.example';

type Sent = { dataset_id: string; source: string; insert_id: string };
const publisher: EventPublisher & { sent: Sent[]; failure: SluiceError | undefined } = {
  sent: [],
  failure: undefined,
  publish(messages: readonly OutgoingMessage[]) {
    if (publisher.failure !== undefined) return Promise.reject(publisher.failure);
    for (const message of messages) publisher.sent.push(JSON.parse(message.value.toString()) as Sent);
    return Promise.resolve();
  },
  isConnected: () => true,
  close: () => Promise.resolve(),
};

let directory: string;
let keyFileStore: KeyStore;
const servers: Server[] = [];

beforeAll(() => {
  directory = mkdtempSync(join(tmpdir(), 'sluice-beacon-'));
  const file = join(directory, 'keys.json');
  const createdAt = '2025-01-31T12:00:00.000Z';
  const keys = [
    { id: '0123456789ab', name: 'shop web', kind: 'publishable', sha256: hashKey(publishableKey), datasets: { trieve: ['shop'], greenflash: ['gf-shop'] }, origins: [shop, 'https://*.shop.example'], created_at: createdAt },
    { id: 'ba9876543210', name: 'shop server', sha256: hashKey(secretKey), datasets: { trieve: ['shop'] }, origins: [shop], created_at: createdAt },
  ];
  writeFileSync(file, JSON.stringify({ version: 1, keys }), { mode: 0o600 });
  keyFileStore = openKeyFile(file, { logger: silentLogger });
});

afterAll(() => rmSync(directory, { recursive: true, force: true }));

beforeEach(() => {
  publisher.sent = [];
  publisher.failure = undefined;
});

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

async function gateway(keyStore: KeyStore = keyFileStore, rateLimiter: RateLimiter = unlimited): Promise<string> {
  const server = createServer(createApp({ publisher, keyStore, rateLimiter, logger: silentLogger, kafkaReadiness: () => Promise.resolve(undefined) }));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

interface Answer {
  status: number;
  headers: Headers;
  body: unknown;
}

/** A beacon as Chromium sends one: a string body is text/plain;charset=UTF-8. */
async function beacon(url: string, body: unknown, headers: Record<string, string | undefined> = { origin: shop }): Promise<Answer> {
  const sent = Object.fromEntries(Object.entries({ 'content-type': 'text/plain;charset=UTF-8', ...headers }).filter((e): e is [string, string] => e[1] !== undefined));
  const response = await fetch(url, { method: 'POST', headers: sent, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

const view = { event_type: 'view', event_name: 'pdp', items: ['sku-1'] };

describe('POST /v1/beacon', () => {
  test('one event, the key and the dataset in the query string: 204 once published, readable by the page', async () => {
    const base = await gateway();
    const answer = await beacon(`${base}/v1/beacon?key=${publishableKey}&dataset_id=shop`, { source: 'trieve', insert_id: 'b-1', event: view });
    expect(answer).toEqual({ status: 204, headers: expect.any(Headers) as unknown, body: undefined });
    expect(answer.headers.get('access-control-allow-origin')).toBe(shop);
    expect(answer.headers.get('vary')).toMatch(/\bOrigin\b/);
    expect(publisher.sent).toEqual([expect.objectContaining({ dataset_id: 'shop', source: 'trieve', insert_id: 'b-1' })]);
  });

  test('a batch, the key and the dataset in the body, from a wildcard subdomain: the dataset applies to the events that name none', async () => {
    const base = await gateway();
    const answer = await beacon(
      `${base}/v1/beacon`,
      {
        key: publishableKey,
        dataset_id: 'shop',
        events: [
          { source: 'trieve', event: view },
          { source: 'greenflash', event: { eventType: 'signup', productId: 'gf-shop', value: '1' } },
        ],
      },
      { origin: 'https://www.shop.example' },
    );
    expect(answer.status).toBe(204);
    expect(publisher.sent.map((e) => [e.source, e.dataset_id])).toEqual([
      ['trieve', 'shop'],
      ['greenflash', 'gf-shop'],
    ]);
  });

  test('application/json is taken too', async () => {
    const base = await gateway();
    const answer = await beacon(`${base}/v1/beacon?key=${publishableKey}`, { source: 'trieve', dataset_id: 'shop', event: view }, { origin: shop, 'content-type': 'application/json' });
    expect(answer.status).toBe(204);
    expect(publisher.sent).toHaveLength(1);
  });

  test('a secret key is refused, whether in the query string or the body, and nothing is published', async () => {
    const base = await gateway();
    for (const [url, body] of [
      [`${base}/v1/beacon?key=${secretKey}&dataset_id=shop`, { source: 'trieve', event: view }],
      [`${base}/v1/beacon`, { key: secretKey, source: 'trieve', dataset_id: 'shop', event: view }],
    ] as const) {
      const answer = await beacon(url, body);
      expect({ status: answer.status, body: answer.body }).toEqual({
        status: 403,
        body: { code: 'PUBLISHABLE_KEY_REQUIRED', message: expect.stringContaining('only publishable keys (pk_...)') as unknown },
      });
    }
    expect(publisher.sent).toEqual([]);
  });

  test('an origin the key does not allow, or no Origin at all, is refused and nothing is published', async () => {
    const base = await gateway();
    const url = `${base}/v1/beacon?key=${publishableKey}&dataset_id=shop`;
    const foreign = await beacon(url, { source: 'trieve', event: view }, { origin: 'https://evil.example' });
    expect(foreign.body).toEqual({ code: 'ORIGIN_NOT_ALLOWED', message: 'This API key may not be used from the origin "https://evil.example": it is not one of the key\'s origins (docs/keys.md)' });
    expect(foreign.status).toBe(403);
    // No key allows that origin, so the page may not even read the refusal.
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    const server = await beacon(url, { source: 'trieve', event: view }, { origin: undefined });
    expect({ status: server.status, body: server.body }).toEqual({ status: 403, body: { code: 'ORIGIN_NOT_ALLOWED', message: expect.stringContaining('no Origin header') as unknown } });
    expect(publisher.sent).toEqual([]);
  });

  test('the dev key of a gateway without a key file is accepted, from any origin', async () => {
    const base = await gateway(createDevKeyStore('dev-key-for-beacons'));
    const answer = await beacon(`${base}/v1/beacon?key=dev-key-for-beacons&dataset_id=anything`, { source: 'trieve', event: view }, { origin: 'http://localhost:5173' });
    expect(answer.status).toBe(204);
    expect(answer.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    expect(publisher.sent).toEqual([expect.objectContaining({ dataset_id: 'anything' })]);
  });

  test('a key missing, unknown, or given twice differently, is refused', async () => {
    const base = await gateway();
    const item = { source: 'trieve', dataset_id: 'shop', event: view };
    const missing = await beacon(`${base}/v1/beacon`, item);
    expect({ status: missing.status, body: missing.body }).toEqual({ status: 401, body: { code: 'UNAUTHORIZED', message: expect.stringContaining('?key=pk_') as unknown } });
    const unknown = await beacon(`${base}/v1/beacon?key=pk_0123456789ab_${'X'.repeat(43)}`, item);
    expect(unknown.status).toBe(401);
    const twice = await beacon(`${base}/v1/beacon?key=${publishableKey}`, { ...item, key: 'pk_other' });
    expect({ status: twice.status, body: twice.body }).toEqual({ status: 400, body: { code: 'INVALID_EVENT', message: "The body's key and the query string's key differ; give it once" } });
    expect(publisher.sent).toEqual([]);
  });

  test("an invalid event, or another dataset, gets the batch door's per-event report; the others are published", async () => {
    const base = await gateway();
    const answer = await beacon(`${base}/v1/beacon?key=${publishableKey}&dataset_id=shop`, {
      events: [
        { source: 'trieve', event: view },
        { source: 'trieve', event: { event_type: 'view' } },
        { source: 'trieve', dataset_id: 'not-mine', event: view },
      ],
    });
    expect(answer.status).toBe(207);
    expect(answer.body).toEqual({
      accepted: 1,
      duplicates: 0,
      rejected: 2,
      results: [
        { index: 0, status: 'accepted', event_id: expect.any(String) as unknown, insert_id: expect.any(String) as unknown },
        { index: 1, status: 'invalid', errors: expect.arrayContaining([expect.objectContaining({ path: expect.stringMatching(/^\/1\/event/) as unknown })]) as unknown },
        { index: 2, status: 'forbidden', insert_id: expect.any(String) as unknown, errors: [{ path: '/2', message: 'This API key may not write to trieve dataset "not-mine"' }] },
      ],
    });
    expect(answer.headers.get('access-control-allow-origin')).toBe(shop);
    expect(publisher.sent).toHaveLength(1);
  });

  test('a body that is not a beacon is refused naming the problem', async () => {
    const base = await gateway();
    const url = `${base}/v1/beacon?key=${publishableKey}&dataset_id=shop`;
    expect((await beacon(url, '{"source":')).body).toEqual({ code: 'INVALID_JSON', message: expect.stringContaining('not valid JSON') as unknown });
    const unknownField = await beacon(url, { events: [{ source: 'trieve', event: view }], extra: 1 });
    expect({ status: unknownField.status, code: (unknownField.body as { code: string }).code }).toEqual({ status: 400, code: 'INVALID_EVENT' });
    const empty = await beacon(url, { events: [] });
    expect(empty.status).toBe(400);
    const xml = await beacon(url, '<event/>', { origin: shop, 'content-type': 'application/xml' });
    expect({ status: xml.status, body: xml.body }).toEqual({ status: 415, body: { code: 'UNSUPPORTED_MEDIA_TYPE', message: expect.stringContaining('text/plain') as unknown } });
    const huge = await beacon(url, { source: 'trieve', event: { ...view, event_name: 'x'.repeat(maxBeaconBytes) } });
    expect({ status: huge.status, code: (huge.body as { code: string }).code }).toEqual({ status: 413, code: 'PAYLOAD_TOO_LARGE' });
    expect(publisher.sent).toEqual([]);
  });

  test("the key's rate applies: 429 with Retry-After", async () => {
    const base = await gateway(keyFileStore, createRateLimiter({ eventsPerSecond: 1, burst: 2, clock: () => 0 }));
    const url = `${base}/v1/beacon?key=${publishableKey}&dataset_id=shop`;
    const events = [view, view, view].map((event) => ({ source: 'trieve', event }));
    const answer = await beacon(url, { events });
    expect({ status: answer.status, retryAfter: answer.headers.get('retry-after'), code: (answer.body as { code: string }).code }).toEqual({ status: 429, retryAfter: '1', code: 'RATE_LIMITED' });
    expect(publisher.sent).toEqual([]);
  });

  test('Kafka not acknowledging: 503 with Retry-After and the insert ids a retry must reuse', async () => {
    const base = await gateway();
    publisher.failure = new SluiceError('KAFKA_UNAVAILABLE', 'Kafka did not acknowledge the event: no acknowledgement within 3000 ms');
    const answer = await beacon(`${base}/v1/beacon?key=${publishableKey}&dataset_id=shop`, { source: 'trieve', insert_id: 'b-9', event: view });
    expect({ status: answer.status, retryAfter: answer.headers.get('retry-after'), body: answer.body }).toEqual({
      status: 503,
      retryAfter: '1',
      body: { code: 'KAFKA_UNAVAILABLE', message: publisher.failure.message, insert_ids: [{ index: 0, insert_id: 'b-9' }] },
    });
    expect(answer.headers.get('access-control-allow-origin')).toBe(shop);
  });
});
