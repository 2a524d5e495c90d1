/**
 * The overload bench's own HTTP/1.1 client: it must read answers however the server's bytes are
 * split, keep its connection unless told to close it, and count a request left unanswered as a
 * timeout, or the bench's figures are wrong.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { RawClient, rawRequest } from '../../bench/raw-client';

const request = { method: 'PUT', path: '/e', headers: { 'content-type': 'application/json' }, body: Buffer.from('{"a":1}') };

/** A server that answers each request with the next of `answers`, written in pieces; `undefined`: no answer. */
async function scriptedServer(answers: (string[] | undefined)[]): Promise<{ port: number; server: Server; connections: number; received: string[] }> {
  const state = { port: 0, server: createServer(), connections: 0, received: [] as string[] };
  state.server.on('connection', (socket: Socket) => {
    state.connections++;
    socket.on('data', (data: Buffer) => {
      state.received.push(data.toString('latin1'));
      const pieces = answers.shift();
      if (pieces === undefined) return;
      pieces.forEach((piece, i) => setTimeout(() => socket.write(piece), 5 * i));
    });
  });
  await new Promise<void>((resolve) => state.server.listen(0, '127.0.0.1', resolve));
  state.port = (state.server.address() as AddressInfo).port;
  return state;
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

test('reads answers split anywhere, on one kept-alive connection, with their status, body and Retry-After', async () => {
  const body = '{"message":"busy"}';
  const gateway = await scriptedServer([
    ['HTTP/1.1 204 No Content\r\nDate: x\r', '\n\r\n'],
    [`HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: ${body.length}\r\n\r\n{"mess`, 'age":"busy"}'],
  ]);
  servers.push(gateway.server);
  const client = new RawClient(gateway.port, '127.0.0.1', rawRequest('gw', request), 5_000);
  const first = await client.send();
  const second = await client.send();
  client.close();
  expect([first.status, first.newConnection]).toEqual([204, true]);
  expect({ status: second.status, body: second.body, retryAfter: second.retryAfter, newConnection: second.newConnection }).toEqual({ status: 503, body, retryAfter: '1', newConnection: false });
  expect(gateway.connections).toBe(1);
  expect(gateway.received[0]).toBe('PUT /e HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ncontent-length: 7\r\n\r\n{"a":1}');
});

test('an answer with Connection: close makes the next request open a new connection', async () => {
  const gateway = await scriptedServer([['HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'], ['HTTP/1.1 204 No Content\r\n\r\n']]);
  servers.push(gateway.server);
  const client = new RawClient(gateway.port, '127.0.0.1', rawRequest('gw', request), 5_000);
  await client.send();
  const second = await client.send();
  client.close();
  expect([second.status, second.newConnection]).toEqual([204, true]);
  expect(gateway.connections).toBe(2);
});

test('a request left unanswered is a timeout (status 0), and the next one goes on a new connection', async () => {
  const gateway = await scriptedServer([undefined, ['HTTP/1.1 204 No Content\r\n\r\n']]);
  servers.push(gateway.server);
  const client = new RawClient(gateway.port, '127.0.0.1', rawRequest('gw', request), 200);
  const unanswered = await client.send();
  const next = await client.send();
  client.close();
  expect({ status: unanswered.status, timedOut: unanswered.timedOut }).toEqual({ status: 0, timedOut: true });
  expect([next.status, next.newConnection]).toEqual([204, true]);
});
