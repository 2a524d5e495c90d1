import { checkThreadsForAnalysts } from './analyst-sessions';

describe('checkThreadsForAnalysts', () => {
  test("libuv's default 4 threads take two analyst queries, and leave two for the worker", () => {
    expect(() => checkThreadsForAnalysts(2, undefined)).not.toThrow();
    expect(() => checkThreadsForAnalysts(3, undefined)).toThrow(/^CLICKHOUSE_HTTP_MAX_QUERIES=3 needs UV_THREADPOOL_SIZE of at least 5 .*\(it is 4\)/);
  });

  test('UV_THREADPOOL_SIZE is read as libuv reads it', () => {
    expect(() => checkThreadsForAnalysts(4, '6')).not.toThrow();
    expect(() => checkThreadsForAnalysts(4, '5')).toThrow(/it is 5\)/);
    // libuv takes what is not a number as 1.
    expect(() => checkThreadsForAnalysts(1, 'many')).toThrow(/it is 1\)/);
    expect(() => checkThreadsForAnalysts(4, '100000')).not.toThrow();
  });
});
