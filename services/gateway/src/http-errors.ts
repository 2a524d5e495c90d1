import type { IncomingMessage, ServerResponse } from 'node:http';
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
}

/** Anything thrown while handling a request, as a catalogue error; an unexpected one is logged and becomes 500. */
export function toSluiceError(error: unknown, logger: Logger): SluiceError {
  if (error instanceof SluiceError) return error;
  logger.error('unexpected error while handling a request', { error: errorMessage(error), stack: error instanceof Error ? error.stack : undefined });
  return new SluiceError('INTERNAL', 'Internal error; the event was not acknowledged', { cause: error });
}
