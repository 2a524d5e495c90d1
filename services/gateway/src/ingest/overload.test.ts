/**
 * Overload through the ingest core: with its cap of requests in flight all waiting on a slow Kafka,
 * one more request is shed at once (503 OVERLOADED, Retry-After, in its door's shape) with its body
 * unread and nothing published; once those in flight are answered, requests are taken again.
 */
import { Readable } from 'node:stream';
import type { EventPublisher, OutgoingMessage } from '@sluice/core';
import type { Reply } from '../http-errors';
import { ingest } from './core';
import { testIngestDeps } from './deps.test-support';
import type { IngestDeps } from './door';
import type { IngestRequest } from './request';

const apiKey = 'sk_dev_overload';
const cap = 3;

/**
 * Holds every publish until release() is called; one beyond the cap fails (a 500), so a request
 * that got past the cap is seen at once instead of waiting for a release that never comes.
 */
function slowPublisher(): EventPublisher & { held: OutgoingMessage[][]; release(): void } {
  let releaseAll: () => void = () => undefined;
  let released = new Promise<void>((resolve) => (releaseAll = resolve));
  let holding = true;
  const publisher = {
    held: [] as OutgoingMessage[][],
    async publish(messages: readonly OutgoingMessage[]): Promise<void> {
      if (holding && publisher.held.length === cap) throw new Error(`a publish beyond the ${cap} in flight`);
      publisher.held.push([...messages]);
      await released;
    },
    release(): void {
      holding = false;
      releaseAll();
      released = Promise.resolve();
    },
    isConnected: () => true,
    close: () => Promise.resolve(),
  };
  return publisher;
}

const trieveEvent = Buffer.from(JSON.stringify({ event_type: 'view', event_name: 'page', items: ['a'] }));
const trieveHeaders = { 'content-type': 'application/json', authorization: apiKey, 'tr-dataset': 'ds-overload', 'content-length': String(trieveEvent.length) };

function trieveRequest(): IngestRequest {
  return { method: 'PUT', url: '/api/analytics/events', headers: trieveHeaders, body: Readable.from([trieveEvent]) };
}

async function answered(request: IngestRequest, deps: IngestDeps): Promise<Reply> {
  const reply = await ingest(request, deps);
  if (reply === undefined) throw new Error(`${request.url} is no ingestion door`);
  return reply;
}

/** Lets the requests started run until each waits on the publisher. */
async function untilHeld(publisher: { held: unknown[] }, count: number): Promise<void> {
  while (publisher.held.length < count) await new Promise((resolve) => setImmediate(resolve));
}

test(`with ${cap} requests in flight, one more is shed with 503 OVERLOADED and Retry-After, unread and unpublished; afterwards requests are taken again`, async () => {
  const publisher = slowPublisher();
  const deps = testIngestDeps(publisher, apiKey, cap);
  const inFlight = Array.from({ length: cap }, () => answered(trieveRequest(), deps));
  await untilHeld(publisher, cap);

  const shedTrieve = trieveRequest();
  const trieveReply = await answered(shedTrieve, deps);
  expect(trieveReply.status).toBe(503);
  expect(trieveReply.headers['Retry-After']).toBe('1');
  expect(JSON.parse(trieveReply.body ?? '')).toEqual({ message: `The gateway is serving ${cap} requests, its limit; retry in 1 s` });
  expect(shedTrieve.body.readableFlowing).toBeNull();

  // Each door refuses in its own shape: the batch door with its code.
  const batch: IngestRequest = { method: 'POST', url: '/v1/batch', headers: { 'content-type': 'application/x-ndjson', authorization: `Bearer ${apiKey}`, 'content-length': '2' }, body: Readable.from([Buffer.from('{}')]) };
  const batchReply = await answered(batch, deps);
  expect({ status: batchReply.status, retryAfter: batchReply.headers['Retry-After'], json: JSON.parse(batchReply.body ?? '') as unknown }).toEqual({
    status: 503,
    retryAfter: '1',
    json: { code: 'OVERLOADED', message: expect.stringContaining('its limit') as unknown },
  });
  expect(batch.body.readableFlowing).toBeNull();
  expect(publisher.held).toHaveLength(cap);
  expect(await deps.metrics.requestsShed.get()).toMatchObject({
    values: [
      { labels: { dialect: 'trieve' }, value: 1 },
      { labels: { dialect: 'batch' }, value: 1 },
    ],
  });

  publisher.release();
  expect((await Promise.all(inFlight)).map((reply) => reply.status)).toEqual(Array.from({ length: cap }, () => 204));
  expect(deps.admission.inFlight).toBe(0);
  expect((await answered(trieveRequest(), deps)).status).toBe(204);
});

test('a refused request gives its place back too', async () => {
  const deps = testIngestDeps(slowPublisher(), apiKey, cap);
  for (let i = 0; i <= cap; i++) {
    const reply = await answered({ ...trieveRequest(), headers: { ...trieveHeaders, authorization: 'sk_nobody' } }, deps);
    expect(reply.status).toBe(401);
  }
  expect(deps.admission.inFlight).toBe(0);
});
