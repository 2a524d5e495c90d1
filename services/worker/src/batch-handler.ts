import { backoffDelay, defaultBackoff, errorMessage, sleep, type BackoffOptions, type BatchHandler, type ConsumedBatch, type ConsumedMessage, type Logger } from '@sluice/core';
import type { ClickHouse } from '@sluice/clickhouse';
import { classifyQueryError } from '@sluice/clickhouse';
import type { Envelope } from '@sluice/envelope';
import { toEventRow, type EventRow } from './event-row';
import { keepEverything, type SamplingRules } from './sampling';
import { createDeduplicateStep, type StoredKeys } from './steps/deduplicate';
import { createParseMessageStep } from './steps/parse-message';
import { createSampleEventStep } from './steps/sample-event';
import type { StepResult } from './steps/step-result';
import { createValidateEnvelopeStep } from './steps/validate-envelope';

export interface BatchHandlerDeps {
  clickhouse: Pick<ClickHouse, 'insertRows'>;
  storedKeys: StoredKeys;
  sampling?: SamplingRules;
  logger: Logger;
  eventsTable?: string;
  backoff?: BackoffOptions;
  /** A ClickHouse call that is refused (rather than not received) is retried this many times before the batch is given back to Kafka. */
  maxRejectedInsertAttempts?: number;
}

export interface WorkerStats {
  /** Outcomes counted per step, keyed "step:kind". */
  outcomes: Map<string, number>;
  storedRows: number;
  /** ClickHouse calls (dedup lookups and inserts) retried. */
  insertRetries: number;
}

export function createBatchHandler(deps: BatchHandlerDeps): { handle: BatchHandler; stats: WorkerStats } {
  const parse = createParseMessageStep();
  const validate = createValidateEnvelopeStep();
  const sample = createSampleEventStep({ rules: deps.sampling ?? keepEverything });
  const deduplicate = createDeduplicateStep({ storedKeys: deps.storedKeys });
  const stats: WorkerStats = { outcomes: new Map(), storedRows: 0, insertRetries: 0 };
  const table = deps.eventsTable ?? 'events';

  function count(step: string, kind: string): void {
    const key = `${step}:${kind}`;
    stats.outcomes.set(key, (stats.outcomes.get(key) ?? 0) + 1);
  }

  function accept<T>(step: string, result: StepResult<T>, message: ConsumedMessage): T | undefined {
    count(step, result.kind);
    if (result.kind === 'ok') return result.value;
    // Drops (sampled out, duplicates) are expected traffic: counted, not logged as failures.
    deps.logger[result.kind === 'drop' ? 'debug' : 'error'](result.kind === 'drop' ? 'message dropped' : 'message rejected', {
      step,
      outcome: result.kind,
      reason: result.reason,
      topic: message.topic,
      partition: message.partition,
      offset: message.offset,
    });
    return undefined;
  }

  /** Runs one ClickHouse call of a step, retrying with backoff (heartbeating) while ClickHouse cannot answer. */
  async function withRetry<T>(step: string, batch: ConsumedBatch, call: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await call();
      } catch (error) {
        const failure = classifyQueryError(error);
        count(step, 'retry');
        stats.insertRetries++;
        const refused = failure.code !== 'CLICKHOUSE_UNAVAILABLE';
        if (batch.isStale() || (refused && attempt + 1 >= (deps.maxRejectedInsertAttempts ?? 5))) throw failure;
        const delay = backoffDelay(attempt, deps.backoff ?? defaultBackoff);
        deps.logger.warn(`ClickHouse call of step ${step} failed; retrying without committing`, { error: errorMessage(error), attempt, delayMs: delay });
        await batch.heartbeat();
        await sleep(delay);
      }
    }
  }

  const handle: BatchHandler = async (batch) => {
    const kept: { envelope: Envelope; message: ConsumedMessage }[] = [];
    for (const message of batch.messages) {
      const parsed = accept('parse', parse(message), message);
      if (parsed === undefined) continue;
      const envelope = accept('validate', validate(parsed), message);
      if (envelope === undefined) continue;
      const sampled = accept('sample', sample(envelope), message);
      if (sampled !== undefined) kept.push({ envelope: sampled, message });
    }
    if (kept.length === 0) return;
    const decisions = await withRetry('dedup', batch, () => deduplicate(kept.map((k) => k.envelope)));
    const rows: EventRow[] = [];
    kept.forEach(({ message }, i) => {
      const decision = decisions[i];
      const envelope = decision === undefined ? undefined : accept('dedup', decision, message);
      if (envelope !== undefined) rows.push(toEventRow(envelope, message));
    });
    if (rows.length === 0) return;
    await withRetry('insert', batch, () => deps.clickhouse.insertRows(table, rows));
    count('insert', 'ok');
    stats.storedRows += rows.length;
  };
  return { handle, stats };
}
