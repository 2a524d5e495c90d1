import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { SluiceError } from '@sluice/core';
import { formatIssues, maxNestingDepth, valueIssues } from '@sluice/envelope';
import { bodyGate } from './body-gate';

/** The largest single-event body by default (MAX_BODY_BYTES); larger ones get 413. */
export const defaultMaxBodyBytes = 1024 * 1024;

/**
 * Every value of a body lands in a column (the body is kept whole as raw), so its strings must be
 * well-formed Unicode and it may nest at most maxNestingDepth deep; refused naming the field.
 */
export function assertStorableValues(body: unknown): void {
  const issues = valueIssues(body, maxNestingDepth);
  if (issues.length > 0) throw new SluiceError('INVALID_EVENT', formatIssues(issues), { field: issues[0]?.path });
}

/**
 * JSON bodies only, up to `limit` bytes (after gzip or deflate is undone), every value storable.
 * `refuse` answers a body refused while it streams in (bodyGate).
 */
export function jsonBody(limit: number, refuse: (res: Response, error: SluiceError) => void): RequestHandler[] {
  return [
    (req: Request, _res: Response, next: NextFunction) => {
      if (req.is('application/json') === 'application/json' || req.is('+json')) return next();
      next(new SluiceError('UNSUPPORTED_MEDIA_TYPE', `Content-Type must be application/json, got ${JSON.stringify(req.get('Content-Type') ?? '(none)')}`));
    },
    bodyGate({ limit, refuse }),
    express.json({ limit, strict: false, type: () => true }),
    (req: Request, _res: Response, next: NextFunction) => {
      assertStorableValues(req.body);
      next();
    },
  ];
}
