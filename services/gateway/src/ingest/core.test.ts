/**
 * The ingest core called directly, without HTTP: a request in (method, target, headers, a body
 * stream), a reply out. Each door accepts an event; and one door each shows the refusals the
 * core owns: an unknown key, a body over the limit, a bad JSON body, Kafka down.
 */
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { SluiceError } from '@sluice/core';
import { recordingPublisher } from '../../../../test/helpers/recording-publisher';
import type { Reply } from '../http-errors';
import { ingest } from './core';
import { testIngestDeps } from './deps.test-support';

const apiKey = 'sk_dev_ingest_core';

/** A request as node:http would hand it over: lower-case header names, the body as a stream with its length declared. */
async function send(method: string, url: string, headers: Record<string, string>, body: string | Buffer): Promise<Reply & { json: unknown }> {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const lower = Object.fromEntries(Object.entries({ 'content-length': String(bytes.length), ...headers }).map(([name, value]) => [name.toLowerCase(), value]));
  const reply = await ingest({ method, url, headers: lower, body: Readable.from([bytes]) }, deps);
  if (reply === undefined) throw new Error(`${url} is no ingestion door`);
  return { ...reply, json: reply.body === undefined ? undefined : (JSON.parse(reply.body) as unknown) };
}

const json = { 'content-type': 'application/json' };
const trieve = { ...json, authorization: apiKey, 'tr-dataset': 'ds-core' };
const neuralensEvent = { uid: '3845', items: [{ id: 'AV768' }], page: 'SEARCH_RESULT_PAGE', event: 'CLICK_PRODUCT', timestamp: 1715644800 };
const trieveEvent = JSON.stringify({ event_type: 'view', event_name: 'page', items: ['a'] });

let recording = recordingPublisher();
let deps = testIngestDeps(recording.publisher, apiKey);
beforeEach(() => {
  recording = recordingPublisher();
  deps = testIngestDeps(recording.publisher, apiKey);
});

