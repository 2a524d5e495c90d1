/**
 * Replay: a message rejected by the schema is published again, with the same bytes and key, once
 * the schema accepts it; then it is stored with its original insert_id, and replay does not repeat it.
 */
import { validateEnvelope, type Envelope } from '@sluice/envelope';
import { createReplayer, createValidateEnvelopeStep, ok, type StepResult } from '@sluice/worker';
import { startInProcessPipeline, waitFor, type InProcessPipeline } from '../helpers/pipeline';

/** The schema in force: today it refuses upper-case event types; after the "fix" it accepts them. */
let schemaFixed = false;
const strict = createValidateEnvelopeStep();
function currentSchema(value: unknown): StepResult<Envelope> {
  const result = strict(value);
  if (result.kind === 'ok' || !schemaFixed || typeof value !== 'object' || value === null) return result;
  const lowered = validateEnvelope({ ...value, event_type: String((value as { event_type?: unknown }).event_type).toLowerCase() });
  return lowered.ok ? ok(lowered.value) : result;
}

let pipeline: InProcessPipeline;

beforeAll(async () => {
  pipeline = await startInProcessPipeline({ partitions: 1, validate: currentSchema });
});

afterAll(async () => {
  await pipeline.stop();
});

const envelope = {
  schema_version: 1,
  event_id: '1f0e4a52-8d1c-4b8e-9a4e-2f6f5c1d9b10',
  insert_id: 'signup-77',
  dataset_id: 'ds-replay',
  source: 'native',
  event_type: 'Signup',
  event_name: 'signup',
  occurred_at: 1715644800000,
  received_at: 1715644800123,
};

async function rejectedCount(): Promise<number> {
  const [row] = await pipeline.clickhouse.queryRows<{ n: number }>(`SELECT count() AS n FROM events_rejected FINAL WHERE insert_id = 'signup-77'`);
  return row?.n ?? 0;
}

test('a rejected message is replayed after the schema fix, stored once with its insert_id, and not replayed twice', async () => {
  const bytes = JSON.stringify(envelope);
  await pipeline.publisher.publish([{ key: 'ds-replay/signup-77', value: bytes }]);
  await waitFor(async () => ((await rejectedCount()) === 1 ? true : undefined), 'the rejected row');
  const replay = createReplayer({ shards: [{ clickhouse: pipeline.clickhouse, rejected: 'events_rejected', replayed: 'events_replayed' }], publisher: pipeline.publisher, validate: currentSchema });

  // Before the fix: still rejected, nothing published.
  const before = await replay({ dataset_id: 'ds-replay' });
  expect(before).toMatchObject({ examined: 1, published: 0, dryRun: false });
  expect(before.stillRejected[0]?.reason).toContain('/event_type');
  const messagesBefore = await pipeline.bus.countMessages(pipeline.topic);

  schemaFixed = true;
  expect(await replay({ dataset_id: 'ds-replay', dry_run: true })).toMatchObject({ examined: 1, published: 1, stillRejected: [], dryRun: true });
  expect(await pipeline.bus.countMessages(pipeline.topic)).toBe(messagesBefore);
  expect(await replay({ dataset_id: 'ds-replay' })).toMatchObject({ examined: 1, published: 1, stillRejected: [] });
  expect(await pipeline.bus.countMessages(pipeline.topic)).toBe(messagesBefore + 1);

  const stored = await waitFor(async () => {
    const rows = await pipeline.clickhouse.queryRows<{ insert_id: string; event_type: string; raw_text: string }>(
      `SELECT insert_id, event_type FROM events WHERE dataset_id = 'ds-replay'`,
    );
    return rows.length > 0 ? rows : undefined;
  }, 'the replayed event');
  expect(stored).toEqual([{ insert_id: 'signup-77', event_type: 'signup' }]);
  // Already published: a second replay finds nothing to do, and the events table still has one row.
  expect(await replay({ dataset_id: 'ds-replay' })).toMatchObject({ examined: 0, published: 0 });
  const [count] = await pipeline.clickhouse.queryRows<{ n: number }>(`SELECT count() AS n FROM events WHERE dataset_id = 'ds-replay'`);
  expect(count?.n).toBe(1);
});
