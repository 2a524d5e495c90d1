import type { Envelope } from '@sluice/envelope';
import { toEventRow } from './event-row';

const envelope: Envelope = {
  schema_version: 1,
  event_id: '1f0e4a52-8d1c-4b8e-9a4e-2f6f5c1d9b10',
  insert_id: 'order-1',
  dataset_id: 'ds',
  source: 'trieve',
  event_type: 'purchase',
  event_name: 'order',
  occurred_at: 1715644800000,
  received_at: 1715644800123,
};
const lineage = { topic: 'events', partition: 1, offset: '7' };

test.each([
  [0.7 + 0.1, 0.8],
  [0.1 + 0.2, 0.3],
  [19.99 + 0.01, 20],
  [12.3456785, 12.345679],
  [-2.5, -2.5],
])('revenue %p is stored rounded to 6 decimals: %p (ClickHouse would truncate)', (revenue, stored) => {
  expect(toEventRow({ ...envelope, revenue }, lineage).revenue).toBe(stored);
});

test('no revenue stays null', () => {
  expect(toEventRow(envelope, lineage).revenue).toBeNull();
  expect(toEventRow({ ...envelope, revenue: null }, lineage).revenue).toBeNull();
});
