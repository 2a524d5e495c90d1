import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { SluiceError, errorMessage } from '@sluice/core';
import { type Principal } from '@sluice/tenancy';
import { createValidator, formatIssues, type BeaconBody, type Validator } from '@sluice/envelope';
import { bodyGate, wasRefusedWhileReading } from '../body-gate';
import { originRefusal, type CorsDoor } from '../cors';
import { dialectEndpoints, refuseWithCode } from '../dialects';
import { toSluiceError } from '../http-errors';
import { rateLimiterFor } from '../rate-limit';
import { boundedItems, publishItems, rateLimited, type BatchLimits, type ParsedItem } from './batch';
import type { SingleEventDeps } from './single-event';

export const beaconPath = '/v1/beacon';

/**
 * The beacon door as CORS sees it. sendBeacon's text/plain needs no preflight; a keepalive fetch
 * with a JSON body does, and may send Content-Type. The key is never a header here.
 */
export const beaconCorsDoor: CorsDoor = { method: 'POST', path: beaconPath, allowedHeaders: ['Content-Type'] };

/**
 * The most a beacon can carry: browsers give sendBeacon and keepalive fetch 64 KiB in flight in
 * all (the Fetch standard's keepalive quota), so a larger body never came from one.
 */
export const maxBeaconBytes = 64 * 1024;

type JsonObject = Record<string, unknown>;

let beaconValidator: Validator<BeaconBody> | undefined;
const validateBeacon = (value: unknown) => (beaconValidator ??= createValidator<BeaconBody>('beacon.v1.json'))(value);

/** The dialects whose dataset a header names: their events take the beacon's dataset when they name none. */
const headerDatasetSources = new Set<string>(dialectEndpoints.filter((e) => 'header' in e.dataset).map((e) => e.name));

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A query-string parameter given at most once; '' counts as not given. */
function queryValue(req: Request, name: string): string | undefined {
  const value: unknown = (req.query as JsonObject)[name];
  if (value === undefined || value === '') return undefined;
  if (typeof value === 'string') return value;
  throw new SluiceError('INVALID_EVENT', `The query string must give ${name} at most once, as ?${name}=...`, { field: `/${name}` });
}

/** The value the body and the query string give for `name`: either may, and when both do they must agree. */
function agreed(name: string, inBody: unknown, inQuery: string | undefined): string | undefined {
  const fromBody = typeof inBody === 'string' ? inBody : undefined;
  if (fromBody !== undefined && inQuery !== undefined && fromBody !== inQuery) {
    throw new SluiceError('INVALID_EVENT', `The body's ${name} and the query string's ${name} differ; give it once`, { field: `/${name}` });
  }
  return fromBody ?? inQuery;
}

/**
 * Beacons carry their key where it gets logged (the URL, the body), so only a key that is public
 * anyway may travel there: a publishable key, or the dev key of a gateway without a key file.
 */
function beaconPrincipal(key: string | undefined, origin: string | undefined, deps: Pick<SingleEventDeps, 'keyStore'>): Principal {
  if (key === undefined) throw new SluiceError('UNAUTHORIZED', 'Missing API key: give a publishable key as ?key=pk_... or as the body\'s "key"');
  const principal = deps.keyStore.authenticate(key);
  if (principal === undefined) throw new SluiceError('UNAUTHORIZED', 'Invalid API key');
  if (principal.kind === 'secret') {
    throw new SluiceError(
      'PUBLISHABLE_KEY_REQUIRED',
      'POST /v1/beacon takes only publishable keys (pk_...): its key travels in the URL or the body, which get logged. This secret key may now be in a log: revoke it and create a publishable one (docs/keys.md)',
    );
  }
  const refusal = originRefusal(principal, origin);
  if (refusal !== undefined) throw refusal;
  return principal;
}

/** A dialect event that names no dataset gets the beacon's, when its dialect names datasets in a header. */
function withDefaultDataset(item: unknown, datasetId: string | undefined): unknown {
  if (datasetId === undefined || !isObject(item) || 'schema_version' in item || 'dataset_id' in item) return item;
  return typeof item.source === 'string' && headerDatasetSources.has(item.source) ? { ...item, dataset_id: datasetId } : item;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new SluiceError('INVALID_JSON', `The body is not valid JSON: ${errorMessage(error)}`);
  }
}

/**
 * POST /v1/beacon, for navigator.sendBeacon and fetch keepalive: a text/plain (or JSON) body of one
 * event or a batch (schemas/beacon.v1.json), the publishable key and the dataset in the body or the
 * query string. Events are checked and acknowledged as in POST /v1/batch: 204 once Kafka holds
 * them all, the batch door's report when some were refused.
 */
export function createBeaconRoute(deps: SingleEventDeps & { limits: BatchLimits }): Router {
  const router = express.Router();
  const refuse = (res: Response, failure: SluiceError): void => {
    deps.metrics.eventsRejected.inc({ dialect: 'beacon', reason: failure.code });
    refuseWithCode(res, failure);
  };

  router.post(
    beaconPath,
    (req: Request, res: Response, next: NextFunction) => {
      // null: no body, refused below as invalid JSON. (Its CORS headers come from the door's CORS route, app.ts.)
      if (req.is(['text/plain', 'application/json']) === false) {
        throw new SluiceError('UNSUPPORTED_MEDIA_TYPE', `Content-Type must be text/plain (what sendBeacon sends for a string) or application/json, got ${JSON.stringify(req.get('Content-Type'))}`);
      }
      next();
    },
    bodyGate({ limit: maxBeaconBytes, refuse }),
    express.text({ type: () => true, limit: maxBeaconBytes }),
    async (req: Request, res: Response) => {
      if (wasRefusedWhileReading(res)) return;
      const body = parseJson(typeof req.body === 'string' ? req.body : '');
      const fields = isObject(body) ? body : {};
      const principal = beaconPrincipal(agreed('key', fields.key, queryValue(req, 'key')), req.get('Origin'), deps);
      const checked = validateBeacon(body);
      if (!checked.ok) throw new SluiceError('INVALID_EVENT', formatIssues(checked.issues), { field: checked.issues[0]?.path });
      const beacon = checked.value;
      const datasetId = agreed('dataset_id', 'events' in beacon ? beacon.dataset_id : undefined, queryValue(req, 'dataset_id'));
      // One event is the body's other fields: its type names only the key.
      const values: unknown[] = 'events' in beacon ? beacon.events : [Object.fromEntries(Object.entries(beacon).filter(([name]) => name !== 'key'))];
      const items = boundedItems(
        values.map((value): ParsedItem => ({ ok: true, value: withDefaultDataset(value, datasetId) })),
        deps.limits,
      );
      const rate = rateLimiterFor(deps.rateLimits, principal).take(principal.keyId, items.length);
      if (!rate.allowed) throw rateLimited(`${items.length} events`, rate.retryAfterSeconds);
      // sendBeacon sends no headers, so no Idempotency-Key: an event's own insert_id is its key.
      const report = await publishItems(deps, items, principal, undefined, 'beacon');
      if (report.status === 200) res.status(204).end();
      else res.status(report.status).json(report.body);
    },
  );

  router.use(beaconPath, (error: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (wasRefusedWhileReading(res)) return;
    if (res.headersSent) return next(error);
    refuse(res, toSluiceError(error, deps.logger));
  });
  return router;
}
