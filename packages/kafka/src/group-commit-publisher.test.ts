import type { Producer } from 'kafkajs';
import { SluiceError, silentLogger } from '@sluice/core';
import { GroupCommitPublisher, maxSendBytes, slicesOf } from './group-commit-publisher';

/** A stand-in for kafkajs' producer whose sends the test settles by hand. */
class FakeProducer {
  readonly sends: { messages: unknown[]; settle: (error?: Error) => void }[] = [];
  connected = false;
  disconnected = false;

  async connect(): Promise<void> {
    this.connected = true;
  }

  async disconnect(): Promise<void> {
    this.disconnected = true;
  }

  send(record: { messages: unknown[] }): Promise<void> {
    return new Promise((resolve, reject) => this.sends.push({ messages: record.messages, settle: (error) => (error ? reject(error) : resolve()) }));
  }
}

function publisherWith(options: { maxQueuedMessages?: number; queueTimeoutMs?: number; sendTimeoutMs?: number } = {}) {
  const producers: FakeProducer[] = [];
  const publisher = new GroupCommitPublisher(
    () => {
      const producer = new FakeProducer();
      producers.push(producer);
      return producer as unknown as Producer;
    },
    { topic: 'events', ...options },
    silentLogger,
  );
  return { publisher, producers };
}

const message = (n: number) => ({ key: `k${n}`, value: `v${n}` });
const flush = () => new Promise((resolve) => setImmediate(resolve));

test('messages that arrive while a send is in flight go out together in the next send', async () => {
  const { publisher, producers } = publisherWith();
  await publisher.connect();
  const first = publisher.publish([message(1)]);
  await flush();
  const waiting = [publisher.publish([message(2)]), publisher.publish([message(3), message(4)])];
  const producer = producers[0];
  if (!producer) throw new Error('no producer');
  expect(producer.sends).toHaveLength(1);
  producer.sends[0]?.settle();
  await first;
  await flush();
  expect(producer.sends).toHaveLength(2);
  expect(producer.sends[1]?.messages).toHaveLength(3);
  producer.sends[1]?.settle();
  await Promise.all(waiting);
});

test('a caller is answered only after its own send is acknowledged', async () => {
  const { publisher, producers } = publisherWith();
  await publisher.connect();
  let answered = false;
  const pending = publisher.publish([message(1)]).then(() => (answered = true));
  await flush();
  expect(answered).toBe(false);
  producers[0]?.sends[0]?.settle();
  await pending;
  expect(answered).toBe(true);
});

test('past the buffer limit a publish is refused at once with PUBLISH_BUFFER_FULL', async () => {
  const { publisher, producers } = publisherWith({ maxQueuedMessages: 2 });
  await publisher.connect();
  const sent = publisher.publish([message(1)]);
  await flush();
  const queued = publisher.publish([message(2), message(3)]);
  await expect(publisher.publish([message(4)])).rejects.toMatchObject({ code: 'PUBLISH_BUFFER_FULL', status: 503, retriable: true });
  // Answer both sends, so that no queued publish is left waiting on its expiry timer after the test.
  producers[0]?.sends[0]?.settle();
  await sent;
  await flush();
  producers[0]?.sends[1]?.settle();
  await queued;
  await publisher.close();
});

test('a failed send refuses its callers with KAFKA_UNAVAILABLE and the next send uses a new producer', async () => {
  const { publisher, producers } = publisherWith();
  await publisher.connect();
  const failing = publisher.publish([message(1)]);
  await flush();
  producers[0]?.sends[0]?.settle(new Error('broker gone'));
  await expect(failing).rejects.toMatchObject({ code: 'KAFKA_UNAVAILABLE', message: 'Kafka did not acknowledge the event: broker gone' });
  await flush();
  expect(producers[0]?.disconnected).toBe(true);
  expect(publisher.isConnected()).toBe(false);
  const next = publisher.publish([message(2)]);
  await flush();
  expect(producers).toHaveLength(2);
  producers[1]?.sends[0]?.settle();
  await next;
  expect(publisher.isConnected()).toBe(true);
});

test('a send with no answer refuses its callers at the deadline; later ones wait, then expire unsent', async () => {
  jest.useFakeTimers();
  try {
    const { publisher, producers } = publisherWith({ sendTimeoutMs: 1_000, queueTimeoutMs: 500 });
    await publisher.connect();
    const stuck = publisher.publish([message(1)]);
    // The send goes out once the event loop has handled this turn's I/O.
    await jest.advanceTimersByTimeAsync(0);
    const queued = publisher.publish([message(2)]);
    const stuckOutcome = expect(stuck).rejects.toMatchObject({ code: 'KAFKA_UNAVAILABLE', message: 'Kafka did not acknowledge the event: no acknowledgement within 1000 ms' });
    const queuedOutcome = expect(queued).rejects.toMatchObject({ code: 'KAFKA_UNAVAILABLE', message: 'Kafka did not accept the event within 500 ms' });
    await jest.advanceTimersByTimeAsync(1_000);
    await stuckOutcome;
    await queuedOutcome;
    // The idempotent producer never has two sends in flight: nothing else went out meanwhile.
    expect(producers[0]?.sends).toHaveLength(1);
  } finally {
    jest.useRealTimers();
  }
});

test('the publishes of one turn of the event loop go out in one send', async () => {
  const { publisher, producers } = publisherWith();
  await publisher.connect();
  const published = [publisher.publish([message(1)]), publisher.publish([message(2)]), publisher.publish([message(3), message(4)])];
  await flush();
  expect(producers[0]?.sends.map((send) => send.messages.length)).toEqual([4]);
  producers[0]?.sends[0]?.settle();
  await Promise.all(published);
});

test('closing sends what was published just before, then disconnects', async () => {
  const { publisher, producers } = publisherWith();
  await publisher.connect();
  const published = publisher.publish([message(1)]);
  const closed = publisher.close();
  await Promise.resolve();
  expect(producers[0]?.sends).toHaveLength(1);
  producers[0]?.sends[0]?.settle();
  await published;
  await closed;
  expect(producers).toHaveLength(1);
  expect(producers[0]?.disconnected).toBe(true);
});

test('after close, publishing is refused with SHUTTING_DOWN and the producer is disconnected', async () => {
  const { publisher, producers } = publisherWith();
  await publisher.connect();
  await publisher.close();
  expect(producers[0]?.disconnected).toBe(true);
  const refused = publisher.publish([message(1)]);
  await expect(refused).rejects.toBeInstanceOf(SluiceError);
  await expect(refused).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
});

describe('slicesOf', () => {
  const message = (bytes: number) => ({ key: 'k', value: 'x'.repeat(bytes) });

  test('keeps order and puts each slice under the limit, a message too large for any slice alone', () => {
    const messages = [message(400), message(400), message(400), message(2_000), message(10)];
    const slices = slicesOf(messages, 1_000);
    expect(slices.map((s) => s.map((m) => m.value.length))).toEqual([[400, 400], [400], [2_000], [10]]);
    expect(slices.flat()).toEqual(messages);
  });

  test('10,000 envelopes of 600 bytes make sends under the broker limit', () => {
    const slices = slicesOf(Array.from({ length: 10_000 }, () => message(600)), maxSendBytes);
    expect(slices.length).toBeGreaterThan(6);
    expect(slices.flat()).toHaveLength(10_000);
    for (const slice of slices) expect(slice.reduce((sum, m) => sum + m.value.length + 1 + 32, 0)).toBeLessThanOrEqual(maxSendBytes);
  });
});
