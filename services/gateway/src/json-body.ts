import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { SluiceError } from '@sluice/core';

/** The largest single-event body by default (MAX_BODY_BYTES); larger ones get 413. */
export const defaultMaxBodyBytes = 1024 * 1024;

/** Deeper JSON than this is refused: no dialect nests more than a few levels. */
export const maxJsonDepth = 32;

/** The nesting depth of a parsed JSON value, measured without recursion so no input can overflow the stack. */
export function jsonDepth(value: unknown): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop() as [unknown, number];
    if (typeof current !== 'object' || current === null) continue;
    deepest = Math.max(deepest, depth);
    if (deepest > maxJsonDepth) return deepest;
    for (const child of Object.values(current)) stack.push([child, depth + 1]);
  }
  return deepest;
}

export function assertDepth(value: unknown, where = 'The body'): void {
  if (jsonDepth(value) > maxJsonDepth) throw new SluiceError('INVALID_JSON', `${where} is nested deeper than ${maxJsonDepth} levels`);
}

/** JSON bodies only, up to `limit` bytes (after gzip or deflate is undone), nested at most maxJsonDepth deep. */
export function jsonBody(limit: number): RequestHandler[] {
  return [
    (req: Request, _res: Response, next: NextFunction) => {
      if (req.is('application/json') === 'application/json' || req.is('+json')) return next();
      next(new SluiceError('UNSUPPORTED_MEDIA_TYPE', `Content-Type must be application/json, got ${JSON.stringify(req.get('Content-Type') ?? '(none)')}`));
    },
    express.json({ limit, strict: false, type: () => true }),
    (req: Request, _res: Response, next: NextFunction) => {
      assertDepth(req.body);
      next();
    },
  ];
}
