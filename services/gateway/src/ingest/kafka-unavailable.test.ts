/**
 * A 503 after Kafka did not acknowledge in time is ambiguous: the event may still arrive. Each door
 * then tells the client the insert_id it made up, so that a retry reusing it is stored once. Kafka
 * is not what is tested here: a publisher that refuses as ours does when a send times out stands in.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SluiceError, silentLogger, type EventPublisher, type OutgoingMessage } from '@sluice/core';
import { createDevKeyStore } from '@sluice/tenancy';
import { createApp } from '../app';

const apiKey = 'sk_dev_kafka_unavailable';
/** What the real publisher says when the broker's acknowledgement does not come in time. */
const timedOut = new SluiceError('KAFKA_UNAVAILABLE', 'Kafka did not acknowledge the event: no acknowledgement within 3000 ms');

type SentEnvelope = { insert_id: string; event_id: string; dataset_id: string };

/** Refuses with `failure` while it is set, else acknowledges; keeps every envelope it was given. */
const publisher: EventPublisher & { failure: SluiceError | undefined; sent: SentEnvelope[] } = {
  failure: timedOut,
  sent: [],
  publish(messages: readonly OutgoingMessage[]): Promise<void> {
    for (const message of messages) publisher.sent.push(JSON.parse(message.value.toString()) as SentEnvelope);
    return publisher.failure === undefined ? Promise.resolve() : Promise.reject(publisher.failure);
  },
  isConnected: () => true,
  close: () => Promise.resolve(),
};

let server: Server;
let baseUrl: string;

