import { SluiceError, type ConsumedMessage, type EventPublisher } from '@sluice/core';
import { type KeyStore } from '@sluice/tenancy';
import type { ClickHouse } from '@sluice/clickhouse';
import type { Placement } from './placement';
import { envelopeKey, type Envelope } from '@sluice/envelope';
import { createCheckDatasetStep } from './steps/check-dataset';
import { createParseMessageStep } from './steps/parse-message';
import type { StepResult } from './steps/step-result';
import { createValidateEnvelopeStep } from './steps/validate-envelope';

/** Which rejected messages to replay. Every field is optional; the default is all of them. */
export interface ReplayRequest {
  dataset_id?: string;
  /** Only messages rejected at or after this time (ISO 8601). */
  since?: string;
  /** At most this many messages (default 10,000). */
  limit?: number;
  /** Validate and report, but publish and record nothing. */
  dry_run?: boolean;
}

export interface ReplaySummary {
  examined: number;
  published: number;
  stillRejected: { topic: string; partition: number; offset: string; step: 'parse' | 'validate' | 'dataset'; reason: string }[];
  dryRun: boolean;
}

interface RejectedRow {
  kafka_topic: string;
  kafka_partition: number;
  kafka_offset: string;
  kafka_key: string;
  raw_base64: string;
}

const defaultLimit = 10_000;
const replayFields = ['dataset_id', 'since', 'limit', 'dry_run'];

/**
 * Checks a replay request's JSON body, naming the exact field that is wrong. Only an explicit
 * object replays anything: an empty or missing body is refused, never read as "everything".
 */
export function parseReplayRequest(body: unknown): ReplayRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new SluiceError('INVALID_REQUEST', 'The replay request must be a JSON object (send {} to replay every rejected message)');
  }
  const request = body as Record<string, unknown>;
  const unknown = Object.keys(request).filter((key) => !replayFields.includes(key));
  if (unknown.length > 0) {
    throw new SluiceError('INVALID_REQUEST', `Unknown field ${JSON.stringify(unknown[0])} in the replay request; known fields: ${replayFields.join(', ')}`, { field: `/${unknown[0] ?? ''}` });
  }
  const fail = (field: string, expected: string): never => {
    throw new SluiceError('INVALID_REQUEST', `${field} must be ${expected}, got ${JSON.stringify(request[field])}`, { field: `/${field}` });
  };
  if (request.dataset_id !== undefined && (typeof request.dataset_id !== 'string' || request.dataset_id === '')) fail('dataset_id', 'a non-empty string');
  if (request.since !== undefined && (typeof request.since !== 'string' || Number.isNaN(Date.parse(request.since)))) fail('since', 'an ISO 8601 date-time');
  if (request.limit !== undefined && !(typeof request.limit === 'number' && Number.isInteger(request.limit) && request.limit > 0)) fail('limit', 'a positive integer');
  if (request.dry_run !== undefined && typeof request.dry_run !== 'boolean') fail('dry_run', 'true or false');
  const { dataset_id, since, limit, dry_run } = request;
  return {
    ...(typeof dataset_id === 'string' ? { dataset_id } : {}),
    ...(typeof since === 'string' ? { since } : {}),
    ...(typeof limit === 'number' ? { limit } : {}),
    ...(typeof dry_run === 'boolean' ? { dry_run } : {}),
  };
}

/**
 * Re-validates rejected messages (after a schema fix, say) and publishes the valid ones to the
 * events topic again: the exact bytes, keyed as the gateway keys them, so each keeps its insert_id
 * and deduplication still holds. Each outcome is recorded in events_replayed; a message already
 * published by an earlier replay is not examined again. A message must pass the worker's own
 * checks (parse, envelope, dataset), so replay cannot carry what the worker would refuse.
 * One replay runs at a time: two at once would both read a message as not yet published and
 * publish it twice.
 */
/** Where a shard keeps the rejected messages and what replay did with them. */
export interface ReplayShard {
  clickhouse: Pick<ClickHouse, 'queryRows' | 'insertRows'>;
  rejected: string;
  replayed: string;
}

/** Every shard's own tables: a message's rejection and its replay outcome sit on the shard of its partition. */
export function replayShards(placement: Placement): ReplayShard[] {
  return placement.shards.map((clickhouse) => ({ clickhouse, rejected: placement.tableOnShard('events_rejected'), replayed: placement.tableOnShard('events_replayed') }));
}

