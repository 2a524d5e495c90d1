import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkThreadsForAnalysts, libuvThreads, workerThreadpoolSize } from './analyst-sessions';
import { blockInsertsWithin, maxBlockInserts } from './clickhouse';

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

describe("the worker's block inserts at once", () => {
  test("are as many as libuv's spare threads allow, at least one and at most maxBlockInserts", () => {
    expect(maxBlockInserts).toBe(2);
    expect(blockInsertsWithin(0)).toBe(1);
    expect(blockInsertsWithin(1)).toBe(1);
    expect(blockInsertsWithin(2)).toBe(2);
    expect(blockInsertsWithin(30)).toBe(2);
  });

  test("the thread pool the worker's launchers give it has room for the default analyst queries and two block inserts", () => {
    // The worker leaves one thread for its writer and one for each analyst query (main.ts).
    const analystQueries = 2;
    expect(blockInsertsWithin(libuvThreads(String(workerThreadpoolSize)) - 1 - analystQueries)).toBe(maxBlockInserts);
    expect(blockInsertsWithin(libuvThreads(undefined) - 1 - analystQueries)).toBe(1);
    // The image's ENV says the same number; npm start and the bench use the constant itself.
    const dockerfile = readFileSync(join(__dirname, '..', '..', '..', 'deploy', 'docker', 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain(`ENV UV_THREADPOOL_SIZE=${workerThreadpoolSize}\n`);
  });
});