describe('each door accepts an event and publishes it', () => {
  test('Trieve events: 204', async () => {
    const reply = await send('PUT', '/api/analytics/events', trieve, trieveEvent);
    expect(reply.status).toBe(204);
    expect(recording.published).toHaveLength(1);
  });

  test('Trieve CTR: 204', async () => {
    const reply = await send('PUT', '/api/analytics/ctr', trieve, JSON.stringify({ request_id: '00000000-0000-4000-8000-000000000001', ctr_type: 'search', position: 1 }));
    expect(reply.status).toBe(204);
    expect(recording.published).toHaveLength(1);
  });

  test('Neuralens: 200 {status: success}', async () => {
    const headers = { ...json, 'x-neuralens-api-key': `Bearer ${apiKey}`, 'x-neuralens-application-id': 'app-core' };
    const reply = await send('POST', '/analytics/event', headers, JSON.stringify(neuralensEvent));
    expect({ status: reply.status, json: reply.json }).toEqual({ status: 200, json: { status: 'success', message: '' } });
    expect(recording.published).toHaveLength(1);
  });

  test('Greenflash: 200 with the event id', async () => {
    const reply = await send('POST', '/api/v1/events', { ...json, authorization: `Bearer ${apiKey}` }, JSON.stringify({ productId: 'prod-core', eventType: 'rating', value: '5' }));
    expect(reply.status).toBe(200);
    expect(reply.json).toEqual({ eventId: expect.any(String) as unknown, success: true });
  });

  test('the batch door: gzip-compressed NDJSON, 200 with a result per event', async () => {
    const ndjson = [0, 1].map((i) => JSON.stringify({ source: 'trieve', dataset_id: 'ds-core', event: { event_type: 'view', event_name: `page-${i}`, items: ['a'] } })).join('\n');
    const headers = { 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip', authorization: `Bearer ${apiKey}` };
    const reply = await send('POST', '/v1/batch', headers, gzipSync(ndjson));
    expect(reply.status).toBe(200);
    expect(reply.json).toMatchObject({ accepted: 2, duplicates: 0, rejected: 0 });
    expect(recording.published).toHaveLength(2);
  });

  test('the beacon door: 204', async () => {
    const body = JSON.stringify({ key: apiKey, source: 'trieve', dataset_id: 'ds-core', event: { event_type: 'view', event_name: 'page', items: ['a'] } });
    const reply = await send('POST', '/v1/beacon', { 'content-type': 'text/plain;charset=UTF-8' }, body);
    expect(reply.status).toBe(204);
    expect(recording.published).toHaveLength(1);
  });
});

describe('refusals, in the door\'s own shape', () => {
  test('an unknown key: 401', async () => {
    const trieveReply = await send('PUT', '/api/analytics/events', { ...trieve, authorization: 'sk_nobody' }, trieveEvent);
    expect({ status: trieveReply.status, json: trieveReply.json }).toEqual({ status: 401, json: { message: 'Invalid API key' } });
    const greenflashReply = await send('POST', '/api/v1/events', { ...json, authorization: 'sk_nobody' }, '{}');
    expect(greenflashReply.json).toEqual({ success: false, code: 'UNAUTHORIZED', message: 'Invalid API key' });
    const batchReply = await send('POST', '/v1/batch', { ...json, authorization: 'sk_nobody' }, '[]');
    expect(batchReply.json).toEqual({ code: 'UNAUTHORIZED', message: 'Invalid API key' });
  });

  test('a body over the limit: 413, by its declared length and as it streams in', async () => {
    const large = JSON.stringify({ event_type: 'view', event_name: 'x'.repeat(2000), items: ['a'] });
    const declared = await send('PUT', '/api/analytics/events', trieve, large);
    expect(declared.status).toBe(413);
    expect(declared.json).toEqual({ message: `The body is larger than the limit: ${large.length} bytes; the limit is 1024 bytes` });
    const compressed = await send('PUT', '/api/analytics/events', { ...trieve, 'content-encoding': 'gzip' }, gzipSync(large));
    expect(compressed.status).toBe(413);
    expect(recording.published).toHaveLength(0);
  });

  test('a bad JSON body: 400, naming the field', async () => {
    const malformed = await send('PUT', '/api/analytics/events', trieve, '{"event_type": "view",');
    expect(malformed.status).toBe(400);
    expect(malformed.json).toEqual({ message: expect.stringContaining('The body is not valid JSON') as unknown });
    const wrongField = await send('POST', '/analytics/event', { ...json, 'x-neuralens-api-key': apiKey, 'x-neuralens-application-id': 'app' }, JSON.stringify({ ...neuralensEvent, timestamp: 'yesterday' }));
    expect(wrongField.status).toBe(400);
    expect(wrongField.json).toEqual({ status: 'failure', message: 'Invalid field "/timestamp": must be integer' });
  });

  test('charsets: UTF-16 JSON is read as UTF-8 is; UTF-32 (not a JSON encoding, and one TextDecoder lacks) and latin1 get 415 naming the charset', async () => {
    const utf16 = Buffer.from(`\ufeff${trieveEvent}`, 'utf16le');
    expect((await send('PUT', '/api/analytics/events', { ...trieve, 'content-type': 'application/json; charset=utf-16le' }, utf16)).status).toBe(204);
    for (const charset of ['utf-32', 'latin1']) {
      const refused = await send('PUT', '/api/analytics/events', { ...trieve, 'content-type': `application/json; charset=${charset}` }, trieveEvent);
      expect([charset, refused.status, refused.json]).toEqual([charset, 415, { message: `unsupported charset "${charset.toUpperCase()}"` }]);
    }
    expect(recording.published).toHaveLength(1);
  });

  test('Kafka down: 503 with Retry-After, naming the insert_id a retry must reuse', async () => {
    recording.failure = new SluiceError('KAFKA_UNAVAILABLE', 'Kafka did not acknowledge the event');
    const reply = await send('PUT', '/api/analytics/events', trieve, trieveEvent);
    expect(reply.status).toBe(503);
    expect(reply.headers['Retry-After']).toBe('1');
    expect(reply.json).toEqual({ message: 'Kafka did not acknowledge the event', insert_id: expect.any(String) as unknown });
  });
});

test('a path that is no ingestion door is left to the application, its body untouched', async () => {
  const body = Readable.from([Buffer.from('{}')]);
  expect(await ingest({ method: 'GET', url: '/healthz', headers: {}, body }, deps)).toBeUndefined();
  expect(body.readableFlowing).toBeNull();
});
