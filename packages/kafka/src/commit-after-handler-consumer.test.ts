import type { ConsumerRunConfig, EachBatchPayload } from 'kafkajs';
import { silentLogger, type ConsumerProgressEvent } from '@sluice/core';
import { CommitAfterHandlerConsumer, type RunnableConsumer } from './commit-after-handler-consumer';

const instant = { initialDelayMs: 1, maxDelayMs: 1, multiplier: 1, jitter: 0 };

/** A consumer whose crashes, group joins and batches the test raises, recording every connect, run and commit. */
function fakeConsumer(failingConnects = 0) {
  let crash: Parameters<RunnableConsumer['onCrash']>[0] = () => undefined;
  let groupJoin: Parameters<RunnableConsumer['onGroupJoin']>[0] = () => undefined;
  let runConfig: ConsumerRunConfig | undefined;
  const calls: string[] = [];
  let connectsToFail = failingConnects;
  const consumer: RunnableConsumer = {
    onCrash: (listener) => void (crash = listener),
    onGroupJoin: (listener) => void (groupJoin = listener),
    connect: async () => {
      calls.push('connect');
      if (connectsToFail-- > 0) throw new Error('Connection refused');
    },
    run: async (config: ConsumerRunConfig) => {
      runConfig = config;
      calls.push('run');
    },
    commitOffsets: async (offsets) => void calls.push(`commit ${offsets.map((o) => `${o.topic}[${o.partition}]@${o.offset}`).join()}`),
    disconnect: async () => void calls.push('disconnect'),
  };
  /** kafkajs handing the run one batch of partition 2 at offsets 10-12, with the partition's end at 20. */
  const deliver = (): Promise<void> => {
    const offsets = ['10', '11', '12'];
    const payload = {
      batch: {
        topic: 't',
        partition: 2,
        highWatermark: '20',
        messages: offsets.map((offset) => ({ offset, key: null, value: Buffer.from('{}'), headers: {}, timestamp: '0' })),
        lastOffset: () => '12',
      },
      resolveOffset: () => undefined,
      heartbeat: async () => undefined,
      isStale: () => false,
      isRunning: () => true,
    };
    return runConfig?.eachBatch?.(payload as unknown as EachBatchPayload) ?? Promise.reject(new Error('not running'));
  };
  return {
    consumer,
    calls,
    crash: (restart: boolean) => crash({ error: new Error('Failed to find group coordinator'), groupId: 'g', restart }),
    join: (assignment: Record<string, number[]>) => groupJoin(assignment),
    deliver,
  };
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(condition()).toBe(true);
}

test('a crash kafkajs will not restart from is restarted here, and reported as the failure until it runs again', async () => {
  const fake = fakeConsumer(2);
  const consumer = new CommitAfterHandlerConsumer(fake.consumer, silentLogger, instant);
  await consumer.run(async () => undefined);
  expect(fake.calls).toEqual(['run']);
  fake.crash(false);
  expect(consumer.failure()).toBe('Failed to find group coordinator');
  await until(() => fake.calls.length === 5);
  expect(fake.calls).toEqual(['run', 'connect', 'connect', 'connect', 'run']);
  expect(consumer.failure()).toBeUndefined();
});

test('a crash kafkajs restarts from by itself is left to kafkajs', async () => {
  const fake = fakeConsumer();
  const consumer = new CommitAfterHandlerConsumer(fake.consumer, silentLogger, instant);
  await consumer.run(async () => undefined);
  fake.crash(true);
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(fake.calls).toEqual(['run']);
  expect(consumer.failure()).toBeUndefined();
});

test('a consumer being stopped is not restarted', async () => {
  const fake = fakeConsumer();
  const consumer = new CommitAfterHandlerConsumer(fake.consumer, silentLogger, instant);
  await consumer.run(async () => undefined);
  await consumer.stop();
  fake.crash(false);
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(fake.calls).toEqual(['run', 'disconnect']);
});

test('reports the assignment, each batch, each commit and each failed handler call to the progress listener', async () => {
  const fake = fakeConsumer();
  const consumer = new CommitAfterHandlerConsumer(fake.consumer, silentLogger, instant);
  const events: ConsumerProgressEvent[] = [];
  let failNext = false;
  await consumer.run(async () => {
    if (failNext) throw new Error('ClickHouse refused the block');
  }, (event) => void events.push(event));
  fake.join({ t: [0, 2] });
  await fake.deliver();
  failNext = true;
  await expect(fake.deliver()).rejects.toThrow('The batch from t[2] was not stored and will be delivered again: ClickHouse refused the block');
  expect(fake.calls).toEqual(['run', 'commit t[2]@13']);
  expect(events).toEqual([
    { kind: 'assigned', partitions: [{ topic: 't', partition: 0 }, { topic: 't', partition: 2 }] },
    { kind: 'fetched', topic: 't', partition: 2, firstOffset: '10', highWatermark: '20' },
    { kind: 'committed', topic: 't', partition: 2, offset: '13' },
    { kind: 'fetched', topic: 't', partition: 2, firstOffset: '10', highWatermark: '20' },
    { kind: 'failed', topic: 't', partition: 2, error: 'ClickHouse refused the block' },
  ]);
});
