import { randomUUID } from 'node:crypto';
import { SluiceError, errorMessage, type OutgoingMessage } from '@sluice/core';
import { type DatasetNamespace, type Principal } from '@sluice/tenancy';
import {
  createValidator,
  envelopeMessage,
  maxEnvelopeDepth,
  namespaceOfSource,
  oversizeReason,
  validateDialectEnvelope,
  validateEnvelope,
  valueIssues,
  type BatchItem,
  type Envelope,
  type ValidationIssue,
  type ValidationResult,
  type Validator,
} from '@sluice/envelope';
import type { CorsDoor } from '../cors';
import { dialectEndpoints, everyDoorsHeaders, idempotencyKeyHeader, type DialectEndpoint } from '../dialects';
import { codedRefusal, jsonReply, type Reply } from '../http-errors';
import { keyHeader, maxKeyLength } from '../key-headers';
import { rateLimiterFor } from '../rate-limit';
import { authenticatedPrincipal, forbiddenMessage, rateLimited, takeEvents } from './authenticate';
import type { Door, IngestDeps } from './door';
import { publish } from './publish';
import { readBodyText } from './read-body';
import { bodyIs, header, type IngestRequest } from './request';

export interface BatchLimits {
  /** Most events in one request. */
  maxEvents: number;
  /** Largest body, counted after gzip is undone. */
  maxBytes: number;
}

export const defaultBatchLimits: BatchLimits = { maxEvents: 10_000, maxBytes: 8 * 1024 * 1024 };

const batchKeyHeader = 'Authorization';

/** The batch door as CORS sees it. */
export const batchCorsDoor: CorsDoor = { method: 'POST', path: '/v1/batch', allowedHeaders: [batchKeyHeader, ...everyDoorsHeaders] };

export interface BatchResult {
  index: number;
  status: 'accepted' | 'duplicate' | 'invalid' | 'forbidden';
  event_id?: string;
  insert_id?: string;
  duplicate_of?: number;
  errors?: ValidationIssue[];
}

let batchItemValidator: Validator<BatchItem> | undefined;
const validateBatchItem = (value: unknown): ValidationResult<BatchItem> => (batchItemValidator ??= createValidator<BatchItem>('batch-item.v1.json'))(value);

const endpointsBySource = new Map<string, DialectEndpoint<unknown>>(dialectEndpoints.map((e) => [e.name, e]));

type Outcome = { ok: true; envelope: Envelope; message: OutgoingMessage } | { ok: false; result: Omit<BatchResult, 'index'> };

/**
 * POST /v1/batch: NDJSON or a JSON array, of canonical envelopes or wrapped dialect events,
 * optionally gzip-compressed. Every event gets its own result; the accepted ones are
 * acknowledged by Kafka, all in one send, before the answer.
 */
async function serveBatch(request: IngestRequest, deps: IngestDeps): Promise<Reply> {
  const principal = authenticatedPrincipal(request, batchKeyHeader, deps.keyStore);
  const format = bodyFormat(request);
  if (format === undefined) {
    throw new SluiceError('UNSUPPORTED_MEDIA_TYPE', `Content-Type must be application/x-ndjson or application/json, got ${JSON.stringify(header(request, 'Content-Type') ?? '(none)')}`);
  }
  // The key's byte allowance is taken before the body is read, so a key over its rate is
  // refused without the gateway reading or parsing megabytes first.
  const rateLimiter = rateLimiterFor(deps.rateLimits, principal);
  const text = await readBodyText(request, {
    limit: deps.batchLimits.maxBytes,
    utfOnly: false,
    take: (bytes, size) => {
      const rate = rateLimiter.takeBytes(principal.keyId, bytes);
      return rate.allowed ? undefined : rateLimited(`a batch of ${size}`, rate.retryAfterSeconds);
    },
  });
  const items = parseItems(text, format, deps.batchLimits);
  takeEvents(deps.rateLimits, principal, items.length);
  // Returned, not awaited: this frame, which holds the body and its items, ends here.
  return publishItems(deps, items, principal, keyHeader(request, idempotencyKeyHeader, false), 'batch').then((report) => jsonReply(report.status, report.body));
}

export const batchDoor: Door = { dialect: 'batch', route: batchCorsDoor, serve: serveBatch, refused: codedRefusal };

/** A batch's answer: its status, and the counts and a result per event. */
export interface BatchReport {
  status: 200 | 207 | 400 | 403;
  body: { accepted: number; duplicates: number; rejected: number; results: BatchResult[] };
}

