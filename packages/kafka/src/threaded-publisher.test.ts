import { silentLogger, type EventPublisher, type OutgoingMessage } from '@sluice/core';
import { createKafkaBus } from './kafka-bus';
import { SizeRoutedPublisher } from './threaded-publisher';

/** Records what it was asked to publish, and whether it was closed. */
class RecordingPublisher implements EventPublisher {
  readonly published: number[] = [];
  closed = false;
  connected = true;

  async publish(messages: readonly OutgoingMessage[]): Promise<void> {
    this.published.push(messages.length);
  }

  isConnected(): boolean {
    return this.connected;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

const messages = (count: number): OutgoingMessage[] => Array.from({ length: count }, (_, i) => ({ key: `k${i}`, value: `v${i}` }));

test('publishes of threadFrom messages or more go to the threaded publisher, smaller ones inline', async () => {
  const inline = new RecordingPublisher();
  const threaded = new RecordingPublisher();
  const publisher = new SizeRoutedPublisher(inline, threaded, 50);
  for (const count of [1, 49, 50, 1000]) await publisher.publish(messages(count));
  expect(inline.published).toEqual([1, 49]);
  expect(threaded.published).toEqual([50, 1000]);
});

test('it is connected only while both are, and closing closes both', async () => {
  const inline = new RecordingPublisher();
  const threaded = new RecordingPublisher();
  const publisher = new SizeRoutedPublisher(inline, threaded, 2);
  expect(publisher.isConnected()).toBe(true);
  threaded.connected = false;
  expect(publisher.isConnected()).toBe(false);
  await publisher.close();
  expect([inline.closed, threaded.closed]).toEqual([true, true]);
});

test('a threadFrom below 1 is refused before anything connects', async () => {
  const bus = createKafkaBus({ brokers: ['127.0.0.1:1'], clientId: 'sluice-threaded-publisher-test', logger: silentLogger });
  for (const threadFrom of [0, -1, 1.5]) {
    await expect(bus.createPublisher({ topic: 'events', threadFrom })).rejects.toMatchObject({ code: 'INVALID_CONFIG', message: `threadFrom must be a whole number of messages, at least 1, got ${threadFrom}` });
  }
});
