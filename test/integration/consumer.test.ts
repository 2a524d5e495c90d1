/** The Kafka consumer against the real broker: commit only after the handler, redeliver on failure. */
import type { ConsumedBatch, EventPublisher } from '@sluice/core';
import { createKafkaBus, type KafkaBus } from '@sluice/kafka';
import { testBrokers, testLogger, uniqueName, waitFor } from '../helpers/pipeline';

/** What the group, consuming again, receives once 'third' is published: only 'third' if everything before it was committed. Closes the publisher. */
async function resumedAfterThird(bus: KafkaBus, groupId: string, topic: string, publisher: EventPublisher): Promise<string[]> {
  const resumed: string[] = [];
  const again = await bus.createConsumer({ groupId, topic });
  await again.run(async (batch) => void resumed.push(...batch.messages.map((m) => m.value?.toString() ?? '')));
  await publisher.publish([{ key: 'k', value: 'third' }]);
  await waitFor(async () => (resumed.includes('third') ? true : undefined), 'the group to resume');
  await again.stop();
  await publisher.close();
  return resumed;
}

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
  expect(await resumedAfterThird(bus, groupId, topic, publisher)).toEqual(['third']);
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

test('with partitionsAtOnce 2, one partition is handled while another waits in its handler, and each partition stays in order', async () => {
  const bus = createKafkaBus({ brokers: testBrokers(), clientId: 'sluice-consumer-test', logger: testLogger });
  const topic = uniqueName('concurrent');
  await bus.ensureTopics([{ name: topic, partitions: 2 }]);
  const publisher = await bus.createPublisher({ topic });
  // Keys chosen by the default partitioner land on both partitions; each key's values are in order.
  const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
  for (let round = 0; round < 3; round++) await publisher.publish(keys.map((key) => ({ key, value: `${key}${round}` })));

  let inHandler = 0;
  let mostAtOnce = 0;
  const partitionsSeen = new Set<number>();
  const values = new Map<string, string[]>();
  const consumer = await bus.createConsumer({ groupId: uniqueName('group'), topic, partitionsAtOnce: 2 });
  await consumer.run(async (batch: ConsumedBatch) => {
    inHandler++;
    mostAtOnce = Math.max(mostAtOnce, inHandler);
    partitionsSeen.add(batch.partition);
    for (const m of batch.messages) {
      const key = m.key?.toString() ?? '';
      values.set(key, [...(values.get(key) ?? []), m.value?.toString() ?? '']);
    }
    // The first handler of each partition waits (up to 20 s) for a handler of the other partition to start alongside it.
    for (let waited = 0; mostAtOnce < 2 && waited < 20_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
    inHandler--;
  });
  await waitFor(async () => ([...values.values()].flat().length >= keys.length * 3 ? true : undefined), 'every message', 60_000);
  await consumer.stop();
  await publisher.close();
  expect(partitionsSeen).toEqual(new Set([0, 1]));
  expect(mostAtOnce).toBe(2);
  for (const key of keys) expect(values.get(key)).toEqual([0, 1, 2].map((round) => `${key}${round}`));
});

test('a released batch that fails after kafkajs fetched past it is read again from its first offset, and nothing after it is committed first', async () => {
  const bus = createKafkaBus({ brokers: testBrokers(), clientId: 'sluice-consumer-test', logger: testLogger });
  const topic = uniqueName('released');
  await bus.ensureTopics([{ name: topic, partitions: 1 }]);
  const publisher = await bus.createPublisher({ topic });
  await publisher.publish([{ key: 'k', value: 'one' }]);

  const deliveries: string[][] = [];
  let failInsert: (error: Error) => void = () => undefined;
  const insertFails = new Promise<void>((_resolve, reject) => (failInsert = reject));
  const groupId = uniqueName('group');
  const consumer = await bus.createConsumer({ groupId, topic });
  await consumer.run(async (batch: ConsumedBatch) => {
    const values = batch.messages.map((m) => m.value?.toString() ?? '');
    deliveries.push(values);
    await batch.earlierStored();
    batch.release(batch.messages.at(-1)?.offset ?? '');
    // The first delivery's insert goes on after kafkajs was let go, and fails.
    if (deliveries.length === 1) await insertFails;
  });
  await waitFor(async () => (deliveries.length === 1 ? true : undefined), 'the first batch', 60_000);
  // kafkajs fetches past the released batch: the next message arrives while the first is still being stored.
  await publisher.publish([{ key: 'k', value: 'two' }]);
  await waitFor(async () => (deliveries.some((values) => values.includes('two')) ? true : undefined), 'the batch after the released one', 60_000);
  failInsert(new Error('the insert was refused'));
  await waitFor(async () => (deliveries.slice(1).some((values) => values[0] === 'one') ? true : undefined), 'the failed batch to be delivered again', 60_000);
  await waitFor(async () => (deliveries.at(-1)?.includes('two') ? true : undefined), 'the message after it again', 60_000);
  await consumer.stop();

  // Both were committed once stored: the group, back again, resumes after them.
  expect(await resumedAfterThird(bus, groupId, topic, publisher)).toEqual(['third']);
  expect(deliveries[0]).toEqual(['one']);
  expect(deliveries[1]).toEqual(['two']);
  expect(deliveries.slice(2).flat()).toEqual(['one', 'two']);
});
