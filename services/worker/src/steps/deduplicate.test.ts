import type { Envelope } from '@sluice/envelope';
import { createDeduplicateStep, dedupIdentity } from './deduplicate';

const base: Envelope = {
  schema_version: 1,
  event_id: '1f0e4a52-8d1c-4b8e-9a4e-2f6f5c1d9b10',
  insert_id: 'a',
  dataset_id: 'ds',
  source: 'native',
  event_type: 'view',
  event_name: 'view',
  occurred_at: 0,
  received_at: 0,
};

test('drops stored keys and repeats within the batch; the same insert_id in another dataset is a different event', async () => {
  const step = createDeduplicateStep({
    storedKeys: { storedAmong: async () => new Set([dedupIdentity({ dataset_id: 'ds', insert_id: 'stored' })]) },
  });
  const results = await step(
    [
      { ...base, insert_id: 'stored' },
      { ...base, insert_id: 'a' },
      { ...base, insert_id: 'a' },
      { ...base, insert_id: 'a', dataset_id: 'other' },
    ],
    { partition: 0, firstOffset: '10', lastOffset: '13' },
  );
  expect(results.map((r) => r.kind)).toEqual(['drop', 'ok', 'drop', 'ok']);
  expect(results[0]).toEqual({
    kind: 'drop',
    reason: 'duplicate: insert_id "stored" is already stored for this dataset',
  });
  expect(results[2]).toEqual({
    kind: 'drop',
    reason: 'duplicate: insert_id "a" appears earlier in the same batch',
  });
});

test('two pairs that share a Kafka key are still two events', async () => {
  const step = createDeduplicateStep({ storedKeys: { storedAmong: async () => new Set([dedupIdentity({ dataset_id: 'a/b', insert_id: 'c' })]) } });
  const results = await step(
    [
      { ...base, dataset_id: 'a', insert_id: 'b/c' },
      { ...base, dataset_id: 'a/b', insert_id: 'c' },
    ],
    { partition: 0, firstOffset: '0', lastOffset: '1' },
  );
  expect(results.map((r) => r.kind)).toEqual(['ok', 'drop']);
});
