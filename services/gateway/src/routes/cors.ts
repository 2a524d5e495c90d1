import express, { type Request, type Response, type Router } from 'express';
import type { SluiceError } from '@sluice/core';
import type { KeyStore } from '@sluice/tenancy';
import { answerHeaders, preflightAnswer, type CorsDoor } from '../cors';

/**
 * CORS in front of one door (cors.ts decides, this only speaks HTTP): a preflight is answered
 * here; any other request gets its CORS headers before the door's own route answers it, so its
 * refusals carry them too. `refuse` answers a refused preflight in the door's own error shape.
 */
export function createCorsRoute(door: CorsDoor, deps: { keyStore: KeyStore; refuse: (res: Response, error: SluiceError) => void }): Router {
  const router = express.Router();
  const isAllowedOrigin = (origin: string): boolean => deps.keyStore.isAllowedOrigin(origin);
  router.all(door.path, (req: Request, res: Response, next) => {
    const origin = req.get('Origin');
    const method = req.get('Access-Control-Request-Method');
    if (req.method !== 'OPTIONS' || origin === undefined || method === undefined) {
      res.set(answerHeaders(origin, isAllowedOrigin));
      // An OPTIONS that is no preflight asks what the door takes.
      if (req.method === 'OPTIONS') return void res.status(204).set('Allow', `${door.method}, OPTIONS`).end();
      return next();
    }
    const answer = preflightAnswer(door, { origin, method, headers: req.get('Access-Control-Request-Headers') }, isAllowedOrigin);
    res.set(answer.headers);
    if (answer.ok) res.status(204).end();
    else deps.refuse(res, answer.refusal);
  });
  return router;
}
