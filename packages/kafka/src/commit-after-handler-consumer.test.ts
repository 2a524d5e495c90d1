import type { ConsumerRunConfig } from 'kafkajs';
import { silentLogger } from '@sluice/core';
import { CommitAfterHandlerConsumer, type RunnableConsumer } from './commit-after-handler-consumer';

const instant = { initialDelayMs: 1, maxDelayMs: 1, multiplier: 1, jitter: 0 };

/** A consumer whose crashes the test raises, recording every connect and run. */
function fakeConsumer(failingConnects = 0) {
  let crash: Parameters<RunnableConsumer['onCrash']>[0] = () => undefined;
  const calls: string[] = [];
  let connectsToFail = failingConnects;
  const consumer: RunnableConsumer = {
    onCrash: (listener) => void (crash = listener),
    connect: async () => {
      calls.push('connect');
      if (connectsToFail-- > 0) throw new Error('Connection refused');
    },
    run: async (_config: ConsumerRunConfig) => void calls.push('run'),
    commitOffsets: async () => undefined,
    disconnect: async () => void calls.push('disconnect'),
  };
  return { consumer, calls, crash: (restart: boolean) => crash({ error: new Error('Failed to find group coordinator'), groupId: 'g', restart }) };
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
