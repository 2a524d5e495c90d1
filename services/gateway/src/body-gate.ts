import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { SluiceError } from '@sluice/core';

/** Responses already refused while their body was still streaming in: nothing more is answered or done. */
const refusedWhileReading = new WeakSet<Response>();

export function wasRefusedWhileReading(res: Response): boolean {
  return refusedWhileReading.has(res);
}

/** A body sent as is: its bytes on the wire are the bytes its limit counts. */
function sentAsIs(req: Request): boolean {
  const encoding = (req.get('Content-Encoding') ?? '').trim().toLowerCase();
  return encoding === '' || encoding === 'identity';
}

function tooLarge(bytes: string, limit: number): SluiceError {
  return new SluiceError('PAYLOAD_TOO_LARGE', `The body is larger than the limit: ${bytes}; the limit is ${limit} bytes`);
}

export interface BodyGate {
  /** Largest body, counted after gzip is undone. */
  limit: number;
  /** Takes the body's bytes (as sent) from an allowance, or says why not; `size` describes them for the message. */
  take?: (bytes: number, size: string) => SluiceError | undefined;
  /** Answers a refusal made while the body streams in, outside the route's chain. */
  refuse: (res: Response, error: SluiceError) => void;
}

/**
 * Checks a body before the body reader reads it: by its Content-Length when declared, else chunk
 * by chunk as it streams in, refusing as soon as it is too large or past its allowance. The body
 * reader (body-parser) would instead read a body past its limit to the end before its 413, and a
 * chunked one got no answer at all until the request timed out. Refusals close the connection.
 * A compressed body's limit is left to the body reader: only its decoded size counts.
 */
export function bodyGate(gate: BodyGate): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const asIs = sentAsIs(req);
    const declared = req.get('Content-Length');
    if (declared !== undefined) {
      if (asIs && Number(declared) > gate.limit) throw tooLarge(`${declared} bytes`, gate.limit);
      const refusal = gate.take?.(Number(declared), `${declared} bytes`);
      if (refusal !== undefined) throw refusal;
      return next();
    }
    let received = 0;
    const meter = (chunk: Buffer): void => {
      received += chunk.length;
      const size = `${received} bytes so far`;
      const refusal = asIs && received > gate.limit ? tooLarge(size, gate.limit) : gate.take?.(chunk.length, size);
      if (refusal === undefined) return;
      req.off('data', meter);
      refusedWhileReading.add(res);
      gate.refuse(res, refusal);
    };
    // Registered before the body reader's own listener, in the same tick, so both see every chunk.
    req.on('data', meter);
    next();
  };
}
