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
