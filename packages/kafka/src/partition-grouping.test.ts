import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import fc from 'fast-check';
import type { Message, PartitionMetadata } from 'kafkajs';
import { groupMessagesPerPartition, type GroupingArguments } from './partition-grouping';

/** kafkajs's own grouping: Jest's module registry is its own, so the require cache Sluice fills does not reach it. */
const kafkajsGrouping = jest.requireActual<(args: GroupingArguments) => Record<number, Message[]>>('kafkajs/src/producer/groupMessagesPerPartition');

const metadata = (partitions: number): PartitionMetadata[] => Array.from({ length: partitions }, (_, partitionId) => ({ partitionErrorCode: 0, partitionId, leader: 1, replicas: [1], isr: [1] }));

test("a send's messages are grouped as kafkajs groups them: the same partitions, each in the order sent", () => {
  expect(kafkajsGrouping).not.toBe(groupMessagesPerPartition);
  const messages = fc.array(fc.record({ key: fc.string({ maxLength: 8 }), value: fc.string({ maxLength: 8 }) }), { maxLength: 300 });
  fc.assert(
    fc.property(messages, fc.nat(12), (sent, partitions) => {
      // A partitioner as kafkajs calls it: by topic, metadata and message (here, by the key's first character).
      const partitioner: GroupingArguments['partitioner'] = ({ partitionMetadata, message }) => (String(message.key).charCodeAt(0) || 0) % Math.max(1, partitionMetadata.length);
      const args = { topic: 'events', partitionMetadata: metadata(partitions), messages: sent, partitioner };
      const grouped = groupMessagesPerPartition(args);
      const kafkajsGrouped = kafkajsGrouping(args);
      expect(grouped).toStrictEqual(kafkajsGrouped);
      expect(Object.keys(grouped)).toEqual(Object.keys(kafkajsGrouped));
    }),
    { numRuns: 500 },
  );
});

test('kafkajs groups with it wherever the package is loaded', () => {
  // A process of its own: the require cache is Node's there, as in the services.
  const probe = [
    `require(${JSON.stringify(require.resolve('tsx/cjs'))});`,
    `require(${JSON.stringify(join(__dirname, 'index.ts'))});`,
    `const { groupMessagesPerPartition } = require(${JSON.stringify(join(__dirname, 'partition-grouping.ts'))});`,
    `const used = require('kafkajs/src/producer/groupMessagesPerPartition') === groupMessagesPerPartition;`,
    `const sendLoaded = require.cache[require.resolve('kafkajs/src/producer/sendMessages')] !== undefined;`,
    `process.stdout.write(JSON.stringify({ used, sendLoaded }));`,
  ].join('\n');
  const answer = JSON.parse(execFileSync(process.execPath, ['-e', probe], { encoding: 'utf8' })) as unknown;
  expect(answer).toEqual({ used: true, sendLoaded: true });
});
