import { SluiceError } from '@sluice/core';
import { buildEnvelope, checkedMessages } from './index';

test("checking envelopes leaves the caller's envelopes as they were, defaults unfilled", () => {
  const envelope = buildEnvelope({ dataset_id: 'shop', event_type: 'view', insert_id: 'i-1', raw: { nested: { deep: [1, 2] } } }, 1_700_000_000_000);
  const before = structuredClone(envelope);
  const [message] = checkedMessages([envelope]);
  expect(envelope).toStrictEqual(before);
  expect(message).toEqual({ key: 'shop/i-1', value: JSON.stringify(before), headers: expect.objectContaining({ source: 'native' }) as unknown });
});

test('an invalid envelope is refused with its index and field, and nothing of the batch is returned', () => {
  const good = buildEnvelope({ dataset_id: 'shop', event_type: 'view' });
  const bad = { ...buildEnvelope({ dataset_id: 'shop', event_type: 'view' }), sample_rate: 2 };
  expect(() => checkedMessages([good, bad])).toThrow(SluiceError);
  expect(() => checkedMessages([good, bad])).toThrow(/^Nothing was sent: envelopes\[1\]: .*sample_rate/);
});
