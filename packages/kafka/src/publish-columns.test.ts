import fc from 'fast-check';
import type { OutgoingMessage } from '@sluice/core';
import { columnsOf, publishesOf } from './publish-columns';

const sharedHeaders = Object.freeze({ 'content-type': 'application/vnd.sluice.envelope.v1+json', source: 'trieve' });

const messages: fc.Arbitrary<OutgoingMessage> = fc.record(
  {
    key: fc.string(),
    // Buffer.from(text) takes a slice of a shared pool: its bytes sit at an offset in a larger buffer.
    value: fc.oneof(fc.string({ unit: 'binary' }), fc.uint8Array().map((bytes) => Buffer.from(bytes)), fc.string().map((text) => Buffer.from(text))),
    headers: fc.oneof(fc.constant(sharedHeaders), fc.dictionary(fc.string(), fc.string(), { noNullPrototype: true })),
  },
  { requiredKeys: ['key', 'value'], noNullPrototype: true },
);
const publishes = fc.array(fc.tuple(fc.nat(), fc.array(messages, { maxLength: 20 })), { maxLength: 8 });

test('publishes cross to the publisher thread as columns and come back as they were, Buffers as Buffers', () => {
  fc.assert(
    fc.property(publishes, (sent) => {
      // structuredClone is what postMessage does to them.
      const received = publishesOf(structuredClone(columnsOf(sent)));
      expect(received).toStrictEqual(sent);
      for (const [, messagesReceived] of received) for (const { value } of messagesReceived) expect(typeof value === 'string' || Buffer.isBuffer(value)).toBe(true);
    }),
    { numRuns: 300 },
  );
});

test('a headers object shared by messages is sent once', () => {
  const sent: [number, OutgoingMessage[]][] = [
    [1, [{ key: 'a', value: '1', headers: sharedHeaders }, { key: 'b', value: '2', headers: sharedHeaders }, { key: 'c', value: '3' }]],
    [2, [{ key: 'd', value: '4', headers: sharedHeaders }]],
  ];
  const columns = columnsOf(sent);
  expect(columns.headerSets).toEqual([sharedHeaders, undefined]);
  expect(columns.headerSetOf).toEqual([0, 0, 1, 0]);
  expect(publishesOf(structuredClone(columns))).toStrictEqual(sent);
});
