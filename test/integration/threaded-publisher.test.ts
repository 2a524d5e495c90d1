/**
 * The publisher on a thread of its own (the gateway's default), against the real broker: a publish
 * resolves only once Kafka holds its messages, refusals keep their codes, close answers everything
 * it accepted, and a thread that dies refuses what it held and is replaced.
 */
import { SluiceError, type OutgoingMessage } from '@sluice/core';
import { createKafkaBus, SizeRoutedPublisher, ThreadedPublisher, type KafkaBus, type PublisherOptions } from '@sluice/kafka';
import { testBrokers, testLogger, uniqueName, waitFor } from '../helpers/pipeline';

const bus: KafkaBus = createKafkaBus({ brokers: testBrokers(), clientId: 'sluice-threaded-publisher-test', logger: testLogger });

async function newTopic(prefix: string): Promise<string> {
  const topic = uniqueName(prefix);
  await bus.ensureTopics([{ name: topic, partitions: 3 }]);
  return topic;
}

/** Every value on the topic, read by a consumer of a new group, once at least `count` are there. */
async function valuesOn(topic: string, count: number): Promise<string[]> {
  const values: string[] = [];
  const consumer = await bus.createConsumer({ groupId: uniqueName('threaded-publisher'), topic });
  await consumer.run(async (batch) => void values.push(...batch.messages.map((m) => m.value?.toString('utf8') ?? '')));
  await waitFor(async () => (values.length >= count ? true : undefined), `${count} messages on ${topic}`, 60_000);
  // Anything more than asked for would arrive with the same fetch.
  await new Promise((resolve) => setTimeout(resolve, 500));
  await consumer.stop();
  return values.sort();
}

const clientId = 'sluice-threaded-publisher-test';
const startThreaded = (options: PublisherOptions, brokers = testBrokers()): Promise<ThreadedPublisher> => ThreadedPublisher.start({ bus: { brokers, clientId }, publisher: options }, testLogger);

const messages = (prefix: string, count: number): OutgoingMessage[] => Array.from({ length: count }, (_, i) => ({ key: `${prefix}-${i}`, value: `${prefix}-${i}`, headers: { source: 'test' } }));

test('publishes of one turn, strings and bytes, are on the topic exactly once when they resolve', async () => {
  const topic = await newTopic('threaded');
  const publisher = await startThreaded({ topic });
  expect(publisher.isConnected()).toBe(true);
  const calls = Array.from({ length: 20 }, (_, call) => messages(`call${String(call).padStart(2, '0')}`, 10));
  await Promise.all(calls.map((batch) => publisher.publish(batch)));
  await publisher.publish([{ key: 'bytes', value: Buffer.from('bytes-ü', 'utf8') }]);
  await publisher.close();
  const expected = [...calls.flat().map((m) => String(m.value)), 'bytes-ü'].sort();
  expect(await valuesOn(topic, expected.length)).toEqual(expected);
});

test("the thread's refusals keep their codes, and a publisher closing refuses new work", async () => {
  const topic = await newTopic('threaded-refused');
  const publisher = await startThreaded({ topic, maxQueuedMessages: 5 });
  const tooMany = publisher.publish(messages('many', 6));
  await expect(tooMany).rejects.toBeInstanceOf(SluiceError);
  await expect(tooMany).rejects.toMatchObject({ code: 'PUBLISH_BUFFER_FULL', status: 503, retriable: true });
  await publisher.publish(messages('few', 2));
  await publisher.close();
  await expect(publisher.publish(messages('late', 1))).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
  expect(publisher.isConnected()).toBe(false);
});

test('close answers every publish it accepted before it resolves', async () => {
  const topic = await newTopic('threaded-close');
  const publisher = await startThreaded({ topic });
  const outcomes = Array.from({ length: 50 }, (_, i) => publisher.publish(messages(`closing${String(i).padStart(2, '0')}`, 4)).then(() => 'acknowledged'));
  await publisher.close();
  const settledBeforeClose = await Promise.race([Promise.all(outcomes), new Promise((resolve) => setImmediate(() => resolve('pending')))]);
  expect(settledBeforeClose).toEqual(outcomes.map(() => 'acknowledged'));
  expect(await valuesOn(topic, 200)).toHaveLength(200);
});

test('a thread that dies refuses what it held as KAFKA_UNAVAILABLE, and the next publish starts another', async () => {
  // Its topic does not exist yet, so the held send waits on kafkajs's retries when the thread dies.
  const topic = uniqueName('threaded-crash');
  const publisher = await startThreaded({ topic });
  const held = publisher.publish(messages('held', 1));
  await new Promise((resolve) => setTimeout(resolve, 300));
  await publisher.stopThreadAsACrashWould();
  await expect(held).rejects.toMatchObject({ code: 'KAFKA_UNAVAILABLE' });
  await expect(held).rejects.toThrow('the Kafka publisher thread stopped');
  expect(publisher.isConnected()).toBe(false);
  await bus.ensureTopics([{ name: topic, partitions: 3 }]);
  await publisher.publish(messages('after', 1));
  expect(publisher.isConnected()).toBe(true);
  await publisher.close();
  expect(await valuesOn(topic, 1)).toEqual(['after-0']);
});

test('a publisher whose broker cannot be reached fails to start with KAFKA_UNAVAILABLE', async () => {
  const starting = startThreaded({ topic: 'nowhere' }, ['127.0.0.1:1']);
  await expect(starting).rejects.toMatchObject({ code: 'KAFKA_UNAVAILABLE' });
  await expect(starting).rejects.toThrow('Kafka publisher could not connect: Connection error');
}, 60_000);

test("the bus's publisher with threadFrom sends small publishes inline and larger ones from the thread, each once", async () => {
  const topic = await newTopic('threaded-routed');
  const publisher = await bus.createPublisher({ topic, threadFrom: 10 });
  expect(publisher).toBeInstanceOf(SizeRoutedPublisher);
  await Promise.all([publisher.publish(messages('single', 1)), publisher.publish(messages('batch', 10)), publisher.publish(messages('nine', 9))]);
  await publisher.close();
  expect(await valuesOn(topic, 20)).toHaveLength(20);
});
