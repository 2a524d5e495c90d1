/**
 * The dedup window is measured by ClickHouse's clock, never by the client's received_at: a
 * canonical envelope that says it was received in 1970 (or in 2100) is still a duplicate of its
 * stored copy, whether it comes through POST /v1/batch or straight onto the topic.
 */
import { randomUUID } from 'node:crypto';
import { createNativeProducer } from '@sluice/producer';
import type { Envelope } from '@sluice/envelope';
import { startInProcessPipeline, testBrokers, waitFor, type InProcessPipeline } from '../helpers/pipeline';

let pipeline: InProcessPipeline;

beforeAll(async () => {
  pipeline = await startInProcessPipeline();
});

afterAll(async () => {
  await pipeline.stop();
});

function envelope(insertId: string, receivedAt: number): Envelope {
  return {
    schema_version: 1,
    event_id: randomUUID(),
    insert_id: insertId,
    dataset_id: 'ds-window',
    source: 'native',
    event_type: 'purchase',
    event_name: 'order_completed',
    occurred_at: Date.now(),
    received_at: receivedAt,
  };
}

function outcome(name: string): number {
  return pipeline.workerStats.outcomes.get(name) ?? 0;
}

/** The worker has decided on `copies` messages of the dataset and stored every one it kept. */
async function decided(copies: number): Promise<void> {
  await waitFor(
    async () => {
      const done = outcome('dedup:ok') + outcome('dedup:drop') >= copies && pipeline.workerStats.storedRows === outcome('dedup:ok');
      return done ? true : undefined;
    },
    `the worker to decide on ${copies} copies`,
  );
}

async function rowsOf(insertId: string): Promise<number> {
  const [row] = await pipeline.clickhouse.queryRows<{ rows: number }>(`SELECT count() AS rows FROM events WHERE dataset_id = 'ds-window' AND insert_id = {id:String}`, {
    id: insertId,
  });
  return row?.rows ?? 0;
}

async function sendThroughBatchDoor(event: Envelope): Promise<void> {
  for (;;) {
    const response = await fetch(`${pipeline.gatewayUrl}/v1/batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${pipeline.apiKey}`, 'content-type': 'application/x-ndjson' },
      body: JSON.stringify(event),
    });
    const reply = (await response.json()) as { accepted?: number };
    // A 503 is Kafka's hiccup, not the test's subject: wait and send again, as a client would.
    if (response.status === 503) {
      await new Promise((resolve) => setTimeout(resolve, 1000 * Number(response.headers.get('retry-after') ?? '1')));
      continue;
    }
    expect([response.status, reply.accepted]).toEqual([200, 1]);
    return;
  }
}

// Each copy is sent once the one before is stored, so the two land in different blocks and only
// the lookup in dedup_keys (not the block's own dedup) can drop the second.
test.each([
  ['received_at 0, through POST /v1/batch', 'batch', 0],
  ['received_at in 2100, through POST /v1/batch', 'batch', Date.UTC(2100, 0, 1)],
  ['received_at 0, straight onto the topic', 'native', 0],
] as const)('the same insert_id sent twice with %s is stored once', async (_what, door, receivedAt) => {
  const insertId = `window-${door}-${receivedAt}`;
  const first = outcome('dedup:ok') + outcome('dedup:drop');
  const droppedBefore = outcome('dedup:drop');
  const send =
    door === 'batch'
      ? sendThroughBatchDoor
      : async (event: Envelope): Promise<void> => {
          const producer = await createNativeProducer({ brokers: testBrokers(), topic: pipeline.topic });
          try {
            await producer.send([event]);
          } finally {
            await producer.close();
          }
        };

  await send(envelope(insertId, receivedAt));
  await decided(first + 1);
  expect(await rowsOf(insertId)).toBe(1);

  await send(envelope(insertId, receivedAt));
  await decided(first + 2);
  expect(await rowsOf(insertId)).toBe(1);
  expect(outcome('dedup:drop')).toBe(droppedBefore + 1);
});
