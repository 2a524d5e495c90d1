/** The Kafka consumer against the real broker: commit only after the handler, redeliver on failure. */
import type { ConsumedBatch } from '@sluice/core';
import { createKafkaBus } from '@sluice/kafka';
import { testBrokers, testLogger, uniqueName, waitFor } from '../helpers/pipeline';

test('a batch whose handler fails is delivered again, and the consumer keeps going', async () => {
  const bus = createKafkaBus({ brokers: testBrokers(), clientId: 'sluice-consumer-test', logger: testLogger });
  const topic = uniqueName('redeliver');
  await bus.ensureTopics([{ name: topic, partitions: 1 }]);
  const publisher = await bus.createPublisher({ topic });
  await publisher.publish([{ key: 'k', value: 'first' }]);

  const seen: string[] = [];
  let failures = 0;
  const groupId = uniqueName('group');
  const consumer = await bus.createConsumer({ groupId, topic });
  await consumer.run(async (batch: ConsumedBatch) => {
    const values = batch.messages.map((m) => m.value?.toString() ?? '');
    seen.push(...values);
    if (values.includes('first') && failures === 0) {
      failures++;
      throw new Error('ClickHouse refused the insert');
    }
  });
  await waitFor(async () => (seen.filter((v) => v === 'first').length >= 2 ? true : undefined), 'the failed batch to be delivered again', 60_000);
  await publisher.publish([{ key: 'k', value: 'second' }]);
  await waitFor(async () => (seen.includes('second') ? true : undefined), 'the next message after the redelivery', 60_000);
  await consumer.stop();

  // Both were committed once handled: the group, back again, resumes after them.
  const resumed: string[] = [];
  const again = await bus.createConsumer({ groupId, topic });
  await again.run(async (batch) => void resumed.push(...batch.messages.map((m) => m.value?.toString() ?? '')));
  await publisher.publish([{ key: 'k', value: 'third' }]);
  await waitFor(async () => (resumed.includes('third') ? true : undefined), 'the group to resume');
  await again.stop();
  await publisher.close();
  expect(resumed).toEqual(['third']);
  expect(failures).toBe(1);
});

test('a handler that finishes part of a batch gets the rest delivered again, and only that part is committed', async () => {
  const bus = createKafkaBus({ brokers: testBrokers(), clientId: 'sluice-consumer-test', logger: testLogger });
  const topic = uniqueName('partial');
  await bus.ensureTopics([{ name: topic, partitions: 1 }]);
  const publisher = await bus.createPublisher({ topic });
  await publisher.publish([
    { key: 'k', value: 'one' },
    { key: 'k', value: 'two' },
    { key: 'k', value: 'three' },
  ]);
  const batches: string[][] = [];
  const consumer = await bus.createConsumer({ groupId: uniqueName('group'), topic });
  await consumer.run(async (batch: ConsumedBatch) => {
    batches.push(batch.messages.map((m) => m.value?.toString() ?? ''));
    const [first] = batch.messages;
    // The first delivery handles only its first message.
    return batches.length === 1 && first ? { handledThrough: first.offset } : undefined;
  });
  await waitFor(async () => (batches.flat().includes('three') && batches.length >= 2 ? true : undefined), 'the rest of the batch again', 60_000);
  await consumer.stop();
  await publisher.close();
  expect(batches[0]).toEqual(['one', 'two', 'three']);
  expect(batches[1]).toEqual(['two', 'three']);
});