export function createReplayer(deps: {
  /** Searched in order, up to the request's limit in all. */
  shards: readonly ReplayShard[];
  publisher: EventPublisher;
  /** The envelope check; the envelope schema's by default. */
  validate?: (value: unknown) => StepResult<Envelope>;
  /** The datasets the key file knows (KEYS_FILE), as the worker checks them; every dataset when not given. */
  datasets?: Pick<KeyStore, 'isKnownDataset'>;
}) {
  const parse = createParseMessageStep();
  const validate = deps.validate ?? createValidateEnvelopeStep();
  const checkDataset = deps.datasets === undefined ? undefined : createCheckDatasetStep({ datasets: deps.datasets });
  let running = false;
  return async function replay(request: ReplayRequest): Promise<ReplaySummary> {
    if (running) throw new SluiceError('REPLAY_IN_PROGRESS', 'A replay is already running on this worker; send the request again once it has finished');
    running = true;
    try {
      return await replayOnce(request);
    } finally {
      running = false;
    }
  };

  async function replayOnce(request: ReplayRequest): Promise<ReplaySummary> {
    const summary: ReplaySummary = { examined: 0, published: 0, stillRejected: [], dryRun: request.dry_run === true };
    for (const shard of deps.shards) {
      const limit = (request.limit ?? defaultLimit) - summary.examined;
      if (limit <= 0) break;
      const part = await replayShard(shard, request, limit);
      summary.examined += part.examined;
      summary.published += part.published;
      summary.stillRejected.push(...part.stillRejected);
    }
    return summary;
  }

  async function replayShard(shard: ReplayShard, request: ReplayRequest, limit: number): Promise<ReplaySummary> {
    const rows = await shard.clickhouse.queryRows<RejectedRow>(
      `SELECT kafka_topic, kafka_partition, toString(kafka_offset) AS kafka_offset, kafka_key, raw_base64
       FROM ${shard.rejected} FINAL
       WHERE (kafka_topic, kafka_partition, kafka_offset) NOT IN
             (SELECT kafka_topic, kafka_partition, kafka_offset FROM ${shard.replayed} FINAL WHERE outcome = 'published')
         AND ({datasetId:String} = '' OR dataset_id = {datasetId:String})
         AND rejected_at >= fromUnixTimestamp64Milli({sinceMs:Int64}, 'UTC')
       ORDER BY rejected_at, kafka_topic, kafka_partition, kafka_offset
       LIMIT {limit:UInt32}`,
      { datasetId: request.dataset_id ?? '', sinceMs: request.since === undefined ? 0 : Date.parse(request.since), limit },
    );
    const summary: ReplaySummary = { examined: rows.length, published: 0, stillRejected: [], dryRun: request.dry_run === true };
    const publish: { row: RejectedRow; envelope: Envelope; value: Buffer }[] = [];
    for (const row of rows) {
      const value = Buffer.from(row.raw_base64, 'base64');
      const message: ConsumedMessage = { topic: row.kafka_topic, partition: row.kafka_partition, offset: row.kafka_offset, key: null, value, headers: {}, timestamp: 0 };
      const rejectedAt = (step: ReplaySummary['stillRejected'][number]['step'], reason: string): void => {
        summary.stillRejected.push({ topic: row.kafka_topic, partition: row.kafka_partition, offset: row.kafka_offset, step, reason });
      };
      const parsed = parse(message);
      if (parsed.kind !== 'ok') {
        rejectedAt('parse', parsed.reason);
        continue;
      }
      const valid = validate(parsed.value);
      if (valid.kind !== 'ok') {
        rejectedAt('validate', valid.reason);
        continue;
      }
      const known = checkDataset === undefined ? valid : checkDataset(valid.value);
      if (known.kind === 'ok') publish.push({ row, envelope: known.value, value });
      else rejectedAt('dataset', known.reason);
    }
    if (summary.dryRun) return { ...summary, published: publish.length };
    if (publish.length > 0) {
      await deps.publisher.publish(
        publish.map(({ row, envelope, value }) => ({
          key: envelopeKey(envelope),
          value,
          headers: { 'sluice-replayed-from': `${row.kafka_topic}/${row.kafka_partition}/${row.kafka_offset}` },
        })),
      );
    }
    summary.published = publish.length;
    const outcomes = [
      ...publish.map(({ row }) => ({ kafka_topic: row.kafka_topic, kafka_partition: row.kafka_partition, kafka_offset: row.kafka_offset, outcome: 'published', reason: '' })),
      ...summary.stillRejected.map((r) => ({ kafka_topic: r.topic, kafka_partition: r.partition, kafka_offset: r.offset, outcome: 'still-rejected', reason: r.reason })),
    ];
    await shard.clickhouse.insertRows(shard.replayed, outcomes);
    return summary;
  }
}
