import { maxEnvelopeBytes } from '@sluice/core';
import { oversizeReason } from './envelope';

const message = (value: string | Buffer) => ({ key: 'k', value, headers: {} });

test('a message is too large by its UTF-8 bytes, not its length in characters', () => {
  const threeByte = '€';
  const atLimit = threeByte.repeat(Math.floor(maxEnvelopeBytes / 3)) + 'a'.repeat(maxEnvelopeBytes % 3);
  expect(Buffer.byteLength(atLimit)).toBe(maxEnvelopeBytes);
  expect(oversizeReason(message(atLimit))).toBeUndefined();
  expect(oversizeReason(message(atLimit + 'a'))).toMatch(new RegExp(`^The event is ${maxEnvelopeBytes + 1} bytes once normalised`));
  // Fewer characters than the limit, more bytes: only measuring finds it.
  const overInBytes = threeByte.repeat(Math.floor(maxEnvelopeBytes / 3) + 1);
  expect(overInBytes.length).toBeLessThan(maxEnvelopeBytes);
  expect(oversizeReason(message(overInBytes))).toMatch(/^The event is \d+ bytes once normalised/);
  expect(oversizeReason(message('a'.repeat(maxEnvelopeBytes)))).toBeUndefined();
  expect(oversizeReason(message(Buffer.alloc(maxEnvelopeBytes + 1)))).toMatch(/over the 1048576-byte limit/);
});
