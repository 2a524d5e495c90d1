import { SluiceError, errorMessage } from '@sluice/core';
import { type Principal } from '@sluice/tenancy';
import { createValidator, formatIssues, type BeaconBody, type Validator } from '@sluice/envelope';
import { originRefusal, type CorsDoor } from '../cors';
import { dialectEndpoints } from '../dialects';
import { codedRefusal, emptyReply, jsonReply, type Reply } from '../http-errors';
import { takeEvents } from './authenticate';
import { boundedItems, publishItems, type ParsedItem } from './batch';
import type { Door, IngestDeps } from './door';
import { readBodyText } from './read-body';
import { bodyIs, header, queryValue, type IngestRequest } from './request';

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
function beaconPrincipal(key: string | undefined, origin: string | undefined, deps: Pick<IngestDeps, 'keyStore'>): Principal {
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
async function serveBeacon(request: IngestRequest, deps: IngestDeps): Promise<Reply> {
  // null: no body, refused below as invalid JSON.
  if (bodyIs(request, ['text/plain', 'application/json']) === false) {
    throw new SluiceError('UNSUPPORTED_MEDIA_TYPE', `Content-Type must be text/plain (what sendBeacon sends for a string) or application/json, got ${JSON.stringify(header(request, 'Content-Type'))}`);
  }
  const body = parseJson(await readBodyText(request, { limit: maxBeaconBytes, utfOnly: false }));
  const fields = isObject(body) ? body : {};
  const principal = beaconPrincipal(agreed('key', fields.key, queryValue(request, 'key')), header(request, 'Origin'), deps);
  const checked = validateBeacon(body);
  if (!checked.ok) throw new SluiceError('INVALID_EVENT', formatIssues(checked.issues), { field: checked.issues[0]?.path });
  const beacon = checked.value;
  const datasetId = agreed('dataset_id', 'events' in beacon ? beacon.dataset_id : undefined, queryValue(request, 'dataset_id'));
  // One event is the body's other fields: its type names only the key.
  const values: unknown[] = 'events' in beacon ? beacon.events : [Object.fromEntries(Object.entries(beacon).filter(([name]) => name !== 'key'))];
  const items = boundedItems(
    values.map((value): ParsedItem => ({ ok: true, value: withDefaultDataset(value, datasetId) })),
    deps.batchLimits,
  );
  takeEvents(deps.rateLimits, principal, items.length);
  // sendBeacon sends no headers, so no Idempotency-Key: an event's own insert_id is its key.
  const report = await publishItems(deps, items, principal, undefined, 'beacon');
  return report.status === 200 ? emptyReply(204) : jsonReply(report.status, report.body);
}

export const beaconDoor: Door = { dialect: 'beacon', route: beaconCorsDoor, serve: serveBeacon, refused: codedRefusal };
