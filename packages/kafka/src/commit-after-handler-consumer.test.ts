import type { ConsumerRunConfig, EachBatchPayload } from 'kafkajs';
import { silentLogger, type ConsumedMessage, type ConsumerProgressEvent } from '@sluice/core';
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
    seek: (topic, partition, offset) => void calls.push(`seek ${topic}[${partition}]@${offset}`),
    disconnect: async () => void calls.push('disconnect'),
  };
  /** The offsets kafkajs was told are handled, as "t[2]@12". */
  const resolved: string[] = [];
  /** kafkajs handing the run one batch of partition 2, at offsets 10-12 unless told, with the partition's end at 20. */
  const deliver = (offsets = ['10', '11', '12'], headers: Record<string, Buffer | Buffer[]> = {}): Promise<void> => {
    const payload = {
      batch: {
        topic: 't',
        partition: 2,
        highWatermark: '20',
        messages: offsets.map((offset) => ({ offset, key: Buffer.from(`k${offset}`), value: Buffer.from('{}'), headers, timestamp: '1700000000000' })),
        lastOffset: () => offsets.at(-1),
      },
      resolveOffset: (offset: string) => void resolved.push(`t[2]@${offset}`),
      heartbeat: async () => undefined,
      isStale: () => false,
      isRunning: () => true,
      pause: () => {
        calls.push('pause t[2]');
        return () => undefined;
      },
    };
    return runConfig?.eachBatch?.(payload as unknown as EachBatchPayload) ?? Promise.reject(new Error('not running'));
  };
  return {
    consumer,
    calls,
    resolved,
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

test("the handler gets each message's fields, and its headers as strings (the first of a repeated header)", async () => {
  const fake = fakeConsumer();
  const consumer = new CommitAfterHandlerConsumer(fake.consumer, silentLogger, instant);
  const seen: ConsumedMessage[] = [];
  await consumer.run(async (batch) => void seen.push(...batch.messages));
  await fake.deliver(['10'], { source: Buffer.from('trieve'), 'content-type': Buffer.from('application/json'), repeated: [Buffer.from('first'), Buffer.from('second')] });
  const [message] = seen;
  expect(message).toMatchObject({ topic: 't', partition: 2, offset: '10', key: Buffer.from('k10'), value: Buffer.from('{}'), timestamp: 1_700_000_000_000 });
  expect(message?.headers).toEqual({ source: 'trieve', 'content-type': 'application/json', repeated: 'first' });
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

/** A promise with its resolve and reject at hand. */
function deferred<T = void>() {
  let resolve: (value: T) => void = () => undefined;
  let reject: (error: unknown) => void = () => undefined;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 5));

describe('a released batch', () => {
  test('lets kafkajs fetch on before it is stored, and is committed once it is, before the next batch of its partition', async () => {
    const fake = fakeConsumer();
    const consumer = new CommitAfterHandlerConsumer(fake.consumer, silentLogger, instant);
    const insert = deferred();
    const steps: string[] = [];
    await consumer.run(async (batch) => {
      const first = batch.messages[0]?.offset;
      await batch.earlierStored();
      steps.push(`dedup ${first}`);
      batch.release(batch.messages.at(-1)?.offset ?? '');
      if (first === '10') await insert.promise;
      steps.push(`stored ${first}`);
    });
    await fake.deliver(['10', '11', '12']);
    expect(fake.resolved).toEqual(['t[2]@12']);
    expect(fake.calls).toEqual(['run']);
    const next = fake.deliver(['13', '14']);
    await tick();
    // The next batch's dedup waits for the first batch to be stored and committed.
    expect(steps).toEqual(['dedup 10']);
    insert.resolve();
    await next;
    await consumer.stop();
    expect(steps).toEqual(['dedup 10', 'stored 10', 'dedup 13', 'stored 13']);
    expect(fake.calls).toEqual(['run', 'commit t[2]@13', 'commit t[2]@15', 'disconnect']);
  });

  test('is committed before a later batch of its partition that was never released', async () => {
    const fake = fakeConsumer();
    const consumer = new CommitAfterHandlerConsumer(fake.consumer, silentLogger, instant);
    const insert = deferred();
    await consumer.run(async (batch) => {
      if (batch.messages[0]?.offset !== '10') return;
      batch.release('12');
      await insert.promise;
    });
    await fake.deliver(['10', '11', '12']);
    const next = fake.deliver(['13', '14']);
    await tick();
    expect(fake.calls).toEqual(['run']);
    insert.resolve();
    await next;
    expect(fake.calls).toEqual(['run', 'commit t[2]@13', 'commit t[2]@15']);
    expect(fake.resolved).toEqual(['t[2]@12', 't[2]@14']);
  });

  test('that fails sends kafkajs back to it: the batches fetched past it are not handled, and it is delivered again', async () => {
    const fake = fakeConsumer();
    const consumer = new CommitAfterHandlerConsumer(fake.consumer, silentLogger, instant);
    const events: ConsumerProgressEvent[] = [];
    const insert = deferred();
    const handled: string[] = [];
    let attempts = 0;
    await consumer.run(async (batch) => {
      const first = batch.messages[0]?.offset ?? '';
      handled.push(first);
      await batch.earlierStored();
      batch.release(batch.messages.at(-1)?.offset ?? '');
      if (first === '10' && attempts++ === 0) await insert.promise;
    }, (event) => void events.push(event));
    await fake.deliver(['10', '11', '12']);
    // Fetched before the failure: its dedup would not see the first batch stored, so it is given up.
    const next = fake.deliver(['13', '14']);
    await tick();
    insert.reject(new Error('the partition was revoked'));
    await next;
    expect(fake.calls).toEqual(['run', 'seek t[2]@10']);
    expect(events.filter((event) => event.kind === 'failed')).toEqual([{ kind: 'failed', topic: 't', partition: 2, error: 'the partition was revoked' }]);
    // Fetched past it before kafkajs sought back: not handled.
    await fake.deliver(['15']);
    expect(handled).toEqual(['10', '13']);
    await fake.deliver(['10', '11', '12']);
    await fake.deliver(['13', '14']);
    await consumer.stop();
    expect(handled).toEqual(['10', '13', '10', '13']);
    expect(fake.calls).toEqual(['run', 'seek t[2]@10', 'commit t[2]@13', 'commit t[2]@15', 'disconnect']);
  });

  /** A consumer that was handed the batch 10-12, which its handler released and is still inserting. */
  async function releasedAndInserting() {
    const fake = fakeConsumer();
    const consumer = new CommitAfterHandlerConsumer(fake.consumer, silentLogger, instant);
    const insert = deferred();
    await consumer.run(async (batch) => {
      batch.release('12');
      await insert.promise;
    });
    await fake.deliver(['10', '11', '12']);
    return { fake, consumer, insert };
  }

  test('still being stored when the group rebalances is not committed: the partition is read from the committed offset again', async () => {
    const { fake, consumer, insert } = await releasedAndInserting();
    fake.join({ t: [2] });
    insert.resolve();
    await consumer.stop();
    expect(fake.calls).toEqual(['run', 'disconnect']);
  });

  test('is stored and committed before the consumer leaves the group when it stops; what kafkajs fetches meanwhile is paused, not handled', async () => {
    const { fake, consumer, insert } = await releasedAndInserting();
    const stopped = consumer.stop();
    await tick();
    await fake.deliver(['13']);
    expect(fake.calls).toEqual(['run', 'pause t[2]']);
    insert.resolve();
    await stopped;
    expect(fake.calls).toEqual(['run', 'pause t[2]', 'commit t[2]@13', 'disconnect']);
    expect(fake.resolved).toEqual(['t[2]@12']);
  });
});

test('a commit that fails after the batch was stored is reported, not a failed batch: the next commit covers it', async () => {
  const fake = fakeConsumer();
  const failing = { ...fake.consumer, commitOffsets: () => Promise.reject(new Error('The coordinator is not aware of this member')) };
  const consumer = new CommitAfterHandlerConsumer(failing, silentLogger, instant);
  const events: ConsumerProgressEvent[] = [];
  await consumer.run(async () => undefined, (event) => void events.push(event));
  await fake.deliver();
  expect(fake.resolved).toEqual(['t[2]@12']);
  expect(events.at(-1)).toEqual({ kind: 'failed', topic: 't', partition: 2, error: 'commit: The coordinator is not aware of this member' });
});
