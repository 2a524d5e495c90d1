import { backoffDelay, defaultBackoff, errorMessage, sleep, type BackoffOptions, type BatchHandler, type ConsumedBatch, type ConsumedMessage, type Logger } from '@sluice/core';
import type { ClickHouse } from '@sluice/clickhouse';
import { classifyQueryError } from '@sluice/clickhouse';
import { toEventRow, type EventRow } from './event-row';
import { createParseMessageStep } from './steps/parse-message';
import type { StepResult } from './steps/step-result';
import { createValidateEnvelopeStep } from './steps/validate-envelope';

export interface BatchHandlerDeps {
  clickhouse: Pick<ClickHouse, 'insertRows'>;
  logger: Logger;
  eventsTable?: string;
  backoff?: BackoffOptions;
  /** An insert ClickHouse refuses (rather than cannot receive) is retried this many times before the batch is given back to Kafka. */
  maxRejectedInsertAttempts?: number;
}

export interface WorkerStats {
  /** Outcomes counted per step, keyed "step:kind". */
  outcomes: Map<string, number>;
  storedRows: number;
  insertRetries: number;
}

export function createBatchHandler(deps: BatchHandlerDeps): { handle: BatchHandler; stats: WorkerStats } {
  const parse = createParseMessageStep();
  const validate = createValidateEnvelopeStep();
  const stats: WorkerStats = { outcomes: new Map(), storedRows: 0, insertRetries: 0 };
  const table = deps.eventsTable ?? 'events';

  function count(step: string, kind: string): void {
    const key = `${step}:${kind}`;
    stats.outcomes.set(key, (stats.outcomes.get(key) ?? 0) + 1);
  }

  function accept<T>(step: string, result: StepResult<T>, message: ConsumedMessage): T | undefined {
    count(step, result.kind);
    if (result.kind === 'ok') return result.value;
    deps.logger.error('message rejected', {
      step,
      outcome: result.kind,
      reason: result.reason,
      topic: message.topic,
      partition: message.partition,
      offset: message.offset,
    });
    return undefined;
  }

  async function insertWithRetry(rows: EventRow[], batch: ConsumedBatch): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await deps.clickhouse.insertRows(table, rows);
        count('insert', 'ok');
        stats.storedRows += rows.length;
        return;
      } catch (error) {
        const failure = classifyQueryError(error);
        count('insert', 'retry');
        stats.insertRetries++;
        const refused = failure.code !== 'CLICKHOUSE_UNAVAILABLE';
        if (batch.isStale() || (refused && attempt + 1 >= (deps.maxRejectedInsertAttempts ?? 5))) throw failure;
        const delay = backoffDelay(attempt, deps.backoff ?? defaultBackoff);
        deps.logger.warn('insert into ClickHouse failed; retrying without committing', { error: errorMessage(error), attempt, delayMs: delay, rows: rows.length });
        await batch.heartbeat();
        await sleep(delay);
      }
    }
  }

  const handle: BatchHandler = async (batch) => {
    const rows: EventRow[] = [];
    for (const message of batch.messages) {
      const parsed = accept('parse', parse(message), message);
      if (parsed === undefined) continue;
      const envelope = accept('validate', validate(parsed), message);
      if (envelope === undefined) continue;
      rows.push(toEventRow(envelope, message));
    }
    if (rows.length > 0) await insertWithRetry(rows, batch);
  };
  return { handle, stats };
}
