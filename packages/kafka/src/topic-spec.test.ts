import { topicSpec } from './kafka-bus';

describe('topicSpec: a topic as KAFKA_TOPIC_REPLICATION_FACTOR asks for it', () => {
  test("0 leaves the replication factor and min.insync.replicas to the brokers' defaults", () => {
    expect(topicSpec('events', 6, 0, { 'max.message.bytes': '2097152' })).toEqual({ name: 'events', partitions: 6, config: { 'max.message.bytes': '2097152' } });
  });

  test('3 replicas keep an acknowledged event on two brokers at least: min.insync.replicas 2', () => {
    expect(topicSpec('events', 6, 3, { 'max.message.bytes': '2097152' })).toEqual({
      name: 'events',
      partitions: 6,
      replicationFactor: 3,
      config: { 'max.message.bytes': '2097152', 'min.insync.replicas': '2' },
    });
  });

  test('one replica or two: min.insync.replicas 1, so one broker down does not stop writes to two', () => {
    expect(topicSpec('dead', 1, 1).config).toEqual({ 'min.insync.replicas': '1' });
    expect(topicSpec('dead', 1, 2).config).toEqual({ 'min.insync.replicas': '1' });
  });
});
