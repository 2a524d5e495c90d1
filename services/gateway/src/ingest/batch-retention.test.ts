/**
 * While the batch door waits for Kafka, it keeps only what its answer needs: the publisher lets go
 * of the messages once it has handed them on, and then nothing of the gateway may hold them (nor
 * the parsed items), or every young-generation collection copies them for each batch in flight.
 */
import { Readable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { EventPublisher, OutgoingMessage } from '@sluice/core';
import { doorFor, ingestAt } from './core';
import { testIngestDeps } from './deps.test-support';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const apiKey = 'sk_test_0123456789abcdef';

test('the messages of a batch waiting for Kafka can be collected once the publisher has handed them on', async () => {
  let handedOn: WeakRef<readonly OutgoingMessage[]> | undefined;
  let acknowledge: () => void = () => undefined;
  // As the threaded publisher does: the messages go to the Kafka thread, and only the answer is awaited.
  const publisher: EventPublisher = {
    publish(messages) {
      handedOn = new WeakRef(messages);
      return new Promise<void>((resolve) => (acknowledge = resolve));
    },
    isConnected: () => true,
    close: () => Promise.resolve(),
  };
  const deps = { ...testIngestDeps(publisher, apiKey), batchLimits: { maxEvents: 1_000, maxBytes: 1 << 20 } };
  const body = Array.from({ length: 200 }, (_, i) => JSON.stringify({ source: 'trieve', dataset_id: 'shop', insert_id: `e-${i}`, event: { event_type: 'view', event_name: 'viewed', items: ['sku-1'] } })).join('\n');
  const door = doorFor('/v1/batch');
  if (door === undefined) throw new Error('no batch door');
  const bytes = Buffer.from(body);
  const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/x-ndjson', 'content-length': String(bytes.length) };
  const answered = ingestAt(door, { method: 'POST', url: '/v1/batch', headers, body: Readable.from([bytes]) }, deps);
  for (let turns = 0; handedOn === undefined; turns++) {
    if (turns > 1_000) throw new Error(`nothing was published: ${JSON.stringify(await Promise.race([answered, Promise.resolve('still waiting')]))}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
  // A WeakRef's target stays alive until the job that made it ends.
  await new Promise((resolve) => setImmediate(resolve));
  collectGarbage();
  collectGarbage();
  expect(handedOn.deref()?.length).toBeUndefined();
  acknowledge();
  const reply = await answered;
  expect(reply.status).toBe(200);
  expect(JSON.parse(String(reply.body))).toMatchObject({ accepted: 200, duplicates: 0, rejected: 0 });
});
