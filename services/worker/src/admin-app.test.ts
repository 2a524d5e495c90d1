import { createServer, request, type IncomingHttpHeaders, type OutgoingHttpHeaders, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { silentLogger, type OutgoingMessage } from '@sluice/core';
import { createAdminApp, type AdminDeps } from './admin-app';
import { createBatchHandler } from './batch-handler';
import { createWorkerMetrics } from './metrics';
import { createPartitionProgress, type StalledPartition } from './partition-progress';
import { createReplayer } from './replay';

let server: Server | undefined;

async function start(overrides: Partial<AdminDeps> = {}): Promise<string> {
  const deps: AdminDeps = {
    clickhouse: { ping: async () => true },
    consumerFailure: () => undefined,
    stalledPartitions: () => [],
    metrics: createWorkerMetrics().registry,
    logger: silentLogger,
    ...overrides,
  };
  server = createServer(createAdminApp(deps));
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

test('healthy while it consumes and ClickHouse answers', async () => {
  const response = await fetch(`${await start()}/healthz`);
  expect([response.status, await response.json()]).toEqual([200, { status: 'ok' }]);
});

test('unhealthy once the consumer stopped for good, so a supervisor restarts the worker', async () => {
  const response = await fetch(`${await start({ consumerFailure: () => 'The group is rebalancing' })}/healthz`);
  expect([response.status, await response.json()]).toEqual([503, { status: 'not consuming', reason: 'The group is rebalancing' }]);
});

test('unhealthy while ClickHouse does not answer', async () => {
  const response = await fetch(`${await start({ clickhouse: { ping: async () => false } })}/healthz`);
  expect([response.status, await response.json()]).toEqual([503, { status: 'clickhouse unavailable' }]);
});

describe('a stalled partition', () => {
  const stalled: StalledPartition = { topic: 'events', partition: 5, committed_offset: '1234', lag: 17, stalled_seconds: 75, last_error: 'ClickHouse refused the block' };

  test('makes the worker unhealthy, naming the partition, its offset and the last error', async () => {
    const response = await fetch(`${await start({ stalledPartitions: () => [stalled] })}/healthz`);
    expect([response.status, await response.json()]).toEqual([503, { status: 'stalled', partitions: [stalled] }]);
  });

  test('is named even while ClickHouse does not answer, with that as the likely cause', async () => {
    const response = await fetch(`${await start({ stalledPartitions: () => [stalled], clickhouse: { ping: async () => false } })}/healthz`);
    expect([response.status, await response.json()]).toEqual([503, { status: 'stalled', partitions: [stalled], clickhouse: 'unavailable' }]);
  });

  test('comes after a consumer that stopped for good, which no partition can recover from', async () => {
    const response = await fetch(`${await start({ stalledPartitions: () => [stalled], consumerFailure: () => 'The group is rebalancing' })}/healthz`);
    expect([response.status, await response.json()]).toEqual([503, { status: 'not consuming', reason: 'The group is rebalancing' }]);
  });

  test('shows as sluice_worker_partition_stalled 1, back to 0 once its offset moves, and gone once revoked', async () => {
    let clock = 0;
    const progress = createPartitionProgress({ stallMs: 3_000, now: () => clock });
    const metrics = createWorkerMetrics(() => progress.partitions());
    const url = await start({ metrics: metrics.registry, stalledPartitions: () => progress.stalled() });
    const scrape = async (): Promise<string[]> => (await (await fetch(`${url}/metrics`)).text()).split('\n').filter((line) => line.startsWith('sluice_worker_partition_stalled{'));
    progress.record({ kind: 'assigned', partitions: [4, 5].map((partition) => ({ topic: 'events', partition })) });
    progress.record({ kind: 'fetched', topic: 'events', partition: 5, firstOffset: '1234', highWatermark: '1251' });
    clock += 3_000;
    expect(await scrape()).toEqual(['sluice_worker_partition_stalled{topic="events",partition="4"} 0', 'sluice_worker_partition_stalled{topic="events",partition="5"} 1']);
    expect((await fetch(`${url}/healthz`)).status).toBe(503);
    progress.record({ kind: 'committed', topic: 'events', partition: 5, offset: '1251' });
    expect(await scrape()).toEqual(['sluice_worker_partition_stalled{topic="events",partition="4"} 0', 'sluice_worker_partition_stalled{topic="events",partition="5"} 0']);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    progress.record({ kind: 'assigned', partitions: [{ topic: 'events', partition: 4 }] });
    expect(await scrape()).toEqual(['sluice_worker_partition_stalled{topic="events",partition="4"} 0']);
  });
});

test("there is no POST /sql: analysts use ClickHouse's HTTP interface", async () => {
  const response = await fetch(`${await start()}/sql`, { method: 'POST', body: 'SELECT 1' });
  expect([response.status, await response.json()]).toEqual([404, { code: 'NOT_FOUND', message: 'No route for POST /sql' }]);
});

test('GET /metrics counts outcomes per step, as the batch handler reports them', async () => {
  const metrics = createWorkerMetrics();
  const { handle } = createBatchHandler({
    storedKeys: { storedAmong: async () => new Set() },
    deadLetters: { store: async () => undefined },
    blocks: { recordedBlock: async () => undefined, record: async () => undefined, recordJoint: async () => undefined, jointRows: async () => undefined },
    clickhouse: { insertBlock: async () => undefined },
    metrics,
    logger: silentLogger,
  });
  const message = (value: string, offset: string) => ({ topic: 't', partition: 0, offset, key: null, value: Buffer.from(value), headers: {}, timestamp: 0 });
  await handle({ topic: 't', partition: 0, messages: [message('{nope', '1'), message('[]', '2')], heartbeat: async () => undefined, isStale: () => false, earlierStored: async () => undefined, release: () => undefined });
  const response = await fetch(`${await start({ metrics: metrics.registry })}/metrics`);
  const text = await response.text();
  expect(response.status).toBe(200);
  expect(text).toContain('sluice_worker_step_outcomes_total{step="parse",outcome="dlq"} 1');
  expect(text).toContain('sluice_worker_step_outcomes_total{step="parse",outcome="ok"} 1');
  expect(text).toContain('sluice_worker_step_outcomes_total{step="validate",outcome="dlq"} 1');
  expect(text).toContain('sluice_worker_dead_letters_total{step="parse"} 1');
  expect(text).toContain('sluice_worker_batch_messages_count 1');
});

const adminToken = 'admin-token-for-tests';
const withToken = { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` };

describe('POST /replay', () => {
  const summary = { examined: 2, published: 1, stillRejected: [], dryRun: false };

  test('passes the checked request to the replayer and answers its summary', async () => {
    const replay = jest.fn(async () => summary);
    const url = await start({ replay, adminToken });
    const response = await fetch(`${url}/replay`, {
      method: 'POST',
      headers: withToken,
      body: JSON.stringify({ dataset_id: 'ds', since: '2024-05-14T00:00:00Z', limit: 5, dry_run: true }),
    });
    expect([response.status, await response.json()]).toEqual([200, summary]);
    expect(replay).toHaveBeenCalledWith({ dataset_id: 'ds', since: '2024-05-14T00:00:00Z', limit: 5, dry_run: true });
  });

  test.each([
    [{ datasets: 'ds' }, 'Unknown field "datasets" in the replay request; known fields: dataset_id, since, limit, dry_run', '/datasets'],
    [{ since: 'yesterday' }, 'since must be an ISO 8601 date-time, got "yesterday"', '/since'],
    [{ limit: 0 }, 'limit must be a positive integer, got 0', '/limit'],
    [{ dry_run: 'yes' }, 'dry_run must be true or false, got "yes"', '/dry_run'],
    [{ dataset_id: '' }, 'dataset_id must be a non-empty string, got ""', '/dataset_id'],
  ])('%j gets 400 INVALID_REQUEST naming the field', async (body, message, field) => {
    const replay = jest.fn(async () => summary);
    const response = await fetch(`${await start({ replay, adminToken })}/replay`, { method: 'POST', headers: withToken, body: JSON.stringify(body) });
    expect([response.status, await response.json()]).toEqual([400, { code: 'INVALID_REQUEST', message, field }]);
    expect(replay).not.toHaveBeenCalled();
  });

  test('a body that is not JSON gets 400 INVALID_JSON; an array gets INVALID_REQUEST', async () => {
    const url = await start({ replay: async () => summary, adminToken });
    const broken = await fetch(`${url}/replay`, { method: 'POST', headers: withToken, body: '{"limit":' });
    expect([broken.status, ((await broken.json()) as { code: string }).code]).toEqual([400, 'INVALID_JSON']);
    const array = await fetch(`${url}/replay`, { method: 'POST', headers: withToken, body: '[]' });
    expect([array.status, await array.json()]).toEqual([400, { code: 'INVALID_REQUEST', message: 'The replay request must be a JSON object (send {} to replay every rejected message)' }]);
  });
});

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: unknown;
}

/** A request through node:http, which sends any Host and Origin given, as an attacker's page can make a browser do. */
function send(url: string, path: string, options: { method?: string; headers?: OutgoingHttpHeaders; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const outgoing = request(`${url}${path}`, { method: options.method ?? 'POST', headers: options.headers ?? {} }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const json = (response.headers['content-type'] ?? '').startsWith('application/json');
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: json ? (JSON.parse(text) as unknown) : text });
      });
    });
    outgoing.on('error', reject);
    outgoing.end(options.body);
  });
}

const portOf = (url: string): string => new URL(url).port;

describe("the admin listener's refusals", () => {
  const summary = { examined: 0, published: 0, stillRejected: [], dryRun: false };
  const replayAll = JSON.stringify({});

  describe('POST /replay changes state, so it needs the admin token', () => {
    test('with no ADMIN_TOKEN set it is off (403 ADMIN_DISABLED), never open', async () => {
      const replay = jest.fn(async () => summary);
      const answer = await send(await start({ replay }), '/replay', { headers: withToken, body: replayAll });
      expect([answer.status, answer.body]).toEqual([403, { code: 'ADMIN_DISABLED', message: 'POST /replay is off: set ADMIN_TOKEN on the worker to turn it on (npm start sets one)' }]);
      expect(replay).not.toHaveBeenCalled();
    });

    test('without a token: 401 ADMIN_TOKEN_MISSING, with a Bearer challenge', async () => {
      const replay = jest.fn(async () => summary);
      const url = await start({ replay, adminToken });
      for (const authorization of [undefined, '', 'Basic YWRtaW46YWRtaW4=', 'Bearer ']) {
        const answer = await send(url, '/replay', { headers: { 'content-type': 'application/json', ...(authorization === undefined ? {} : { authorization }) }, body: replayAll });
        expect([answer.status, answer.body, answer.headers['www-authenticate']]).toEqual([
          401,
          { code: 'ADMIN_TOKEN_MISSING', message: 'POST /replay needs the admin token: send Authorization: Bearer <ADMIN_TOKEN> (npm start keeps it in .data/admin-token)' },
          'Bearer realm="sluice admin"',
        ]);
      }
      expect(replay).not.toHaveBeenCalled();
    });

    test('with a wrong token (same length or not, or the token with a character more): 401 ADMIN_TOKEN_WRONG', async () => {
      const replay = jest.fn(async () => summary);
      const url = await start({ replay, adminToken });
      for (const wrong of ['x'.repeat(adminToken.length), 'short', `${adminToken}x`, adminToken.toUpperCase()]) {
        const answer = await send(url, '/replay', { headers: { ...withToken, authorization: `Bearer ${wrong}` }, body: replayAll });
        expect([answer.status, answer.body]).toEqual([401, { code: 'ADMIN_TOKEN_WRONG', message: "The admin token sent for POST /replay is not the worker's ADMIN_TOKEN" }]);
      }
      expect(replay).not.toHaveBeenCalled();
    });

    test('with the right token, an explicit {} sent as application/json replays everything', async () => {
      const replay = jest.fn(async () => summary);
      const answer = await send(await start({ replay, adminToken }), '/replay', { headers: { ...withToken, authorization: `bearer ${adminToken}` }, body: replayAll });
      expect([answer.status, answer.body]).toEqual([200, summary]);
      expect(replay).toHaveBeenCalledWith({});
    });
  });

  describe('POST /replay takes only an explicit JSON object', () => {
    test.each([
      ['text/plain', '"text/plain"'],
      ['application/x-www-form-urlencoded', '"application/x-www-form-urlencoded"'],
      [undefined, 'none'],
    ])('Content-Type %p gets 415 UNSUPPORTED_MEDIA_TYPE, even with the token', async (type, got) => {
      const replay = jest.fn(async () => summary);
      const headers = { authorization: withToken.authorization, ...(type === undefined ? {} : { 'content-type': type }) };
      const answer = await send(await start({ replay, adminToken }), '/replay', { headers, body: replayAll });
      expect([answer.status, answer.body]).toEqual([415, { code: 'UNSUPPORTED_MEDIA_TYPE', message: `POST /replay takes Content-Type: application/json, got ${got}` }]);
      expect(replay).not.toHaveBeenCalled();
    });

    test('a charset or Content-Encoding the listener cannot read gets 415 UNSUPPORTED_MEDIA_TYPE', async () => {
      const replay = jest.fn(async () => summary);
      const url = await start({ replay, adminToken });
      const charset = await send(url, '/replay', { headers: { ...withToken, 'content-type': 'application/json; charset=no-such-charset' }, body: replayAll });
      expect([charset.status, (charset.body as { code: string }).code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
      const encoding = await send(url, '/replay', { headers: { ...withToken, 'content-encoding': 'no-such-encoding' }, body: replayAll });
      expect([encoding.status, (encoding.body as { code: string }).code]).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
      expect(replay).not.toHaveBeenCalled();
    });

    test('an empty body is refused (400 INVALID_REQUEST), never read as "replay everything"', async () => {
      const replay = jest.fn(async () => summary);
      const url = await start({ replay, adminToken });
      for (const body of [undefined, '', '  ']) {
        const answer = await send(url, '/replay', { headers: withToken, ...(body === undefined ? {} : { body }) });
        expect([answer.status, answer.body]).toEqual([400, { code: 'INVALID_REQUEST', message: 'The request body is empty: send a JSON object' }]);
      }
      const nothing = await send(url, '/replay', { headers: withToken, body: 'null' });
      expect([nothing.status, nothing.body]).toEqual([400, { code: 'INVALID_REQUEST', message: 'The replay request must be a JSON object (send {} to replay every rejected message)' }]);
      expect(replay).not.toHaveBeenCalled();
    });
  });

  describe('a web page cannot reach the admin routes through a browser', () => {
    const formPost = { 'content-type': 'text/plain', origin: 'https://evil.example' };

    test('a cross-site POST to /replay gets 403 CROSS_ORIGIN, even carrying the token and JSON', async () => {
      const replay = jest.fn(async () => summary);
      const url = await start({ replay, adminToken });
      for (const headers of [formPost, { ...withToken, origin: 'https://evil.example' }, { ...withToken, origin: 'null' }]) {
        const answer = await send(url, '/replay', { headers, body: replayAll });
        expect([answer.status, (answer.body as { code: string }).code]).toEqual([403, 'CROSS_ORIGIN']);
      }
      expect(replay).not.toHaveBeenCalled();
    });

    test("the listener's own origin may post (its own page, or a proxy in front of it over https)", async () => {
      const url = await start({ replay: async () => summary, adminToken });
      for (const origin of [url, `https://127.0.0.1:${portOf(url)}`]) {
        const answer = await send(url, '/replay', { headers: { ...withToken, origin }, body: replayAll });
        expect([origin, answer.status]).toEqual([origin, 200]);
      }
    });

    test('a Host that is not one of the listener\'s names gets 403 HOST_NOT_ALLOWED (DNS rebinding)', async () => {
      const replay = jest.fn(async () => summary);
      const url = await start({ replay, adminToken });
      const port = portOf(url);
      const rebound = `evil.example:${port}`;
      const own = `127.0.0.1:${port}, localhost:${port}, [::1]:${port}`;
      // A rebinding page is same-origin with its own name, so its Origin matches its Host: only the Host check stops it.
      const answer = await send(url, '/replay', { headers: { ...withToken, host: rebound, origin: `http://${rebound}` }, body: replayAll });
      expect([answer.status, answer.body]).toEqual([
        403,
        { code: 'HOST_NOT_ALLOWED', message: `Host "${rebound}" is not a name of this admin listener (${own}); add it to ADMIN_ALLOWED_HOSTS if the worker is reached by that name` },
      ]);
      // The right name on another port is another origin too.
      const otherPort = await send(url, '/replay', { headers: { ...withToken, host: '127.0.0.1:1' }, body: replayAll });
      expect((otherPort.body as { code: string }).code).toBe('HOST_NOT_ALLOWED');
      // HTTP/1.0 may leave Host out (Node refuses that only in HTTP/1.1).
      const noHost = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1', () => socket.end(`POST /replay HTTP/1.0\r\nContent-Type: application/json\r\nAuthorization: Bearer ${adminToken}\r\nContent-Length: 2\r\n\r\n{}`));
        const chunks: Buffer[] = [];
        socket.on('data', (chunk: Buffer) => chunks.push(chunk));
        socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        socket.on('error', reject);
      });
      expect(noHost).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
      expect(noHost).toContain('{"code":"HOST_NOT_ALLOWED","message":"The request has no Host header; the admin listener answers only requests naming it"}');
      expect(replay).not.toHaveBeenCalled();
    });

    test('every loopback name, ADMIN_HOST on the port, and ADMIN_ALLOWED_HOSTS as written are accepted', async () => {
      const url = await start({ listenHost: 'sluice-worker', allowedHosts: ['admin.example.com', 'Proxy.Internal:8443'], replay: async () => summary, adminToken });
      const port = portOf(url);
      for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`, `sluice-worker:${port}`, 'admin.example.com', 'proxy.internal:8443']) {
        const answer = await send(url, '/replay', { headers: { ...withToken, host }, body: replayAll });
        expect([host, answer.status]).toEqual([host, 200]);
      }
      const unlisted = await send(url, '/replay', { headers: { ...withToken, host: `admin.example.com:${port}` }, body: replayAll });
      expect(unlisted.status).toBe(403);
    });

    test('GET /healthz and GET /metrics answer any Host, as probes call them by addresses the listener cannot know', async () => {
      const url = await start();
      for (const path of ['/healthz', '/metrics']) {
        const answer = await send(url, path, { method: 'GET', headers: { host: '10.1.2.3:8091' } });
        expect([path, answer.status]).toEqual([path, 200]);
      }
    });
  });

  describe('replay through the listener', () => {
    const envelope = (insertId: string, datasetId: string): string =>
      JSON.stringify({
        schema_version: 1,
        event_id: '1f0e4a52-8d1c-4b8e-9a4e-2f6f5c1d9b10',
        insert_id: insertId,
        dataset_id: datasetId,
        source: 'native',
        event_type: 'signup',
        event_name: 'signup',
        occurred_at: 1715644800000,
        received_at: 1715644800123,
      });
    const rejected = (offset: number, value: string) => ({
      kafka_topic: 'events',
      kafka_partition: 0,
      kafka_offset: String(offset),
      kafka_key: '',
      raw_base64: Buffer.from(value).toString('base64'),
    });

    /** A replayer over `rows`; with `firstHeld`, the first replay waits inside it until released. */
    function replayer(rows: object[], options: { firstHeld?: { entered: () => void; released: Promise<void> }; datasets?: (datasetId: string) => boolean } = {}) {
      const published: OutgoingMessage[] = [];
      let calls = 0;
      const replay = createReplayer({
        shards: [
          {
            clickhouse: {
              queryRows: async <T>() => {
                if (calls++ === 0 && options.firstHeld !== undefined) {
                  options.firstHeld.entered();
                  await options.firstHeld.released;
                }
                return rows as T[];
              },
              insertRows: async () => undefined,
            },
            rejected: 'events_rejected',
            replayed: 'events_replayed',
          },
        ],
        publisher: { publish: async (messages) => void published.push(...messages), isConnected: () => true, close: async () => undefined },
        ...(options.datasets === undefined ? {} : { datasets: { isKnownDataset: (_namespace: string, datasetId: string) => options.datasets?.(datasetId) === true } }),
      });
      return { replay, published };
    }

    test('a second replay while one runs gets 409 REPLAY_IN_PROGRESS and publishes nothing; the next one after it runs', async () => {
      let entered = (): void => undefined;
      let release = (): void => undefined;
      const inside = new Promise<void>((resolve) => (entered = resolve));
      const released = new Promise<void>((resolve) => (release = resolve));
      const { replay, published } = replayer([rejected(1, envelope('a', 'shop'))], { firstHeld: { entered, released } });
      const url = await start({ replay, adminToken });
      const first = send(url, '/replay', { headers: withToken, body: replayAll });
      await inside;
      const second = await send(url, '/replay', { headers: withToken, body: replayAll });
      const publishedMeanwhile = published.length;
      // Released before any assertion, so a failing one cannot leave the first request open.
      release();
      expect([second.status, second.body]).toEqual([409, { code: 'REPLAY_IN_PROGRESS', message: 'A replay is already running on this worker; send the request again once it has finished' }]);
      expect(publishedMeanwhile).toBe(0);
      const done = await first;
      expect([done.status, done.body]).toMatchObject([200, { examined: 1, published: 1 }]);
      expect(published).toHaveLength(1);
      const after = await send(url, '/replay', { headers: withToken, body: replayAll });
      expect(after.status).toBe(200);
    });

    test('a message whose dataset no key lists stays rejected at the dataset step and is not published', async () => {
      const { replay, published } = replayer([rejected(1, envelope('a', 'shop')), rejected(2, envelope('b', 'unlisted'))], { datasets: (datasetId) => datasetId === 'shop' });
      const answer = await send(await start({ replay, adminToken }), '/replay', { headers: withToken, body: replayAll });
      expect([answer.status, answer.body]).toEqual([
        200,
        {
          examined: 2,
          published: 1,
          stillRejected: [
            { topic: 'events', partition: 0, offset: '2', step: 'dataset', reason: 'dataset "unlisted" is not known: no key in KEYS_FILE lists it under "native" (source native)' },
          ],
          dryRun: false,
        },
      ]);
      expect(published.map((message) => message.key)).toEqual(['shop/a']);
    });
  });
});