/**
 * Turns items into envelopes, one result each, and publishes the accepted ones in one send; resolves
 * only once Kafka acknowledged them. `dialect` labels the metrics. While Kafka is waited for, only
 * the results are kept: no async frame or closure holds the items or their messages, which the
 * young generation's collections would otherwise copy for every batch in flight.
 */
export function publishItems(
  deps: Pick<IngestDeps, 'publisher' | 'metrics' | 'clock'>,
  items: readonly ParsedItem[],
  principal: Principal,
  idempotencyKey: string | undefined,
  dialect: string,
): Promise<BatchReport> {
  const { messages, results } = envelopeMessages(items, principal, deps.clock(), idempotencyKey);
  const report = reportOf(results, messages.length);
  // A retry after an ambiguous 503 must reuse every accepted event's insert_id, made up ones included.
  const acceptedIds = results.flatMap((r) => (r.status === 'accepted' && r.insert_id !== undefined ? [{ index: r.index, insert_id: r.insert_id }] : []));
  const published = messages.length > 0 ? publish(deps, messages, acceptedIds) : Promise.resolve();
  return published.then(() => {
    const series = deps.metrics.seriesOf(dialect);
    for (const r of report.body.results) {
      if (r.status === 'invalid' || r.status === 'forbidden') series.rejected(r.status === 'forbidden' ? 'FORBIDDEN' : 'INVALID_EVENT').add();
    }
    series.accepted.add(report.body.accepted);
    return report;
  });
}

/** Each item's result, in order, and the message of each accepted one; an item whose key came earlier in the batch is a duplicate. */
function envelopeMessages(items: readonly ParsedItem[], principal: Principal, receivedAt: number, idempotencyKey: string | undefined): { messages: OutgoingMessage[]; results: BatchResult[] } {
  const results: BatchResult[] = [];
  const messages: OutgoingMessage[] = [];
  const firstIndexOfKey = new Map<string, number>();
  items.forEach((item, index) => {
    const outcome = item.ok ? toEnvelope(item.value, index, principal, receivedAt, idempotencyKey) : { ok: false as const, result: { status: 'invalid' as const, errors: [item.issue] } };
    if (!outcome.ok) return void results.push({ index, ...outcome.result });
    const { envelope, message } = outcome;
    // The message's key is the envelope's identity (envelopeKey).
    const identity = message.key;
    const first = firstIndexOfKey.get(identity);
    if (first !== undefined) return void results.push({ index, status: 'duplicate', insert_id: envelope.insert_id, duplicate_of: first });
    firstIndexOfKey.set(identity, index);
    messages.push(message);
    results.push({ index, status: 'accepted', event_id: envelope.event_id, insert_id: envelope.insert_id });
  });
  return { messages, results };
}

function reportOf(results: BatchResult[], accepted: number): BatchReport {
  const counts = { accepted, duplicates: 0, rejected: 0 };
  for (const r of results) {
    if (r.status === 'duplicate') counts.duplicates++;
    else if (r.status !== 'accepted') counts.rejected++;
  }
  const allForbidden = results.every((r) => r.status === 'forbidden');
  const status = counts.rejected === 0 ? 200 : counts.accepted > 0 ? 207 : allForbidden ? 403 : 400;
  return { status, body: { ...counts, results } };
}

function bodyFormat(request: IngestRequest): 'ndjson' | 'json' | undefined {
  if (bodyIs(request, ['application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/jsonlines'])) return 'ndjson';
  if (bodyIs(request, ['application/json']) === 'application/json') return 'json';
  return undefined;
}

export type ParsedItem = { ok: true; value: unknown } | { ok: false; issue: ValidationIssue };

function parseItems(text: string, format: 'ndjson' | 'json', limits: BatchLimits): ParsedItem[] {
  let items: ParsedItem[];
  if (format === 'json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new SluiceError('INVALID_JSON', `The body is not valid JSON: ${errorMessage(error)}`);
    }
    if (!Array.isArray(parsed)) throw new SluiceError('INVALID_EVENT', 'A JSON batch must be an array of events (or send NDJSON, one event per line)', { field: '' });
    items = (parsed as unknown[]).map((value) => ({ ok: true, value }));
  } else {
    items = text
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line !== '')
      .map((line, index) => {
        try {
          return { ok: true, value: JSON.parse(line) as unknown };
        } catch (error) {
          return { ok: false, issue: { path: `/${index}`, message: `is not valid JSON: ${errorMessage(error)}` } };
        }
      });
  }
  return boundedItems(items, limits);
}

