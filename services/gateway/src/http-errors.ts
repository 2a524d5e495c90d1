import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { SluiceError, errorMessage, type Logger } from '@sluice/core';

/**
 * The gateway's one error serialiser: every refusal, from the ingest core or from the express app,
 * becomes a Reply here (its status, Retry-After when retriable, and a body in the door's shape),
 * and every Reply is written by sendReply.
 */

/** What the gateway answers, without HTTP: status, headers, and a body already serialised. */
export interface Reply {
  status: number;
  headers: Record<string, string>;
  body?: string;
  /** Milliseconds the connection is not read after this reply, when it is kept alive (a shed request's, see pauseReading). */
  pauseReadingMs?: number;
}

/** Seconds a client should wait before retrying a retriable refusal, unless the error says otherwise. */
export const defaultRetryAfterSeconds = 1;

const jsonContentType = { 'Content-Type': 'application/json; charset=utf-8' };

export function jsonReply(status: number, value: unknown): Reply {
  return { status, headers: { ...jsonContentType }, body: JSON.stringify(value) };
}

export function emptyReply(status: number, headers: Record<string, string> = {}): Reply {
  return { status, headers };
}

/** A refusal's status and headers, with `body` in whatever shape the door that refuses gives its errors. */
export function refusalReply(error: SluiceError, body: unknown): Reply {
  const reply = jsonReply(error.status, body);
  if (error.retriable) reply.headers['Retry-After'] = String(error.retryAfterSeconds ?? defaultRetryAfterSeconds);
  return reply;
}

/** Our own routes (batch, beacon, health, 404) answer errors as {code, message}, and a batch's 503 after a send the insert ids a retry must reuse. */
export function codedRefusal(error: SluiceError): Reply {
  return refusalReply(error, { code: error.code, message: error.message, ...(error.insertIds === undefined ? {} : { insert_ids: error.insertIds }) });
}

/**
 * The most unread body a reply leaves its connection open for: Node reads and discards it, which
 * costs less than the new connection the client would open. Under overload that matters most:
 * every shed request would otherwise cost a handshake, and the SYNs past the listen queue are
 * dropped and retried after 1 s and 3 s (issue 16).
 */
const maxDiscardedBodyBytes = 64 * 1024;

/** Whether the rest of an unread body is declared small enough for Node to discard it (chunked bodies have no declared size). */
function discardable(req: IncomingMessage): boolean {
  const declared = req.headers['content-length'];
  return !req.readableDidRead && req.headers['transfer-encoding'] === undefined && declared !== undefined && Number(declared) <= maxDiscardedBodyBytes;
}

/**
 * Writes a reply. One sent before the request's body was read whole (401, 413, 415, 429, 503, ...)
 * closes the connection, unless the body is unread and declared small (discardable): kept alive,
 * Node would read and discard the rest of the body first, however large, for a client that may
 * not even have a key.
 */
export function sendReply(req: IncomingMessage, res: ServerResponse, reply: Reply): void {
  const headers: Record<string, string | number> = { ...reply.headers };
  if (!req.complete && !discardable(req)) headers.Connection = 'close';
  if (reply.body !== undefined) headers['Content-Length'] = Buffer.byteLength(reply.body);
  res.writeHead(reply.status, headers);
  res.end(reply.body);
  if (reply.pauseReadingMs !== undefined && reply.pauseReadingMs > 0 && headers.Connection === undefined) pauseReading(req.socket, reply.pauseReadingMs);
}

/** The part of a socket's libuv handle that starts and stops reading; `reading` is whether Node wants it read. */
interface ReadingHandle {
  reading: boolean;
  readStart(): number;
  readStop(): number;
}

function readingHandle(socket: Socket): ReadingHandle | undefined {
  const handle = (socket as unknown as { _handle?: Partial<ReadingHandle> | null })._handle;
  return typeof handle?.readStart === 'function' && typeof handle.readStop === 'function' && typeof handle.reading === 'boolean' ? (handle as ReadingHandle) : undefined;
}

/**
 * Stops reading a connection for `ms`: its next requests wait in the kernel, unread, and cost the
 * event loop nothing. Under overload, clients that ignore a 503's Retry-After send again at once;
 * read, each costs a round of the loop only to be shed again, and with thousands of them a round
 * took about 20 ms. Node 20 (libuv 1.46) accepts one connection per round, so new clients waited
 * past their timeout in the listen queue (issue 16, README bench `overload`).
 * Node has no public way to do this: socket.pause() is undone by the HTTP server as soon as the
 * request's body is read or discarded, so the handle is stopped directly, leaving `reading` (Node's
 * own flag) as it is; reading restarts only if Node still wants it then.
 */
function pauseReading(socket: Socket, ms: number): void {
  const handle = readingHandle(socket);
  if (handle === undefined || !handle.reading) return;
  handle.readStop();
  setTimeout(() => {
    if (!socket.destroyed && readingHandle(socket) === handle && handle.reading) handle.readStart();
  }, ms);
}

/** Anything thrown while handling a request, as a catalogue error; an unexpected one is logged and becomes 500. */
export function toSluiceError(error: unknown, logger: Logger): SluiceError {
  if (error instanceof SluiceError) return error;
  logger.error('unexpected error while handling a request', { error: errorMessage(error), stack: error instanceof Error ? error.stack : undefined });
  return new SluiceError('INTERNAL', 'Internal error; the event was not acknowledged', { cause: error });
}
