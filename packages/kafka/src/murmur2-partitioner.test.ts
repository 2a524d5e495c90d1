import fc from 'fast-check';
import { Partitioners, type PartitionerArgs } from 'kafkajs';
import { murmur2, murmur2Partitioner } from './murmur2-partitioner';

test("murmur2 gives the Java client's values (its Utils test's keys)", () => {
  const javaValues: [string, number][] = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ];
  expect(javaValues.map(([key]) => [key, murmur2(key)])).toEqual(javaValues);
});

function argsFor(key: string | Buffer | null, partitions: number): PartitionerArgs {
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionErrorCode: 0, partitionId, leader: 1, replicas: [1], isr: [1] }));
  return { topic: 'events', partitionMetadata, message: { key, value: 'v' } };
}

test("every keyed message goes to the partition kafkajs's DefaultPartitioner picks, text or bytes", () => {
  const ours = murmur2Partitioner();
  const kafkajs = Partitioners.DefaultPartitioner();
  const key = fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.uint8Array({ maxLength: 80 }).map((bytes) => Buffer.from(bytes)));
  fc.assert(
    fc.property(key, fc.integer({ min: 1, max: 200 }), (k, partitions) => {
      expect(ours(argsFor(k, partitions))).toBe(kafkajs(argsFor(k, partitions)));
    }),
    { numRuns: 2_000 },
  );
});

test("a message's own partition wins, and keyless messages are spread over the partitions", () => {
  const ours = murmur2Partitioner();
  expect(ours({ ...argsFor('k', 6), message: { key: 'k', value: 'v', partition: 4 } })).toBe(4);
  const partitions = new Set(Array.from({ length: 60 }, () => ours(argsFor(null, 6))));
  expect(partitions.size).toBe(6);
});
