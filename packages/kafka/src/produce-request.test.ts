import fc from 'fast-check';
import { CompressionTypes } from 'kafkajs';
import produceRequests, { type ProduceArguments, type ProduceMessage } from 'kafkajs/src/protocol/requests/produce';
import { silentLogger } from '@sluice/core';
import { createKafkaBus } from './kafka-bus';
import { crc32c, encodeProduceRequest, installProduceEncoder } from './produce-request';

// kafkajs's own encoding, taken before any test installs ours (the table is the process's).
const kafkajsProtocol = produceRequests.protocol;
const kafkajsProduce = (version: number) => kafkajsProtocol({ version });

async function kafkajsBytes(args: ProduceArguments, now: number, version = 3): Promise<Buffer> {
  const clock = jest.spyOn(Date, 'now').mockReturnValue(now);
  try {
    const encoded = (await kafkajsProduce(version)(args).request.encode()) as { buffer: Buffer };
    return encoded.buffer;
  } finally {
    clock.mockRestore();
  }
}

const bytes = fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.uint8Array({ maxLength: 300 }).map((array) => Buffer.from(array)));
const headerValue = fc.oneof(bytes, fc.array(bytes, { minLength: 1, maxLength: 3 }));
const message: fc.Arbitrary<ProduceMessage> = fc.record(
  { key: fc.oneof(bytes, fc.constant(null)), value: fc.oneof(bytes, fc.constant(null)), headers: fc.dictionary(fc.string({ unit: 'binary', maxLength: 20 }), headerValue, { maxKeys: 3 }) },
  { requiredKeys: ['value'] },
);
const produceArguments: fc.Arbitrary<ProduceArguments> = fc.record(
  {
    acks: fc.constantFrom(-1, 0, 1),
    timeout: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    transactionalId: fc.oneof(fc.constant(null), fc.string({ unit: 'binary', minLength: 1, maxLength: 30 })),
    producerId: fc.bigInt({ min: -1n, max: 2n ** 63n - 1n }).map(String),
    producerEpoch: fc.integer({ min: 0, max: 32_767 }),
    topicData: fc.array(
      fc.record({
        topic: fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
        partitions: fc.array(
          fc.record({ partition: fc.integer({ min: 0, max: 1_000 }), firstSequence: fc.integer({ min: 0, max: 2 ** 31 - 1 }), messages: fc.array(message, { minLength: 1, maxLength: 6 }) }, { requiredKeys: ['partition', 'messages'] }),
          { minLength: 1, maxLength: 4 },
        ),
      }),
      { minLength: 1, maxLength: 3 },
    ),
  },
  { requiredKeys: ['acks', 'timeout', 'topicData'] },
);

test("CRC-32C gives the standard check value, and kafkajs's for any bytes", () => {
  // kafkajs ships no types for its internals; its crc32C is a function of a buffer.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const kafkajsCrc = require('kafkajs/src/protocol/recordBatch/crc32C') as (buffer: Buffer) => number;
  const check = Buffer.from('123456789');
  expect(crc32c(check, 0, check.length)).toBe(0xe3069283);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2_000 }), (array) => {
      const buffer = Buffer.from(array);
      expect(crc32c(buffer, 0, buffer.length)).toBe(kafkajsCrc(buffer));
    }),
  );
});

test('a produce request is byte for byte what kafkajs encodes, for any topics, partitions, keys, values and headers', async () => {
  await fc.assert(
    fc.asyncProperty(produceArguments, fc.integer({ min: 0, max: 2 ** 42 }), async (args, now) => {
      expect(encodeProduceRequest(args, now).equals(await kafkajsBytes(args, now))).toBe(true);
    }),
    { numRuns: 500 },
  );
});

test('a message of many bytes, and a record over 127 bytes of headers, take multi-byte varints the same way', async () => {
  const big = 'é'.repeat(70_000);
  const args: ProduceArguments = { acks: -1, timeout: 30_000, topicData: [{ topic: 'events', partitions: [{ partition: 2, messages: [{ key: 'k', value: big, headers: { a: 'x'.repeat(200), b: ['y', 'z'] } }] }] }] };
  expect(encodeProduceRequest(args, 1_700_000_000_000).equals(await kafkajsBytes(args, 1_700_000_000_000))).toBe(true);
});

describe('installed in kafkajs', () => {
  // As every process does: the bus puts the encoder in place when it is made (nothing connects here).
  beforeAll(() => void createKafkaBus({ brokers: ['127.0.0.1:1'], clientId: 'produce-request-test', logger: silentLogger }));

  const args: ProduceArguments = { acks: -1, timeout: 30_000, producerId: '7', producerEpoch: 1, topicData: [{ topic: 'events', partitions: [{ partition: 0, firstSequence: 3, messages: [{ key: 'k', value: 'v', headers: { source: 'trieve' } }] }] }] };

  test('once installed, installing again changes nothing', () => {
    const installed = produceRequests.protocol;
    installProduceEncoder();
    expect(produceRequests.protocol).toBe(installed);
  });

  test('every version from 3 sends these bytes, under its own version number', async () => {
    for (const version of [3, 4, 5, 6, 7]) {
      const { request } = produceRequests.protocol({ version })(args);
      expect(request.apiVersion).toBe(version);
      const clock = jest.spyOn(Date, 'now').mockReturnValue(1_700_000_000_000);
      const encoded = (await request.encode()) as { buffer: Buffer; buf: Buffer };
      clock.mockRestore();
      expect(Buffer.isBuffer(encoded.buf)).toBe(true);
      expect(encoded.buffer.equals(encodeProduceRequest(args, 1_700_000_000_000))).toBe(true);
    }
  });

  test('a compressed send, or a message with its own timestamp, keeps kafkajs encoding it', async () => {
    const compressed = { ...args, compression: CompressionTypes.GZIP };
    const stamped: ProduceArguments = { ...args, topicData: [{ topic: 'events', partitions: [{ partition: 0, messages: [{ key: 'k', value: 'v', timestamp: '1600000000000' }] }] }] };
    for (const kept of [compressed, stamped]) {
      const clock = jest.spyOn(Date, 'now').mockReturnValue(1_700_000_000_000);
      const encoded = (await produceRequests.protocol({ version: 3 })(kept).request.encode()) as object;
      clock.mockRestore();
      expect(encoded.constructor.name).toBe('Encoder');
    }
  });

  test('a header that is neither text nor bytes is left to kafkajs, which refuses it as it always did', async () => {
    const numbered = { ...args, topicData: [{ topic: 'events', partitions: [{ partition: 0, messages: [{ key: 'k', value: 'v', headers: { attempt: 2 } }] }] }] } as unknown as ProduceArguments;
    const kafkajsRefusal = await kafkajsProduce(3)(numbered).request.encode().catch((error: unknown) => error);
    expect(kafkajsRefusal).toMatchObject({ name: 'TypeError' });
    await expect(produceRequests.protocol({ version: 3 })(numbered).request.encode()).rejects.toEqual(kafkajsRefusal);
  });
});
