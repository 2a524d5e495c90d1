import { createRateLimiter } from './rate-limit';

test('a key may burst, then gets the refill rate, and is told how long to wait', () => {
  let now = 0;
  const limiter = createRateLimiter({ eventsPerSecond: 10, burst: 20, clock: () => now });
  expect(limiter.take('a', 20)).toEqual({ allowed: true });
  expect(limiter.take('a', 1)).toEqual({ allowed: false, retryAfterSeconds: 1 });
  now += 500;
  expect(limiter.take('a', 5)).toEqual({ allowed: true });
  expect(limiter.take('a', 1)).toEqual({ allowed: false, retryAfterSeconds: 1 });
  now += 2_000;
  expect(limiter.take('a', 20)).toEqual({ allowed: true });
});

test('keys have separate buckets', () => {
  const limiter = createRateLimiter({ eventsPerSecond: 1, burst: 1, clock: () => 0 });
  expect(limiter.take('a', 1)).toEqual({ allowed: true });
  expect(limiter.take('b', 1)).toEqual({ allowed: true });
  expect(limiter.take('a', 1)).toEqual({ allowed: false, retryAfterSeconds: 1 });
});

test('a batch larger than the burst waits for a whole refill', () => {
  const limiter = createRateLimiter({ eventsPerSecond: 100, burst: 200, clock: () => 0 });
  expect(limiter.take('a', 200)).toEqual({ allowed: true });
  expect(limiter.take('a', 1000)).toEqual({ allowed: false, retryAfterSeconds: 2 });
});

test('batch bytes have an allowance of their own, batchBytesPerEvent for each event of the rate', () => {
  let now = 0;
  const limiter = createRateLimiter({ eventsPerSecond: 10, burst: 20, batchBytesPerEvent: 100, clock: () => now });
  expect(limiter.takeBytes('a', 2_000)).toEqual({ allowed: true });
  expect(limiter.takeBytes('a', 1)).toEqual({ allowed: false, retryAfterSeconds: 1 });
  // Bytes and events are separate buckets.
  expect(limiter.take('a', 20)).toEqual({ allowed: true });
  now += 1_000;
  expect(limiter.takeBytes('a', 1_000)).toEqual({ allowed: true });
  expect(limiter.takeBytes('a', 1_000_000)).toEqual({ allowed: false, retryAfterSeconds: 2 });
  expect(createRateLimiter({ eventsPerSecond: 1, burst: 2, clock: () => 0 }).takeBytes('a', 2 * 4096 + 1)).toEqual({ allowed: false, retryAfterSeconds: 1 });
});
