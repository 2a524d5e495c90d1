import { maxEnvelopeBytes, type OutgoingMessage } from '@sluice/core';
import { type DatasetNamespace } from '@sluice/tenancy';
import type { Envelope } from './generated/schema-types';
import { limitedEnvelopeColumns, maxEnvelopeDepth, valueIssues } from './column-domains';
import { compileValidator, createValidator, envelopeSchemaFile, loadSchema, type Validator } from './validation';
export const envelopeContentType = 'application/vnd.sluice.envelope.v1+json';

// Generated from schemas/envelope.v1.json and schemas/batch-item.v1.json (scripts/generate-types.ts).
export type { Envelope, BatchItem } from './generated/schema-types';

/** The dialect an envelope arrived in. */
export type Source = Envelope['source'];

/** The key file's namespace of each source's datasets: Trieve's CTR endpoint writes to Trieve datasets. */
export const namespaceOfSource: Record<Source, DatasetNamespace> = {
  trieve: 'trieve',
  trieve_ctr: 'trieve',
  neuralens: 'neuralens',
  greenflash: 'greenflash',
  native: 'native',
};
export type ValueType = NonNullable<Envelope['value_type']>;
export type Influence = NonNullable<Envelope['influence']>;
export type Geo = NonNullable<Envelope['geo']>;

let envelopeValidator: Validator<Envelope> | undefined;

/**
 * Validates (and fills the schema's defaults into) an envelope: its schema with the events table's
 * column limits, and every value within, so that what passes can be stored. Compiled on first use.
 */
export function validateEnvelope(value: unknown): ReturnType<Validator<Envelope>> {
  envelopeValidator ??= createValidator<Envelope>(envelopeSchemaFile);
  return withValueIssues(value, envelopeValidator);
}

let envelopeChecker: Validator<Envelope> | undefined;

/**
 * validateEnvelope's answer, leaving the value as it was (no defaults filled in): for envelopes that
 * stay their caller's. Copying one first cost the native producer more than validating it: a deep
 * clone 3.4-5.7 µs; a shallow copy of a 21-field envelope is a dictionary-mode object, which took
 * 5.9 µs to validate against 1.0 in place.
 */
export function checkEnvelope(value: unknown): ReturnType<Validator<Envelope>> {
  envelopeChecker ??= createValidator<Envelope>(envelopeSchemaFile, { fillDefaults: false });
  return withValueIssues(value, envelopeChecker);
}

/** The schema's answer, with every value within checked to be storable too. */
function withValueIssues(value: unknown, validator: Validator<Envelope>): ReturnType<Validator<Envelope>> {
  const valueProblems = valueIssues(value, maxEnvelopeDepth);
  const result = validator(value);
  if (valueProblems.length === 0) return result;
  return { ok: false, issues: [...valueProblems, ...(result.ok ? [] : result.issues)] };
}

let dialectEnvelopeValidator: Validator<Envelope> | undefined;

/**
 * The part of the envelope schema a dialect's schema cannot promise: the fields its column limits
 * bound (a Trieve purchase's revenue is a sum of revenues, a Greenflash time is parsed from text),
 * and the fields with defaults, which it fills in.
 */
function dialectEnvelopeSchema(): Record<string, unknown> {
  const schema = loadSchema(envelopeSchemaFile);
  const properties = schema.properties as Record<string, Record<string, unknown>>;
  const checked = Object.entries(properties).filter(([field, definition]) => field in limitedEnvelopeColumns || 'default' in definition);
  return { type: 'object', properties: Object.fromEntries(checked) };
}

/**
 * Validates (and fills the defaults into) the envelope a dialect made from a body that passed the
 * dialect's schema and storable-value checks (no nesting too deep, no lone surrogate). Everything
 * else validateEnvelope checks holds by construction, so only what the dialect's schema cannot
 * promise is checked again: the same answer as validateEnvelope, without validating the event twice
 * (dialect-envelopes.property.test.ts shows both agree).
 */
export function validateDialectEnvelope(envelope: Envelope): ReturnType<Validator<Envelope>> {
  dialectEnvelopeValidator ??= compileValidator<Envelope>(dialectEnvelopeSchema(), 'sluice/envelope.v1.dialect-output.json');
  return dialectEnvelopeValidator(envelope);
}

/**
 * The Kafka message key. Kafka hashes the key to pick the partition, so every copy of
 * one insert_id in one dataset lands on the same partition, in order.
 */
export function envelopeKey(envelope: Pick<Envelope, 'dataset_id' | 'insert_id'>): string {
  return `${envelope.dataset_id}/${envelope.insert_id}`;
}

/**
 * The Kafka message for one envelope, as the gateway, the producer helper and every other writer
 * of the events topic send it: keyed by envelopeKey, the envelope as JSON, its content type and
 * dialect in headers.
 */
export function envelopeMessage(envelope: Envelope): OutgoingMessage {
  return {
    key: envelopeKey(envelope),
    value: JSON.stringify(envelope),
    // An invalid envelope's message is made before it is refused: its source may be none of ours.
    headers: headersBySource.get(envelope.source) ?? { 'content-type': envelopeContentType, source: envelope.source },
  };
}

/** One frozen headers object per source: the publisher thread's hand-over sends each distinct one once (threaded-publisher.ts). */
const headersBySource = new Map(Object.keys(namespaceOfSource).map((source) => [source, Object.freeze({ 'content-type': envelopeContentType, source })]));

/**
 * Why an envelope's message is too large to store, or undefined. The envelope holds the producer's
 * body again as raw (and Trieve metadata once more as properties), so a body under the gateway's
 * body limit can still make a message over the limit of one stored event.
 */
export function oversizeReason(message: OutgoingMessage): string | undefined {
  // UTF-8 takes at most 3 bytes per UTF-16 unit: a short enough string is not measured (0.6 µs an envelope in the batch door).
  if (typeof message.value === 'string' && message.value.length * 3 <= maxEnvelopeBytes) return undefined;
  const bytes = typeof message.value === 'string' ? Buffer.byteLength(message.value) : message.value.length;
  return bytes > maxEnvelopeBytes ? `The event is ${bytes} bytes once normalised (the body is kept whole as raw), over the ${maxEnvelopeBytes}-byte limit of one stored event` : undefined;
}