/** Refuses a batch with no events or too many, and marks each item nested too deep to store. */
export function boundedItems(items: readonly ParsedItem[], limits: Pick<BatchLimits, 'maxEvents'>): ParsedItem[] {
  if (items.length === 0) throw new SluiceError('INVALID_EVENT', 'The batch holds no events', { field: '' });
  if (items.length > limits.maxEvents) throw new SluiceError('PAYLOAD_TOO_LARGE', `The batch holds ${items.length} events; the limit is ${limits.maxEvents}`);
  return items.map((item, index) => {
    // An item nests one level more than the body it wraps, as an envelope does its raw body.
    const issue = item.ok ? valueIssues(item.value, maxEnvelopeDepth)[0] : undefined;
    return issue === undefined ? item : { ok: false, issue: { path: `/${index}${issue.path}`, message: issue.message } };
  });
}

function prefixed(issues: readonly ValidationIssue[], prefix: string): ValidationIssue[] {
  return issues.map((issue) => ({ path: `${prefix}${issue.path}`, message: issue.message }));
}

function toEnvelope(value: unknown, index: number, principal: Principal, receivedAt: number, idempotencyKey: string | undefined): Outcome {
  const item = validateBatchItem(value);
  if (!item.ok) return { ok: false, result: { status: 'invalid', errors: prefixed(item.issues, `/${index}`) } };
  if ('schema_version' in item.value) {
    const checked = validateEnvelope(value);
    if (!checked.ok) return { ok: false, result: { status: 'invalid', errors: prefixed(checked.issues, `/${index}`) } };
    return permitted(principal, namespaceOfSource[checked.value.source], checked.value, index);
  }
  const wrapper = item.value;
  const endpoint = endpointsBySource.get(wrapper.source);
  if (!endpoint) return { ok: false, result: { status: 'invalid', errors: [{ path: `/${index}/source`, message: 'is not a known dialect' }] } };
  const event = endpoint.validate(wrapper.event);
  if (!event.ok) return { ok: false, result: { status: 'invalid', errors: prefixed(event.issues, `/${index}/event`) } };
  const datasetId = wrapper.dataset_id ?? ('fromBody' in endpoint.dataset ? endpoint.dataset.fromBody(event.value) : undefined);
  if (datasetId === undefined) return { ok: false, result: { status: 'invalid', errors: [{ path: `/${index}/dataset_id`, message: `is required for ${wrapper.source} events` }] } };
  const derivedKey = wrapper.insert_id === undefined && idempotencyKey !== undefined ? `${idempotencyKey}/${index}` : undefined;
  if (derivedKey !== undefined && derivedKey.length > maxKeyLength) {
    // A random id instead would make a retried batch store this event twice.
    const message = `gets the insert_id ${JSON.stringify(derivedKey.slice(0, 40) + '…')} from the Idempotency-Key, ${derivedKey.length} characters long; the limit is ${maxKeyLength}: send a shorter Idempotency-Key or give the item its own insert_id`;
    return { ok: false, result: { status: 'invalid', errors: [{ path: `/${index}`, message }] } };
  }
  const envelope = endpoint.normalise(event.value, {
    datasetId,
    eventId: randomUUID(),
    receivedAt,
    idempotencyKey: wrapper.insert_id ?? derivedKey,
  });
  const checked = validateDialectEnvelope(envelope);
  if (!checked.ok) {
    const errors = checked.issues.map((i) => ({ path: `/${index}`, message: `cannot be stored: envelope field "${i.path}" ${i.message}` }));
    return { ok: false, result: { status: 'invalid', errors } };
  }
  return permitted(principal, endpoint.namespace, envelope, index);
}

function permitted(principal: Principal, namespace: DatasetNamespace, envelope: Envelope, index: number): Outcome {
  if (principal.canWrite(namespace, envelope.dataset_id)) {
    // Serialised once: this message is what gets published.
    const message = envelopeMessage(envelope);
    const tooLarge = oversizeReason(message);
    return tooLarge === undefined ? { ok: true, envelope, message } : { ok: false, result: { status: 'invalid', errors: [{ path: `/${index}`, message: tooLarge }] } };
  }
  return { ok: false, result: { status: 'forbidden', insert_id: envelope.insert_id, errors: [{ path: `/${index}`, message: forbiddenMessage(namespace, envelope.dataset_id) }] } };
}
