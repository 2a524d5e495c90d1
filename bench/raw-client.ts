/**
 * One HTTP/1.1 client on a kept-alive connection of its own, one request at a time, written and
 * read by hand: node:http's client costs a load generator about as much CPU per request as the
 * gateway spends answering it, so on a machine shared with the gateway it cannot offer much more
 * than the gateway takes. This one writes a request prepared once and reads only the status line,
 * Content-Length, Retry-After and Connection of the answer (the gateway answers every request it
 * parses with a Content-Length, or with no body).
 */
import { connect, type Socket } from 'node:net';
import type { Answer, LoadRequest } from './load';

const headEnd = Buffer.from('\r\n\r\n');

/** The request's bytes, ready to write as many times as needed. */
export function rawRequest(host: string, next: LoadRequest): Buffer {
  const headers = { host, ...next.headers, 'content-length': String(next.body.length) };
  const head = `${next.method} ${next.path} HTTP/1.1\r\n${Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), next.body]);
}

interface Pending {
  startedAt: number;
  newConnection: boolean;
  connectMs?: number;
  timer: NodeJS.Timeout;
  resolve(answer: Answer): void;
}

function headerValue(head: string, name: string): string | undefined {
  const match = new RegExp(`\r\n${name}:[ \t]*([^\r]*)`, 'i').exec(head);
  return match?.[1]?.trim();
}

export class RawClient {
  private socket: Socket | undefined;
  private received: Buffer = Buffer.alloc(0);
  private pending: Pending | undefined;

  constructor(
    private readonly port: number,
    private readonly host: string,
    private readonly request: Buffer,
    private readonly timeoutMs: number,
  ) {}

  /** Sends the request, on this client's connection or a new one; resolves with its answer, a failure (status 0) or a timeout. */
  send(): Promise<Answer> {
    if (this.pending !== undefined) throw new Error('one request at a time');
    return new Promise((resolve) => {
      const startedAt = performance.now();
      const newConnection = this.socket === undefined;
      const socket = this.socket ?? this.open();
      const timer = setTimeout(() => this.fail(`no answer within ${this.timeoutMs} ms`, true), this.timeoutMs);
      this.pending = { startedAt, newConnection, timer, resolve };
      socket.write(this.request);
    });
  }

  /** Opens the connection ahead of the first request; resolves once it is established (or has failed: the first request then opens another). */
  connect(): Promise<void> {
    const socket = this.socket ?? this.open();
    return socket.connecting ? new Promise((resolve) => socket.once('connect', resolve).once('close', resolve)) : Promise.resolve();
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private open(): Socket {
    const socket = connect({ port: this.port, host: this.host, noDelay: true });
    this.socket = socket;
    this.received = Buffer.alloc(0);
    socket.once('connect', () => {
      if (this.pending !== undefined && this.socket === socket) this.pending.connectMs = performance.now() - this.pending.startedAt;
    });
    socket.on('data', (chunk: Buffer) => {
      if (this.socket === socket) this.onData(chunk);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (this.socket === socket) this.fail('the server closed the connection', false);
    });
    return socket;
  }

  private onData(chunk: Buffer): void {
    this.received = this.received.length === 0 ? chunk : Buffer.concat([this.received, chunk]);
    const end = this.received.indexOf(headEnd);
    if (end === -1) return;
    const head = this.received.toString('latin1', 0, end);
    const length = Number(headerValue(head, 'content-length') ?? 0);
    const total = end + headEnd.length + length;
    if (this.received.length < total) return;
    const body = this.received.toString('utf8', end + headEnd.length, total);
    this.received = this.received.subarray(total);
    const pending = this.pending;
    this.pending = undefined;
    if (pending === undefined) return;
    clearTimeout(pending.timer);
    if (headerValue(head, 'connection')?.toLowerCase() === 'close') this.close();
    pending.resolve({
      status: Number(head.slice(9, 12)),
      body,
      retryAfter: headerValue(head, 'retry-after'),
      startedAt: pending.startedAt,
      answeredAt: performance.now(),
      newConnection: pending.newConnection,
      connectMs: pending.connectMs,
    });
  }

  /** No answer: the connection is dropped, and the next request opens a new one. */
  private fail(reason: string, timedOut: boolean): void {
    const pending = this.pending;
    this.pending = undefined;
    this.close();
    if (pending === undefined) return;
    clearTimeout(pending.timer);
    pending.resolve({ status: 0, body: reason, timedOut, startedAt: pending.startedAt, answeredAt: performance.now(), newConnection: pending.newConnection, connectMs: pending.connectMs });
  }
}
