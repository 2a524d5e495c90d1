/**
 * Poison messages straight onto Kafka (as a Kafka-native producer might write them): each becomes
 * one events_rejected row and one dead-letter message, and the events after it still arrive.
 */
import { startInProcessPipeline, waitFor, type InProcessPipeline } from '../helpers/pipeline';

let pipeline: InProcessPipeline;

beforeAll(async () => {
  // The events topic's own limit (eventsTopicConfig, 2 MiB) lets a message over the worker's 1 MiB limit through.
  pipeline = await startInProcessPipeline({ partitions: 2 });
});

afterAll(async () => {
  await pipeline.stop();
});

const valid = {
  schema_version: 1,
  event_id: '1f0e4a52-8d1c-4b8e-9a4e-2f6f5c1d9b10',
  insert_id: 'after-the-poison',
  dataset_id: 'ds-poison',
  source: 'native',
  event_type: 'purchase',
  event_name: 'order',
  occurred_at: 1715644800000,
  received_at: 1715644800123,
};

test('not JSON, schema-invalid and oversized messages become one events_rejected row each; the events after them arrive', async () => {
  const notJson = Buffer.from('{no json');
  const schemaInvalid = Buffer.from(JSON.stringify({ ...valid, insert_id: 'bad-type', event_type: 'Not Snake Case' }));
  const oversized = Buffer.from(JSON.stringify({ ...valid, insert_id: 'too-big', properties: { blob: 'x'.repeat(1024 * 1024) } }));
  // One key: one partition, so the valid event is behind the poison in the same partition.
  const key = 'ds-poison/after-the-poison';
  await pipeline.publisher.publish([
    { key, value: notJson },
    { key, value: schemaInvalid },
    { key, value: oversized },
    { key, value: JSON.stringify(valid) },
  ]);

  await waitFor(
    async () => ((await pipeline.clickhouse.queryRows(`SELECT 1 FROM events WHERE insert_id = 'after-the-poison'`)).length === 1 ? true : undefined),
    'the valid event behind the poison',
    60_000,
  );
  const rejected = await pipeline.clickhouse.queryRows<{ step: string; reason: string; dataset_id: string; insert_id: string; raw_bytes: number; raw_base64: string }>(
    `SELECT step, reason, dataset_id, insert_id, raw_bytes, raw_base64 FROM events_rejected FINAL WHERE kafka_topic = {topic:String} ORDER BY kafka_offset`,
    { topic: pipeline.topic },
  );
  expect(rejected.map((r) => [r.step, r.dataset_id, r.insert_id, r.raw_bytes])).toEqual([
    ['parse', '', '', notJson.length],
    ['validate', 'ds-poison', 'bad-type', schemaInvalid.length],
    ['parse', '', '', oversized.length],
  ]);
  expect(rejected[0]?.reason).toMatch(/^the message is not JSON/);
  expect(rejected[1]?.reason).toContain('/event_type');
  expect(rejected[2]?.reason).toBe(`the message is ${oversized.length} bytes, over the 1048576-byte limit`);
  // The exact bytes, for replay.
  expect(rejected.map((r) => Buffer.from(r.raw_base64, 'base64'))).toEqual([notJson, schemaInvalid, oversized]);
  expect(await pipeline.bus.countMessages(pipeline.deadLetterTopic)).toBe(3);
});
