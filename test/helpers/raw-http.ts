/**
 * HTTP/1.1 over a bare socket, for what fetch cannot show: how much of a body the server read,
 * whether it answered before the body was sent, and whether it closed the connection.
 */
import type { Server } from 'node:http';
import { connect, type Socket } from 'node:net';

export function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** The server's side of every connection it accepts, to see how many bytes it read. */
export function acceptedSockets(server: Server): Socket[] {
  const accepted: Socket[] = [];
  server.on('connection', (socket: Socket) => accepted.push(socket));
  return accepted;
}

/** The server side's bytes read, once it has closed the connection. */
export async function bytesReadByServer(accepted: readonly Socket[]): Promise<number> {
  const socket = accepted.at(-1);
  if (socket === undefined) throw new Error('no connection was accepted');
  if (!socket.destroyed) await new Promise((resolve) => socket.once('close', resolve));
  return socket.bytesRead;
}

export interface Exchange {
  /** Everything the server answered. */
  response: string;
  /** Whether the server closed the connection before the client was done. */
  closedByServer: boolean;
  /** Bytes of body the client had handed to its socket when the first answer arrived. */
  sentWhenAnswered: number | undefined;
}

const chunk = Buffer.alloc(64 * 1024, 'x');
/** 64 KiB of body as one chunk of a chunked body. */
export const chunkedFrame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
/** The end of a chunked body. */
export const lastChunk = '0\r\n\r\n';

/**
 * Sends `head` (request line and headers, blank line included), then `frame` again and again as
 * fast as the server takes it, up to `total` bytes, unless the server closes first. If the server
 * is still reading by then, sends `end` and waits for the answer.
 */
export async function upload(port: number, options: { head: string; frame: Buffer; total: number; end?: string }): Promise<Exchange> {
  const socket = await openSocket(port);
  let response = '';
  let sent = 0;
  let sentWhenAnswered: number | undefined;
  let closed = false;
  socket.on('data', (data: Buffer) => {
    sentWhenAnswered ??= sent;
    response += data.toString('latin1');
  });
  socket.on('error', () => undefined);
  const closedPromise = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  void closedPromise.then(() => (closed = true));
  socket.write(options.head);
  while (!closed && sent < options.total) {
    const frame = options.frame.subarray(0, options.total - sent);
    sent += frame.length;
    if (!socket.write(frame)) await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), closedPromise]);
  }
  if (closed) return { response, closedByServer: true, sentWhenAnswered };
  if (options.end !== undefined) socket.write(options.end);
  if (sentWhenAnswered === undefined) await Promise.race([closedPromise, new Promise<void>((resolve) => socket.once('data', () => resolve()))]);
  const closedByServer = closed;
  socket.destroy();
  return { response, closedByServer, sentWhenAnswered };
}
