/**
 * Slow and greedy clients, as a raw socket sees the gateway: requests refused before their body
 * is read close the connection instead of reading the body, and the timeouts and connection cap
 * of createGatewayServer hold. The publisher is a stand-in: Kafka is not what is tested here.
 */
import type { Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { silentLogger, type EventPublisher } from '@sluice/core';
import { createDevKeyStore } from '@sluice/tenancy';
import { createApp, type GatewayDeps } from './app';
import { createRateLimiter } from './rate-limit';
import { acceptedSockets, bytesReadByServer, chunkedFrame, lastChunk, openSocket, upload, type Exchange } from '../../../test/helpers/raw-http';
import { createGatewayServer, defaultConnectionLimits, listenGateway, type ConnectionLimits } from './server';

const apiKey = 'sk_dev_slow_clients';
const publisher: EventPublisher = { publish: () => Promise.resolve(), isConnected: () => true, close: () => Promise.resolve() };

interface Gateway {
  port: number;
  accepted: Socket[];
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

async function startGateway(limits: Partial<ConnectionLimits> = {}, deps: Partial<GatewayDeps> = {}): Promise<Gateway> {
  const app = createApp({ publisher, keyStore: createDevKeyStore(apiKey), logger: silentLogger, kafkaReadiness: () => Promise.resolve(undefined), ...deps });
  const server = createGatewayServer(app, { ...defaultConnectionLimits, ...limits });
  servers.push(server);
  const accepted = acceptedSockets(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, accepted };
}

/**
 * Opens `burst` connections at once to a gateway listening with `limits`, and counts those
 * connected 300 ms later: well short of the 1 s after which a SYN the kernel dropped is sent again.
 */
async function connectedOfBurst(limits: ConnectionLimits, burst: number): Promise<number> {
  const app = createApp({ publisher, keyStore: createDevKeyStore(apiKey), logger: silentLogger, kafkaReadiness: () => Promise.resolve(undefined) });
  const server = createGatewayServer(app, limits);
  servers.push(server);
  await listenGateway(server, 0, '127.0.0.1', limits);
  const port = (server.address() as AddressInfo).port;
  const sockets: Socket[] = [];
  // All connect before this process's event loop, and so the server, accepts any of them.
  for (let i = 0; i < burst; i++) {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    sockets.push(socket);
  }
  await new Promise((resolve) => setTimeout(resolve, 300));
  const connected = sockets.filter((socket) => !socket.connecting).length;
  for (const socket of sockets) socket.destroy();
  return connected;
}

/** Sends `head` and then one header line every `everyMs`, up to `lines`, unless the server closes first. */
async function dripHeaders(port: number, head: string, lines: number, everyMs: number): Promise<Exchange> {
  const socket = await openSocket(port);
  let response = '';
  let closed = false;
  socket.on('data', (data: Buffer) => (response += data.toString('latin1')));
  socket.on('error', () => undefined);
  socket.once('close', () => (closed = true));
  socket.write(head);
  for (let i = 0; i < lines && !closed; i++) {
    await new Promise((resolve) => setTimeout(resolve, everyMs));
    if (!closed) socket.write(`X-Slow-${i}: x\r\n`);
  }
  const closedByServer = closed;
  socket.destroy();
  return { response, closedByServer, sentWhenAnswered: undefined };
}

describe('a request refused before its body is read is answered at once and its body is not read', () => {
  const total = 64 * 1024 * 1024;
  const chunked = 'Transfer-Encoding: chunked\r\n';

  test.each([
    { name: 'POST /v1/batch without a key', status: '401', head: 'POST /v1/batch HTTP/1.1\r\nHost: gw\r\nContent-Type: application/x-ndjson\r\n' },
    { name: 'PUT /api/analytics/events without a key', status: '401', head: 'PUT /api/analytics/events HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nTR-Dataset: shop\r\n' },
    { name: 'POST /v1/batch with a key and an unknown type', status: '415', head: `POST /v1/batch HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${apiKey}\r\nContent-Type: text/plain\r\n` },
    { name: 'POST /api/v1/events with a key and an unknown type', status: '415', head: `POST /api/v1/events HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${apiKey}\r\nContent-Type: text/plain\r\n` },
  ])('$name: $status, Connection: close, and the server stops reading', async ({ head, status }) => {
    const gateway = await startGateway();
    const exchange = await upload(gateway.port, { head: `${head}${chunked}\r\n`, frame: chunkedFrame, total, end: lastChunk });
    expect(exchange.response).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect(exchange.response).toMatch(/\r\nConnection: close\r\n/i);
    expect(exchange.closedByServer).toBe(true);
    expect(exchange.sentWhenAnswered).toBeLessThan(total);
    // What the server read is what was in flight before it answered, not the 64 MiB offered.
    expect(await bytesReadByServer(gateway.accepted)).toBeLessThan(4 * 1024 * 1024);
  });

  test('a key over its rate: 429 with Retry-After, Connection: close, and the server stops reading', async () => {
    const rateLimiter = createRateLimiter({ eventsPerSecond: 1, burst: 1, clock: () => 0 });
    rateLimiter.take('dev', 1);
    const gateway = await startGateway({}, { rateLimiter });
    const head = `PUT /api/analytics/events HTTP/1.1\r\nHost: gw\r\nAuthorization: ${apiKey}\r\nContent-Type: application/json\r\nTR-Dataset: shop\r\n`;
    const exchange = await upload(gateway.port, { head: `${head}${chunked}\r\n`, frame: chunkedFrame, total, end: lastChunk });
    expect(exchange.response).toMatch(/^HTTP\/1\.1 429 /);
    expect(exchange.response).toMatch(/\r\nRetry-After: 1\r\n/i);
    expect(exchange.closedByServer).toBe(true);
    expect(await bytesReadByServer(gateway.accepted)).toBeLessThan(4 * 1024 * 1024);
  });

  test('a refusal after the whole body was read keeps the connection alive', async () => {
    const gateway = await startGateway();
    const socket = await openSocket(gateway.port);
    const answers: string[] = [];
    socket.on('data', (data: Buffer) => answers.push(data.toString('latin1')));
    const body = '{"not": "a trieve event"}';
    const request = `PUT /api/analytics/events HTTP/1.1\r\nHost: gw\r\nAuthorization: ${apiKey}\r\nContent-Type: application/json\r\nTR-Dataset: shop\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    socket.write(request);
    await new Promise((resolve) => socket.once('data', resolve));
    socket.write(request);
    await new Promise((resolve) => socket.once('data', resolve));
    socket.destroy();
    expect(answers.join('').match(/HTTP\/1\.1 400 /g)).toHaveLength(2);
    expect(answers.join('')).not.toMatch(/Connection: close/i);
  });
});

/**
 * A gateway with room for one request in flight, that room taken by a Trieve PUT whose publish
 * never ends, so that every later ingest request is shed. `holder` is that request's connection.
 */
async function gatewayWithItsOnePlaceHeld(deps: Partial<GatewayDeps> = {}): Promise<{ gateway: Gateway; holder: Socket; head: string; body: string }> {
  let publishing = 0;
  const hanging: EventPublisher = {
    publish: () => {
      publishing++;
      return new Promise<void>(() => undefined);
    },
    isConnected: () => true,
    close: () => Promise.resolve(),
  };
  const gateway = await startGateway({}, { ...deps, publisher: hanging, maxInFlight: 1 });
  const body = JSON.stringify({ event_type: 'view', event_name: 'page', items: ['a'] });
  const head = `PUT /api/analytics/events HTTP/1.1\r\nHost: gw\r\nAuthorization: ${apiKey}\r\nContent-Type: application/json\r\nTR-Dataset: shop\r\nContent-Length: ${body.length}\r\n\r\n`;
  const holder = await openSocket(gateway.port);
  holder.write(`${head}${body}`);
  while (publishing < 1) await new Promise((resolve) => setTimeout(resolve, 10));
  return { gateway, holder, head, body };
}

test('a request shed before its body arrives keeps its connection when the body is declared small: the client sends its next request on it', async () => {
  const { gateway, holder, head, body } = await gatewayWithItsOnePlaceHeld();

  const socket = await openSocket(gateway.port);
  let response = '';
  let closed = false;
  socket.on('data', (data: Buffer) => (response += data.toString('latin1')));
  socket.once('close', () => (closed = true));
  // The headers alone: the gateway sheds the request before its body has come.
  socket.write(head);
  while (!response.includes('\r\n\r\n')) await new Promise((resolve) => setTimeout(resolve, 10));
  socket.write(`${body}${head}${body}`);
  while ((response.match(/HTTP\/1\.1 503 /g) ?? []).length < 2 && !closed) await new Promise((resolve) => setTimeout(resolve, 10));
  const closedByServer = closed;
  socket.destroy();
  holder.destroy();
  expect(response.match(/HTTP\/1\.1 503 /g)).toHaveLength(2);
  expect(response.match(/\r\nRetry-After: 1\r\n/gi)).toHaveLength(2);
  expect(response).not.toMatch(/Connection: close/i);
  expect(closedByServer).toBe(false);
});

test('a connection whose request was shed is not read for overloadPauseMs: a client ignoring Retry-After gets its next answer only after the pause', async () => {
  const { gateway, holder, head, body } = await gatewayWithItsOnePlaceHeld({ overloadPauseMs: 300 });
  const request = `${head}${body}`;

  const answersOn = async (socket: Socket, count: number, answers: string[]): Promise<void> => {
    while ((answers.join('').match(/HTTP\/1\.1 503 /g) ?? []).length < count) await new Promise((resolve) => socket.once('data', resolve));
  };
  const ignoring = await openSocket(gateway.port);
  const ignoringAnswers: string[] = [];
  ignoring.on('data', (data: Buffer) => ignoringAnswers.push(data.toString('latin1')));
  ignoring.write(request);
  await answersOn(ignoring, 1, ignoringAnswers);
  // At once again, Retry-After ignored; then another client's request, sent after it, is answered first.
  ignoring.write(request);
  const other = await openSocket(gateway.port);
  const otherAnswers: string[] = [];
  other.on('data', (data: Buffer) => otherAnswers.push(data.toString('latin1')));
  other.write(request);
  await answersOn(other, 1, otherAnswers);
  await new Promise((resolve) => setImmediate(resolve));
  const answeredBeforePause = (ignoringAnswers.join('').match(/HTTP\/1\.1 503 /g) ?? []).length;
  // Then, the pause over, it is read and answered on the same connection.
  await answersOn(ignoring, 2, ignoringAnswers);
  ignoring.destroy();
  other.destroy();
  holder.destroy();
  expect(answeredBeforePause).toBe(1);
  expect(ignoringAnswers.join('')).not.toMatch(/Connection: close/i);
});

describe('a body past its size limit gets 413 at once, and the rest of it is not read', () => {
  const limits = { maxBodyBytes: 64 * 1024, batchLimits: { maxEvents: 10_000, maxBytes: 256 * 1024 } };
  const total = 64 * 1024 * 1024;
  const plain = Buffer.alloc(64 * 1024, ' ');
  const batch = `POST /v1/batch HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${apiKey}\r\nContent-Type: application/x-ndjson\r\n`;
  const trieve = `PUT /api/analytics/events HTTP/1.1\r\nHost: gw\r\nAuthorization: ${apiKey}\r\nContent-Type: application/json\r\nTR-Dataset: shop\r\n`;

  test.each([
    { name: 'a batch declaring 64 MiB', head: `${batch}Content-Length: ${total}\r\n\r\n`, frame: plain, message: `"message":"The body is larger than the limit: ${total} bytes; the limit is 262144 bytes"` },
    { name: 'a chunked batch of 64 MiB', head: `${batch}Transfer-Encoding: chunked\r\n\r\n`, frame: chunkedFrame, message: 'bytes so far; the limit is 262144 bytes"' },
    { name: 'a Trieve event declaring 64 MiB', head: `${trieve}Content-Length: ${total}\r\n\r\n`, frame: plain, message: `{"message":"The body is larger than the limit: ${total} bytes; the limit is 65536 bytes"}` },
    { name: 'a chunked Trieve event of 64 MiB', head: `${trieve}Transfer-Encoding: chunked\r\n\r\n`, frame: chunkedFrame, message: 'bytes so far; the limit is 65536 bytes"}' },
  ])('$name: 413, Connection: close, and the server stops reading', async ({ head, frame, message }) => {
    const gateway = await startGateway({}, limits);
    const exchange = await upload(gateway.port, { head, frame, total, end: lastChunk });
    expect(exchange.response).toMatch(/^HTTP\/1\.1 413 /);
    expect(exchange.response).toContain(message);
    expect(exchange.response).toMatch(/\r\nConnection: close\r\n/i);
    expect(exchange.closedByServer).toBe(true);
    expect(await bytesReadByServer(gateway.accepted)).toBeLessThan(4 * 1024 * 1024);
  });
});

describe('createGatewayServer bounds slow and numerous clients', () => {
  test('a client sending its headers slowly gets 408 and is cut off after headersTimeout', async () => {
    const gateway = await startGateway({ headersTimeoutMs: 300, requestTimeoutMs: 1_000 });
    // Up to 6 s of headers, one line every 100 ms: far past the 300 ms allowed.
    const exchange = await dripHeaders(gateway.port, 'GET /healthz HTTP/1.1\r\nHost: gw\r\n', 60, 100);
    expect(exchange.closedByServer).toBe(true);
    expect(exchange.response).toMatch(/^HTTP\/1\.1 408 /);
  });

  test('a client sending its body slowly is cut off after requestTimeout', async () => {
    const gateway = await startGateway({ headersTimeoutMs: 300, requestTimeoutMs: 600 });
    const socket = await openSocket(gateway.port);
    let closed = false;
    socket.on('error', () => undefined);
    socket.once('close', () => (closed = true));
    socket.write(`POST /v1/batch HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${apiKey}\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n`);
    // Up to 6 s of body, one byte every 100 ms.
    for (let i = 0; i < 60 && !closed; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      if (!closed) socket.write('1\r\n \r\n');
    }
    const closedByServer = closed;
    socket.destroy();
    expect(closedByServer).toBe(true);
  });

  test('an idle keep-alive connection is not cut off by headersTimeout, only by keepAliveTimeout', async () => {
    const gateway = await startGateway({ headersTimeoutMs: 300, requestTimeoutMs: 1_000, keepAliveTimeoutMs: 10_000 });
    const socket = await openSocket(gateway.port);
    const answers: string[] = [];
    socket.on('data', (data: Buffer) => answers.push(data.toString('latin1')));
    socket.write('GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n');
    await new Promise((resolve) => socket.once('data', resolve));
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    socket.write('GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n');
    await Promise.race([new Promise((resolve) => socket.once('data', resolve)), new Promise((resolve) => socket.once('close', resolve))]);
    socket.destroy();
    expect(answers.join('').match(/HTTP\/1\.1 200 /g)).toHaveLength(2);
  });

  test('connections beyond maxConnections are closed as they arrive; those within are served', async () => {
    const gateway = await startGateway({ maxConnections: 2 });
    const first = await openSocket(gateway.port);
    const second = await openSocket(gateway.port);
    while (gateway.accepted.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
    const third = await openSocket(gateway.port);
    third.on('error', () => undefined);
    let thirdAnswer = '';
    third.on('data', (data: Buffer) => (thirdAnswer += data.toString('latin1')));
    third.write('GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n');
    await new Promise((resolve) => third.once('close', resolve));
    expect(thirdAnswer).toBe('');

    first.write('GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n');
    const answer = await new Promise<string>((resolve) => first.once('data', (data: Buffer) => resolve(data.toString('latin1'))));
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    first.destroy();
    second.destroy();
  });

  test('listenGateway with acceptHandles: new connections are accepted several per event-loop round, not one (Node 20, libuv#3696)', async () => {
    const app = createApp({ publisher, keyStore: createDevKeyStore(apiKey), logger: silentLogger, kafkaReadiness: () => Promise.resolve(undefined) });
    const limits = { ...defaultConnectionLimits, acceptHandles: 4 };
    const server = createGatewayServer(app, limits);
    servers.push(server);
    await listenGateway(server, 0, '127.0.0.1', limits);
    const port = (server.address() as AddressInfo).port;
    let acceptedThisRound = 0;
    let mostInOneRound = 0;
    let accepted = 0;
    server.on('connection', () => {
      accepted++;
      mostInOneRound = Math.max(mostInOneRound, ++acceptedThisRound);
    });
    // Rounds kept busy for a few ms each, as under load, so that connections queue up between them.
    let busy = true;
    const round = (): void => {
      acceptedThisRound = 0;
      const until = Date.now() + 5;
      while (Date.now() < until);
      if (busy) setImmediate(round);
    };
    setImmediate(round);
    const burst = 32;
    const sockets = await Promise.all(Array.from({ length: burst }, () => openSocket(port)));
    while (accepted < burst) await new Promise((resolve) => setTimeout(resolve, 10));
    busy = false;
    for (const socket of sockets) socket.destroy();
    expect(mostInOneRound).toBeGreaterThan(1);
  });

  test('listenGateway with acceptHandles: a client that connects while the extra handles are being made is answered like any other', async () => {
    const app = createApp({ publisher, keyStore: createDevKeyStore(apiKey), logger: silentLogger, kafkaReadiness: () => Promise.resolve(undefined) });
    const limits = { ...defaultConnectionLimits, acceptHandles: 4 };
    const server = createGatewayServer(app, limits);
    servers.push(server);
    const listening = listenGateway(server, 0, '127.0.0.1', limits);
    // The server's own handle listens first, and a health check on it passes, while the copies are still being made.
    await new Promise((resolve) => server.once('listening', resolve));
    const port = (server.address() as AddressInfo).port;
    let ready = false;
    void listening.then(() => (ready = true));
    const ask = async (): Promise<string> => {
      const socket = await openSocket(port);
      socket.on('error', () => undefined);
      socket.write('GET /healthz HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n');
      // A liveness bound, not a timing: an accepted connection nobody reads is never answered.
      return new Promise<string>((resolve) => {
        const unanswered = setTimeout(() => resolve('no answer'), 5_000);
        socket.once('data', (data: Buffer) => {
          clearTimeout(unanswered);
          resolve(data.toString('latin1').split('\r\n')[0] ?? '');
        });
      }).finally(() => socket.destroy());
    };
    const answers: Promise<string>[] = [];
    // Bursts, as a fleet of clients arrives: one handle alone would take them one per round.
    while (!ready) {
      for (let i = 0; i < 8; i++) answers.push(ask());
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    expect(answers.length).toBeGreaterThan(1);
    expect(new Set(await Promise.all(answers))).toEqual(new Set(['HTTP/1.1 200 OK']));
  });

  test('listenGateway with acceptHandles: maxConnections holds over every handle', async () => {
    const app = createApp({ publisher, keyStore: createDevKeyStore(apiKey), logger: silentLogger, kafkaReadiness: () => Promise.resolve(undefined) });
    const limits = { ...defaultConnectionLimits, maxConnections: 2, acceptHandles: 4 };
    const server = createGatewayServer(app, limits);
    servers.push(server);
    await listenGateway(server, 0, '127.0.0.1', limits);
    const port = (server.address() as AddressInfo).port;
    // Each kept open once answered: at most two ever are.
    const answers = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const socket = await openSocket(port);
        socket.on('error', () => undefined);
        socket.write('GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n');
        return new Promise<string>((resolve) => {
          socket.once('data', (data: Buffer) => resolve(data.toString('latin1')));
          socket.once('close', () => resolve('closed'));
        });
      }),
    );
    server.closeAllConnections();
    expect(answers.filter((answer) => answer.startsWith('HTTP/1.1 200 '))).toHaveLength(2);
    expect(answers.filter((answer) => answer === 'closed')).toHaveLength(6);
  });

  test("listenGateway: a burst of connections past Node's default listen queue (511) waits in the kernel's queue, none of its SYNs dropped (sent again only after 1 s)", async () => {
    expect(await connectedOfBurst(defaultConnectionLimits, 700)).toBe(700);
  });

  test("listenGateway with acceptHandles: the listen queue stays maxConnections deep, not the 511 Node gives each handle received over IPC", async () => {
    expect(await connectedOfBurst({ ...defaultConnectionLimits, acceptHandles: 4 }, 700)).toBe(700);
  });

  test('a headers timeout above the request timeout is refused', () => {
    let thrown: unknown;
    try {
      createGatewayServer(() => undefined, { ...defaultConnectionLimits, headersTimeoutMs: 2_000, requestTimeoutMs: 1_000 });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ code: 'INVALID_CONFIG', message: 'GATEWAY_HEADERS_TIMEOUT_MS (2000) must not be above GATEWAY_REQUEST_TIMEOUT_MS (1000)' });
  });
});
