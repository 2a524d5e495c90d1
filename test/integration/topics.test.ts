/**
 * How the services create their topics (topicSpec, from KAFKA_TOPIC_REPLICATION_FACTOR), against the
 * real single-broker test Kafka: a replication factor the cluster cannot hold is refused with the
 * topic, what was asked and the setting named, not kafkajs's bare "Topic creation errors".
 */
import { SluiceError, eventsTopicConfig } from '@sluice/core';
import { createKafkaBus, topicSpec } from '@sluice/kafka';
import { testBrokers, testLogger, uniqueName } from '../helpers/pipeline';

const bus = createKafkaBus({ brokers: testBrokers(), clientId: 'sluice-topics-test', logger: testLogger });

test('replication factor 3 on one broker is refused, naming the topic, the factor and the setting', async () => {
  const topic = uniqueName('rf3');
  const refused = await bus.ensureTopics([topicSpec(topic, 6, 3, eventsTopicConfig)]).then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(refused).toBeInstanceOf(SluiceError);
  expect((refused as SluiceError).message).toMatch(new RegExp(`^Kafka refused to create ${topic} \\(6 partitions, replication factor 3\\): .+KAFKA_TOPIC_REPLICATION_FACTOR`));
});

test("replication factor 1 (min.insync.replicas 1) and the brokers' default are created and take messages; a second ensureTopics is a no-op", async () => {
  const topics = [topicSpec(uniqueName('rf1'), 2, 1, eventsTopicConfig), topicSpec(uniqueName('rf-default'), 2, 0)];
  await bus.ensureTopics(topics);
  await bus.ensureTopics(topics);
  for (const topic of topics) {
    const publisher = await bus.createPublisher({ topic: topic.name });
    // Acknowledged by every in-sync replica, which min.insync.replicas 1 allows with the one broker.
    await expect(publisher.publish([{ key: 'k', value: 'v' }])).resolves.toBeUndefined();
    await publisher.close();
  }
});
