/**
 * 10,000 generated malformed bodies across every endpoint: truncated JSON, wrong types, huge
 * strings, deep nesting, __proto__ keys, invalid UTF-8 and random bytes. Each gets a 4xx; none
 * crashes the gateway, gets a 5xx, or reaches Kafka.
 */
import fc from 'fast-check';
import { fetchRetrying } from '../helpers/http';
import { startInProcessPipeline, type InProcessPipeline } from '../helpers/pipeline';

let pipeline: InProcessPipeline;

beforeAll(async () => {
  pipeline = await startInProcessPipeline();
});

afterAll(async () => {
  await pipeline.stop();
});

interface Target {
  method: 'PUT' | 'POST';
  path: string;
  headers: (key: string) => Record<string, string>;
  valid: Record<string, unknown>;
  /** Required fields: removing or mistyping any of them makes the body invalid. */
  required: string[];
}

const uuid = '6f2b6a56-2f5e-4c3b-8a0f-0d6c1f2e3a4b';
const targets: Target[] = [
  {
    method: 'PUT',
    path: '/api/analytics/events',
    headers: (key) => ({ authorization: `Bearer ${key}`, 'tr-dataset': 'fuzz' }),
    valid: { event_type: 'click', event_name: 'c', clicked_items: { chunk_id: uuid, position: 1 } },
    required: ['event_type', 'event_name'],
  },
  {
    method: 'PUT',
    path: '/api/analytics/ctr',
    headers: (key) => ({ authorization: key, 'tr-dataset': 'fuzz' }),
    valid: { request_id: uuid, ctr_type: 'search', position: 2 },
    required: ['request_id', 'ctr_type', 'position'],
  },
  {
    method: 'POST',
    path: '/analytics/event',
    headers: (key) => ({ 'x-neuralens-api-key': `Bearer ${key}`, 'x-neuralens-application-id': 'fuzz' }),
    valid: { uid: 'u', items: [{ id: 'AV768' }], page: 'SEARCH_RESULT_PAGE', event: 'CLICK_PRODUCT', index: 3, timestamp: 1715644800 },
    required: ['event', 'page', 'items', 'timestamp'],
  },
  {
    method: 'POST',
    path: '/api/v1/events',
    headers: (key) => ({ authorization: `Bearer ${key}` }),
    valid: { eventType: 'signup', productId: 'fuzz', value: '1' },
    required: ['eventType', 'productId', 'value'],
  },
];

/** A value of a type no required field accepts. */
const wrongValue = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.double({ noNaN: true }).filter((d) => !Number.isInteger(d)),
  fc.constant([]),
  fc.constant({}),
);

type Malformed = { target: Target; body: Buffer; label: string };

const malformed: fc.Arbitrary<Malformed> = fc.constantFrom(...targets).chain((target) => {
  const text = JSON.stringify(target.valid);
  const field = fc.constantFrom(...target.required);
  const withoutRequired = field.map((name) => Object.fromEntries(Object.entries(target.valid).filter(([k]) => k !== name)));
  return fc.oneof(
    fc.integer({ min: 1, max: text.length - 1 }).map((cut) => ({ target, body: Buffer.from(text.slice(0, cut)), label: 'truncated' })),
    fc.tuple(field, wrongValue).map(([name, value]) => ({ target, body: Buffer.from(JSON.stringify({ ...target.valid, [name]: value })), label: 'wrong type' })),
    fc.tuple(withoutRequired, fc.integer({ min: 1_000, max: 200_000 })).map(([body, size]) => ({
      target,
      body: Buffer.from(JSON.stringify({ ...body, padding: 'x'.repeat(size) })),
      label: 'huge string',
    })),
    fc.integer({ min: 33, max: 20_000 }).map((depth) => ({ target, body: Buffer.from(`{"a":${'['.repeat(depth)}${']'.repeat(depth)}}`), label: 'deep nesting' })),
    withoutRequired.map((body) => ({
      target,
      body: Buffer.from(`{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},${JSON.stringify(body).slice(1)}`),
      label: '__proto__',
    })),
    fc.tuple(field, fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([name, bytes]) => ({
      target,
      body: Buffer.concat([Buffer.from(`${JSON.stringify({ ...target.valid, [name]: null }).slice(0, -1)},"bad":"`), Buffer.from([0xc3, 0x28, 0xff, ...bytes]), Buffer.from('"}')]),
      label: 'invalid utf-8',
    })),
    fc.uint8Array({ minLength: 0, maxLength: 512 }).map((bytes) => ({ target, body: Buffer.from(bytes), label: 'random bytes' })),
  );
});

test('10,000 malformed bodies all get a 4xx and nothing reaches Kafka', async () => {
  const samples = fc.sample(malformed, { numRuns: 10_000, seed: 20261122 });
  const before = await pipeline.bus.countMessages(pipeline.topic);
  const statuses = new Map<string, number>();
  const unexpected: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < samples.length) {
      const sample = samples[next++];
      if (!sample) break;
      const response = await fetch(`${pipeline.gatewayUrl}${sample.target.path}`, {
        method: sample.target.method,
        headers: { 'content-type': 'application/json', ...sample.target.headers(pipeline.apiKey) },
        body: sample.body,
      });
      await response.arrayBuffer();
      statuses.set(`${sample.label} ${response.status}`, (statuses.get(`${sample.label} ${response.status}`) ?? 0) + 1);
      if (response.status < 400 || response.status >= 500) unexpected.push(`${sample.label} ${sample.target.path} -> ${response.status}: ${sample.body.subarray(0, 120).toString()}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  expect(unexpected).toEqual([]);
  expect([...statuses.values()].reduce((a, b) => a + b, 0)).toBe(10_000);
  // Every kind of damage was tried.
  expect(new Set([...statuses.keys()].map((k) => k.split(' ').slice(0, -1).join(' ')))).toEqual(
    new Set(['truncated', 'wrong type', 'huge string', 'deep nesting', '__proto__', 'invalid utf-8', 'random bytes']),
  );
  expect(await pipeline.bus.countMessages(pipeline.topic)).toBe(before);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();

  // Still alive and still accepting good events.
  expect((await fetch(`${pipeline.gatewayUrl}/healthz`)).status).toBe(200);
  const good = await fetchRetrying(`${pipeline.gatewayUrl}/api/analytics/events`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: pipeline.apiKey, 'tr-dataset': 'fuzz' },
    body: JSON.stringify(targets[0]?.valid),
  });
  expect(good.status).toBe(204);
});

test('malformed batches get a 4xx too', async () => {
  const bodies: [string, string][] = [
    ['application/json', '{"not":"an array"}'],
    ['application/json', '[{"source":"trieve"'],
    ['application/json', '[]'],
    ['application/x-ndjson', '\n\n'],
    ['application/x-ndjson', '{"source":"trieve","dataset_id":"d","event":{"event_type":"view"}}\nnot json'],
    ['application/x-ndjson', `{"a":${'['.repeat(100)}${']'.repeat(100)}}`],
    ['text/plain', 'hello'],
  ];
  for (const [type, body] of bodies) {
    const response = await fetch(`${pipeline.gatewayUrl}/v1/batch`, { method: 'POST', headers: { 'content-type': type, authorization: `Bearer ${pipeline.apiKey}` }, body });
    expect([type, body.slice(0, 40), response.status >= 400 && response.status < 500]).toEqual([type, body.slice(0, 40), true]);
  }
});