beforeAll(async () => {
  server = createServer(createApp({ publisher, keyStore: createDevKeyStore(apiKey), logger: silentLogger, kafkaReadiness: () => Promise.resolve(undefined) }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

beforeEach(() => {
  publisher.failure = timedOut;
  publisher.sent = [];
});

interface Door {
  name: string;
  path: string;
  method: 'PUT' | 'POST';
  headers: Record<string, string>;
  body: object;
  /** The dialect's error body for KAFKA_UNAVAILABLE, without the insert_id. */
  refusal: object;
  ok: number;
}

const message = timedOut.message;
const doors: Door[] = [
  {
    name: 'Trieve events',
    path: '/api/analytics/events',
    method: 'PUT',
    headers: { authorization: apiKey, 'tr-dataset': 'shop' },
    body: { event_type: 'view', event_name: 'v', items: [] },
    refusal: { message },
    ok: 204,
  },
  {
    name: 'Trieve CTR',
    path: '/api/analytics/ctr',
    method: 'PUT',
    headers: { authorization: `Bearer ${apiKey}`, 'tr-dataset': 'shop' },
    body: { request_id: '6f2b6a56-2f5e-4c3b-8a0f-0d6c1f2e3a4b', ctr_type: 'search', position: 0 },
    refusal: { message },
    ok: 204,
  },
  {
    name: 'Neuralens',
    path: '/analytics/event',
    method: 'POST',
    headers: { 'x-neuralens-api-key': `Bearer ${apiKey}`, 'x-neuralens-application-id': 'shop' },
    body: { items: [{ id: 'x' }], page: 'PRODUCT_PAGE', event: 'SHARE', timestamp: 1715644800 },
    refusal: { status: 'failure', message },
    ok: 200,
  },
  {
    name: 'Greenflash',
    path: '/api/v1/events',
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}` },
    body: { eventType: 'signup', productId: 'shop', value: '1' },
    refusal: { success: false, code: 'KAFKA_UNAVAILABLE', message },
    ok: 200,
  },
];

async function send(door: Pick<Door, 'path' | 'method' | 'headers' | 'body'>, headers: Record<string, string> = {}): Promise<{ status: number; retryAfter: string | null; body: unknown }> {
  const response = await fetch(`${baseUrl}${door.path}`, {
    method: door.method,
    headers: { 'content-type': 'application/json', ...door.headers, ...headers },
    body: JSON.stringify(door.body),
  });
  const text = await response.text();
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

describe.each(doors.map((d) => [d.name, d] as const))('%s', (_name, door) => {
  test('without an Idempotency-Key, the 503 names the insert_id the gateway made up; a retry with it as Idempotency-Key is the same event', async () => {
    const refused = await send(door);
    const [attempt] = publisher.sent;
    expect(attempt?.insert_id).toBe(attempt?.event_id);
    expect(refused).toEqual({ status: 503, retryAfter: '1', body: { ...door.refusal, insert_id: attempt?.insert_id } });

    publisher.failure = undefined;
    const retried = await send(door, { 'idempotency-key': attempt?.insert_id ?? '' });
    expect(retried.status).toBe(door.ok);
    const [, retry] = publisher.sent;
    // Same dataset and insert_id: the worker stores the pair once, whichever copies reach Kafka.
    expect([retry?.dataset_id, retry?.insert_id]).toEqual([attempt?.dataset_id, attempt?.insert_id]);
    expect(retry?.event_id).not.toBe(attempt?.event_id);
  });

  test('with an Idempotency-Key the client knows its insert_id: the 503 is the plain refusal', async () => {
    expect(await send(door, { 'idempotency-key': 'order-1001' })).toEqual({ status: 503, retryAfter: '1', body: door.refusal });
    expect(publisher.sent.map((e) => e.insert_id)).toEqual(['order-1001']);
  });

  test('a 503 before anything was sent (the publish buffer is full) names no insert_id', async () => {
    publisher.failure = new SluiceError('PUBLISH_BUFFER_FULL', 'The publish buffer holds 100000 messages, its limit');
    const refused = await send(door);
    expect(refused.status).toBe(503);
    expect(refused.retryAfter).toBe('1');
    expect(refused.body).not.toHaveProperty('insert_id');
  });
});

test("Greenflash: an insertId in the body is the client's own, so the 503 is the plain refusal", async () => {
  const greenflash = doors[3];
  if (greenflash === undefined) throw new Error('no Greenflash door');
  expect(await send({ ...greenflash, body: { ...greenflash.body, insertId: 'gf-7' } })).toEqual({ status: 503, retryAfter: '1', body: greenflash.refusal });
});

describe('POST /v1/batch', () => {
  const batch = (headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${baseUrl}/v1/batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/x-ndjson', ...headers },
      body: [
        JSON.stringify({ source: 'trieve', dataset_id: 'shop', event: { event_type: 'view', event_name: 'v', items: [] } }),
        JSON.stringify({ source: 'greenflash', event: { eventType: 'signup', productId: 'shop', value: '1', insertId: 'gf-1' } }),
        JSON.stringify({ source: 'trieve', dataset_id: 'shop', event: { event_type: 'no such type' } }),
        JSON.stringify({
          schema_version: 1,
          event_id: '0b9c6a1e-5f0e-4a8e-9d0e-111111111111',
          insert_id: 'env-1',
          dataset_id: 'shop',
          source: 'native',
          event_type: 'purchase',
          event_name: 'order',
          occurred_at: 1715644800000,
          received_at: 1715644800000,
        }),
      ].join('\n'),
    });

  test('the 503 lists the insert_id of every event that was being published, made up or not, by index', async () => {
    const response = await batch();
    expect([response.status, response.headers.get('retry-after')]).toEqual([503, '1']);
    const madeUp = publisher.sent[0]?.insert_id;
    expect(madeUp).toBe(publisher.sent[0]?.event_id);
    expect(await response.json()).toEqual({
      code: 'KAFKA_UNAVAILABLE',
      message,
      insert_ids: [
        { index: 0, insert_id: madeUp },
        { index: 1, insert_id: 'gf-1' },
        { index: 3, insert_id: 'env-1' },
      ],
    });
  });

  test('with an Idempotency-Key the list carries the ids made from it, which a retry with the same key makes again', async () => {
    const refused = await batch({ 'idempotency-key': 'b-9' });
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { insert_ids: unknown }).insert_ids).toEqual([
      { index: 0, insert_id: 'b-9/0' },
      { index: 1, insert_id: 'gf-1' },
      { index: 3, insert_id: 'env-1' },
    ]);
    publisher.failure = undefined;
    const retried = await batch({ 'idempotency-key': 'b-9' });
    expect(retried.status).toBe(207);
    expect(publisher.sent.map((e) => e.insert_id)).toEqual(['b-9/0', 'gf-1', 'env-1', 'b-9/0', 'gf-1', 'env-1']);
  });

  test('a 503 before anything was sent names no insert ids', async () => {
    publisher.failure = new SluiceError('SHUTTING_DOWN', 'The gateway is shutting down');
    const response = await batch();
    expect([response.status, response.headers.get('retry-after')]).toEqual([503, '1']);
    expect(await response.json()).toEqual({ code: 'SHUTTING_DOWN', message: 'The gateway is shutting down' });
  });
});
