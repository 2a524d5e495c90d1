import { hash } from 'node:crypto';
import { SluiceError, rejectUnknownKeys } from '@sluice/core';
import type { Envelope } from '@sluice/envelope';
import { sha256Prefix52 } from './sha256-prefix';

/**
 * Sampling rates per dataset, read from SAMPLING_FILE. Rates are shares kept, 0 to 1.
 * - `default`: every event of the dataset not covered below (1 when absent).
 * - `eventTypes`: by event_type, for events that carry no request_id.
 * - `requestTypes`: by request_type (search, rag, recommendation), for every event that carries a
 *   request_id: the request event and the clicks, add_to_carts and purchases that name it share one rate.
 */
export interface DatasetSampling {
  default?: number;
  eventTypes?: Record<string, number>;
  requestTypes?: Record<string, number>;
}

export interface SamplingRules {
  datasets: Record<string, DatasetSampling>;
}

export const keepEverything: SamplingRules = { datasets: {} };

export interface SampleDecision {
  keep: boolean;
  /** The probability this event had of being kept, which the stored row records (1 when forced). */
  rate: number;
}

/**
 * The sampling unit: the request_id when there is one, so a request and every event tied to it get
 * one decision; else the insert_id, so a retried or replayed event gets the decision it had before.
 */
export function samplingUnit(envelope: Pick<Envelope, 'request_id' | 'insert_id'>): string {
  return envelope.request_id ? `request:${envelope.request_id}` : `insert:${envelope.insert_id}`;
}

/**
 * A point in [0, 1) fixed by the dataset and the unit: the first 52 bits of
 * SHA-256("<dataset_id>\n<unit>") divided by 2^52. Uniform, and the same on every worker.
 */
export function samplePoint(datasetId: string, unit: string): number {
  const text = `${datasetId}\n${unit}`;
  // Short ASCII text, nearly every event's, is hashed in JavaScript: about 0.8 µs, against crypto.hash's 2.
  const prefix = sha256Prefix52(text);
  if (prefix !== undefined) return prefix / 2 ** 52;
  // The one-shot hash: a Hash object per event cost the worker about 40% more.
  const digest = hash('sha256', text, 'buffer');
  return (digest.readUInt32BE(0) * 2 ** 20 + (digest.readUInt32BE(4) >>> 12)) / 2 ** 52;
}

/** The configured rate: the request's when the event names a request, else its event type's, else the dataset default. */
export function configuredRate(envelope: Pick<Envelope, 'dataset_id' | 'event_type' | 'request_id' | 'request_type'>, rules: SamplingRules): number {
  const dataset = rules.datasets[envelope.dataset_id];
  if (dataset === undefined) return 1;
  const specific = envelope.request_id ? dataset.requestTypes?.[envelope.request_type ?? ''] : dataset.eventTypes?.[envelope.event_type];
  return specific ?? dataset.default ?? 1;
}

/**
 * Keep when force_sample is set, else when the event's point is below its rate: the lower of the
 * producer's sample_rate (Greenflash's sampleRate) and the configured rate. A pure function of
 * the event, so the same event always gets the same decision, on any worker, at any time.
 */
export function decideSample(envelope: Envelope, rules: SamplingRules): SampleDecision {
  if (envelope.force_sample === true) return { keep: true, rate: 1 };
  const rate = Math.min(envelope.sample_rate ?? 1, configuredRate(envelope, rules));
  if (rate >= 1) return { keep: true, rate: 1 };
  return {
    keep: samplePoint(envelope.dataset_id, samplingUnit(envelope)) < rate,
    rate,
  };
}

/** Parses SAMPLING_FILE's JSON, naming the exact place of every mistake. */
export function parseSamplingRules(json: unknown, where: string): SamplingRules {
  const fail = (path: string, problem: string): never => {
    throw new SluiceError('INVALID_CONFIG', `${where}: ${path} ${problem}`);
  };
  const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
  const rate = (value: unknown, path: string): number =>
    typeof value === 'number' && value >= 0 && value <= 1 ? value : fail(path, `must be a number from 0 to 1, got ${JSON.stringify(value)}`);
  const rates = (value: unknown, path: string): Record<string, number> => {
    if (!isObject(value)) return fail(path, 'must be an object of rates');
    return Object.fromEntries(Object.entries(value).map(([name, r]) => [name, rate(r, `${path}.${name}`)]));
  };
  if (!isObject(json)) return fail('the file', 'must hold a JSON object');
  rejectUnknownKeys(json, ['datasets'], where);
  if (!isObject(json.datasets)) return fail('datasets', 'must be an object keyed by dataset id');
  const datasets: Record<string, DatasetSampling> = {};
  for (const [id, raw] of Object.entries(json.datasets)) {
    const path = `datasets.${id}`;
    if (!isObject(raw)) return fail(path, 'must be an object');
    rejectUnknownKeys(raw, ['default', 'eventTypes', 'requestTypes'], `${where} at ${path}`);
    datasets[id] = {
      ...(raw.default === undefined ? {} : { default: rate(raw.default, `${path}.default`) }),
      ...(raw.eventTypes === undefined ? {} : { eventTypes: rates(raw.eventTypes, `${path}.eventTypes`) }),
      ...(raw.requestTypes === undefined ? {} : { requestTypes: rates(raw.requestTypes, `${path}.requestTypes`) }),
    };
  }
  return { datasets };
}
