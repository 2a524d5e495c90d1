import { backoffDelay, defaultBackoff, errorMessage, oneAtATime, sleep, type BackoffOptions, type BatchHandler, type BatchProgress, type ConsumedBatch, type ConsumedMessage, type ConsumerProgressListener, type Logger } from '@sluice/core';
import { type KeyStore } from '@sluice/tenancy';
import type { ClickHouse } from '@sluice/clickhouse';
import { classifyQueryError, isRefusalOfRows } from '@sluice/clickhouse';
import type { Envelope } from '@sluice/envelope';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { DeadLetter, DeadLetterSink } from './dead-letters';
import { toEventRow, type EventRow } from './event-row';
import { blockToken, jointToken, type BlockLog, type InsertBlock } from './insert-blocks';
import { alone, createBlockJoiner, createJointCommits, type JoinerTicket } from './joint-blocks';
import { createWorkerMetrics, type WorkerMetrics } from './metrics';
import { createBlockStore, type PendingRow, type RefusedRow } from './store-block';
import { keepEverything, type SamplingRules } from './sampling';
import { createCheckDatasetStep } from './steps/check-dataset';
import { createDeduplicateStep, type StoredKeys } from './steps/deduplicate';
import { createParseMessageStep } from './steps/parse-message';
import { createSampleEventStep } from './steps/sample-event';
import { deadLetter, type StepResult } from './steps/step-result';
import { createValidateEnvelopeStep } from './steps/validate-envelope';

export interface BatchHandlerDeps {
  clickhouse: Pick<ClickHouse, 'insertBlock'>;
  storedKeys: StoredKeys;
  blocks: BlockLog;
  deadLetters: DeadLetterSink;
  sampling?: SamplingRules;
  /** The datasets the key file knows; every dataset when not given (no KEYS_FILE). */
  datasets?: Pick<KeyStore, 'isKnownDataset'>;
  /** The envelope check; the envelope schema's by default. */
  validate?: (value: unknown) => StepResult<Envelope>;
  /** Told of every failed call the handler retries, so that a partition's health can name why it waits. */
  progress?: ConsumerProgressListener;
  /** Where outcomes are counted for Prometheus; a private set when not given. */
  metrics?: WorkerMetrics;
  logger: Logger;
  eventsTable?: string;
  backoff?: BackoffOptions;
  /** Fault injection for crash tests: wait this long between storing a block and letting it be committed. */
  pauseBeforeCommitMs?: number;
  /**
   * A block lookup, dedup lookup or dead-letter store that ClickHouse refuses (rather than not
   * receives) is retried this many times before the batch is given back to Kafka. An insert is
   * not: the rows it refuses are isolated and dead-lettered (store-block.ts).
   */
  maxRefusedAttempts?: number;
  /** The group a partition's blocks may be joined in: its shard (placement.ts). One group when not given. */
  jointGroupOf?: (partition: number) => number;
}

export interface WorkerStats {
  /** Outcomes counted per step, keyed "step:kind". */
  outcomes: Map<string, number>;
  storedRows: number;
  /** Calls retried with backoff: block lookups and records, dedup lookups, dead letters and inserts. */
  retries: number;
  /** Messages stored as dead letters. */
  deadLetters: number;
}

/**
 * A batch of more messages than this is inserted alone: joining saves a small insert's fixed cost,
 * which a block this large dwarfs, and a joint block's rows are written once more to the block log.
 */
export const jointBlockMaxMessages = 5_000;

export interface BatchHandlerParts {
  handle: BatchHandler;
  stats: WorkerStats;
  /** To be told of the consumer's progress: commits let the block log clear joint blocks' rows, and assignments load the key filter. */
  observe: ConsumerProgressListener;
}

export function createBatchHandler(deps: BatchHandlerDeps): BatchHandlerParts {
  const parse = createParseMessageStep();
  const validate = deps.validate ?? createValidateEnvelopeStep();
  const checkDataset = createCheckDatasetStep({ datasets: deps.datasets ?? everyDatasetKnown });
  const sample = createSampleEventStep({ rules: deps.sampling ?? keepEverything });
  const deduplicate = createDeduplicateStep({ storedKeys: deps.storedKeys });
  const stats: WorkerStats = { outcomes: new Map(), storedRows: 0, retries: 0, deadLetters: 0 };
  const table = deps.eventsTable ?? 'events';
  const metrics = deps.metrics ?? createWorkerMetrics();

  /** The one place outcomes are counted: per step and kind, in the stats and in Prometheus. */
  function count(step: string, kind: string, times = 1): void {
    const key = `${step}:${kind}`;
    stats.outcomes.set(key, (stats.outcomes.get(key) ?? 0) + times);
    if (kind === 'retry') metrics.retries.inc({ step }, times);
    else metrics.stepOutcomes.inc({ step, outcome: kind }, times);
  }

  /** Counts the outcome in the batch's tally; a dead letter is added to the batch's list, with what is known of the event. */
  function accept<T>(step: string, result: StepResult<T>, message: ConsumedMessage, rejected: DeadLetter[], tally: Tally, identity?: unknown): T | undefined {
    tally.add(step, result.kind);
    if (result.kind === 'ok') return result.value;
    if (result.kind === 'dlq') rejected.push({ step, reason: result.reason, message, ...identityOf(identity) });
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

  /** Gives up on a refused call after maxRefusedAttempts; an unavailable ClickHouse or Kafka is waited for. */
  const refusedTooOften = (error: unknown, attempt: number): boolean => classifyQueryError(error).code !== 'CLICKHOUSE_UNAVAILABLE' && attempt + 1 >= (deps.maxRefusedAttempts ?? 5);

  /**
   * Runs one call of a step to ClickHouse (or, for dead letters, Kafka), retrying with backoff and
   * heartbeating until it succeeds, the partition is revoked, or `isFinal` says the error is for
   * the caller to handle.
   */
  async function withRetry<T>(step: string, scope: BatchOrJoint, call: () => Promise<T>, isFinal: (error: unknown, attempt: number) => boolean = refusedTooOften): Promise<T> {
    const batches = batchesOf(scope);
    for (let attempt = 0; ; attempt++) {
      try {
        return await call();
      } catch (error) {
        if (isFinal(error, attempt)) throw error;
        const failure = classifyQueryError(error);
        for (const batch of batches) deps.progress?.({ kind: 'failed', topic: batch.topic, partition: batch.partition, error: `${step}: ${failure.message}` });
        count(step, 'retry');
        stats.retries++;
        // A joint block whose partition moved is given back whole: the block log lets anyone repeat it.
        if (batches.some((batch) => batch.isStale())) throw failure;
        const delay = backoffDelay(attempt, deps.backoff ?? defaultBackoff);
        deps.logger.warn(`the ${step} step failed to reach ClickHouse or Kafka; retrying without committing`, { error: errorMessage(error), attempt, delayMs: delay });
        await waitHeartbeating(batches, delay);
      }
    }
  }

  /** Inserts rows under a token, isolating the rows ClickHouse refuses (store-block.ts). */
  async function storeRows(scope: BatchOrJoint, rows: readonly PendingRow<Origin>[], token: string): Promise<{ stored: number; refused: RefusedRow<Origin>[] }> {
    const batches = batchesOf(scope);
    const storeBlock = createBlockStore({
      insert: async (blockRows, blockToken) => {
        await withRetry(
          'insert',
          scope,
          async () => {
            const stopTimer = metrics.insertLatency.startTimer();
            await deps.clickhouse.insertBlock(table, blockRows, blockToken);
            stopTimer();
          },
          isRefusalOfRows,
        );
      },
      heartbeat: async () => {
        for (const batch of batches) await batch.heartbeat();
      },
      logger: deps.logger,
    });
    return storeBlock(rows, token);
  }

  /**
   * A small batch's block that found no other to join: recorded, then inserted alone under its own
   * token. Once recorded, the consumer may fetch on while it is inserted: any later attempt repeats it.
   */
  async function storeAlone(part: JoinPart): Promise<JoinOutcome> {
    await withRetry('block', part.batch, () => deps.blocks.record(part.block));
    part.batch.release(part.block.lastOffset);
    return storeRows(part.batch, part.rows, blockToken(part.block));
  }

  const stepsInTurn = oneAtATime();
  const jointCommits = createJointCommits();
  const groupOf = deps.jointGroupOf ?? (() => 0);
  const joiner = createBlockJoiner<JoinPart, JoinOutcome>({
    groupOf,
    store: async (parts) => {
      const [first] = parts;
      if (first === undefined) return [];
      if (parts.length === 1) return [await storeAlone(first)];
      const batches = parts.map((part) => part.batch);
      const blocks = parts.map((part) => part.block);
      const rows = parts.flatMap((part) => part.rows);
      const group = groupOf(first.batch.partition);
      const settled = jointCommits.takeSettled((head) => groupOf(head.partition) === group);
      await withRetry('block', batches, () => deps.blocks.recordJoint({ blocks, rows: rows.map((pending) => pending.row) }, settled));
      const { refused } = await storeRows(batches, rows, jointToken(blocks));
      jointCommits.stored(blocks);
      // Each batch dead-letters its own refused rows.
      return parts.map((part) => {
        const own = refused.filter((r) => r.origin.message.partition === part.batch.partition);
        return { stored: part.rows.length - own.length, refused: own };
      });
    },
  });

  async function storeDeadLetters(batch: ConsumedBatch, letters: DeadLetter[]): Promise<void> {
    await withRetry('dead-letter', batch, () => deps.deadLetters.store(letters));
    stats.deadLetters += letters.length;
    for (const letter of letters) metrics.deadLetters.inc({ step: letter.step });
  }

  /**
   * One batch becomes one block: the messages from the batch's first offset to its last, or to the
   * end of the block a crashed attempt recorded, which is then rebuilt exactly (same messages, same
   * decisions, same token), so ClickHouse stores it once in events and in every view.
   */
  const handle: BatchHandler = async (batch) => {
    metrics.batchSize.observe(batch.messages.length);
    const tally = createTally();
    const large = batch.messages.length > jointBlockMaxMessages;
    // A large batch never joins, so the small ones do not wait for its steps.
    const ticket = large ? alone : joiner.enter(batch.partition);
    try {
      return await handleCounting(batch, tally, ticket);
    } finally {
      ticket.leave();
      tally.flush(count);
    }
  };

  async function handleCounting(batch: ConsumedBatch, tally: Tally, ticket: JoinerTicket<JoinPart, JoinOutcome>): Promise<BatchProgress | undefined> {
    const first = batch.messages[0];
    const last = batch.messages.at(-1);
    if (first === undefined || last === undefined) return;
    const recorded = await withRetry('block', batch, () => deps.blocks.recordedBlock(batch.topic, batch.partition, first.offset));
    const recordedEnd = recorded?.lastOffset;
    if (recordedEnd !== undefined && BigInt(last.offset) < BigInt(recordedEnd)) {
      throw new Error(
        `The batch from ${batch.topic}[${batch.partition}] ends at offset ${last.offset}, inside the block ${first.offset}-${recordedEnd} an earlier attempt recorded; waiting for the whole block`,
      );
    }
    if (recorded?.joint !== undefined) {
      ticket.leave();
      return repeatJoint(batch, recorded.lastOffset, recorded.joint, tally);
    }
    const block: InsertBlock = { topic: batch.topic, partition: batch.partition, firstOffset: first.offset, lastOffset: recordedEnd ?? last.offset };
    const messages = recordedEnd === undefined ? batch.messages : batch.messages.filter((m) => BigInt(m.offset) <= BigInt(recordedEnd));
    // A block inserted alone is recorded before its steps run: every step's decision is the same
    // on a repeat, so its extent is all a repeat needs. The consumer then fetches the partition's
    // next batch while this one's steps run, instead of after them.
    const insertedAlone = recordedEnd !== undefined || ticket === alone;
    if (insertedAlone) {
      ticket.leave();
      if (recordedEnd === undefined) await withRetry('block', batch, () => deps.blocks.record(block));
      batch.release(block.lastOffset);
    }

    const rejected: DeadLetter[] = [];
    const kept = await stepsInTurn(() => runSteps(messages, rejected, tally));
    const rows: PendingRow<Origin>[] = [];
    if (kept.length > 0) {
      const own = { partition: block.partition, firstOffset: block.firstOffset, lastOffset: block.lastOffset };
      // The partition's earlier blocks may still be going in: dedup must see them stored.
      await batch.earlierStored();
      const decisions = await withRetry('dedup', batch, () => deduplicate(kept.map((k) => k.envelope), own));
      kept.forEach((origin, i) => {
        const decision = decisions[i];
        const envelope = decision === undefined ? undefined : accept('dedup', decision, origin.message, rejected, tally);
        if (envelope !== undefined) rows.push({ row: toEventRow(envelope, origin.message, origin.sampleRate), origin: { message: origin.message, identity: envelope } });
      });
    }
    // Before the insert and the commit: a dead letter is stored somewhere, never just skipped, and
    // an event that is visible in ClickHouse means the poison before it is on record too.
    if (rejected.length > 0) await storeDeadLetters(batch, rejected);
    if (rows.length > 0) {
      const { stored, refused } = insertedAlone ? await storeRows(batch, rows, blockToken(block)) : await ticket.join({ batch, block, rows });
      await countStored(batch, stored, refused, tally);
    }
    if (deps.pauseBeforeCommitMs) await sleep(deps.pauseBeforeCommitMs);
    return { handledThrough: block.lastOffset };
  }

  /**
   * Parses, validates, checks and samples a batch's messages: what is kept, in order; what is
   * rejected goes on `rejected`. The steps are all JavaScript on the one thread, so batches take
   * turns (stepsInTurn) and the first fetched is ready first, rather than all at once at the end.
   */
  async function runSteps(messages: readonly ConsumedMessage[], rejected: DeadLetter[], tally: Tally): Promise<Kept[]> {
    const kept: Kept[] = [];
    for (const [index, message] of messages.entries()) {
      // Other work waits while a large batch's steps run: an insert that finished starts the next.
      if (index % stepsBetweenYields === stepsBetweenYields - 1) await yieldToEventLoop();
      // A step that throws on some message must not stall the partition: the message is a dead letter.
      let step = 'parse';
      let identity: unknown;
      try {
        const parsed = accept(step, parse(message), message, rejected, tally);
        if (parsed === undefined) continue;
        step = 'validate';
        identity = parsed;
        const envelope = accept(step, validate(parsed), message, rejected, tally, parsed);
        if (envelope === undefined) continue;
        step = 'dataset';
        const known = accept(step, checkDataset(envelope), message, rejected, tally, envelope);
        if (known === undefined) continue;
        step = 'sample';
        const sampleRate = accept(step, sample(known), message, rejected, tally);
        if (sampleRate !== undefined) kept.push({ envelope: known, sampleRate, message });
      } catch (error) {
        accept(step, deadLetter(`the ${step} step failed on this message: ${errorMessage(error)}`), message, rejected, tally, identity);
      }
    }
    return kept;
  }

  /** Dead-letters the rows ClickHouse refused, and counts the ones it took. */
  async function countStored(batch: ConsumedBatch, stored: number, refused: readonly RefusedRow<Origin>[], tally: Tally): Promise<void> {
    const refusedLetters: DeadLetter[] = [];
    for (const { origin, reason } of refused) accept('insert', deadLetter(`ClickHouse refused the row: ${reason}`), origin.message, refusedLetters, tally, origin.identity);
    if (refusedLetters.length > 0) await storeDeadLetters(batch, refusedLetters);
    if (stored > 0) tally.add('insert', 'ok');
    stats.storedRows += stored;
    metrics.rowsStored.inc(stored);
  }

  /**
   * Repeats the joint block an earlier attempt recorded this batch's block in, from the rows the
   * block log keeps, under the same token: ClickHouse stores what the attempt did not. Once every
   * block of it was committed its rows are cleared, and there is nothing left to repeat.
   */
  async function repeatJoint(batch: ConsumedBatch, lastOffset: string, token: string, tally: Tally): Promise<BatchProgress> {
    const rows = await withRetry('block', batch, () => deps.blocks.jointRows(token));
    if (rows === undefined) {
      deps.logger.info('a joint block recorded for this batch was committed already; skipping its messages', { topic: batch.topic, partition: batch.partition, token });
    } else {
      // Its rows were looked up by whichever worker joined them, perhaps not this one.
      deps.storedKeys.remember?.(rows);
      const messages = new Map(batch.messages.map((message) => [message.offset, message]));
      const pending = rows.map((row) => {
        const message = row.kafka_partition === batch.partition ? messages.get(row.kafka_offset) : undefined;
        // Another partition's rows go in with this one's; their own batches dead-letter any refused.
        return { row, origin: { message: message ?? foreignMessage(row), identity: row } };
      });
      const { refused } = await storeRows(batch, pending, token);
      const own = (origin: Origin): boolean => origin.message.partition === batch.partition && messages.has(origin.message.offset);
      const ownRefused = refused.filter((r) => own(r.origin));
      await countStored(batch, pending.filter((p) => own(p.origin)).length - ownRefused.length, ownRefused, tally);
    }
    if (deps.pauseBeforeCommitMs) await sleep(deps.pauseBeforeCommitMs);
    return { handledThrough: lastOffset };
  }

  return {
    handle,
    stats,
    observe: (event) => {
      jointCommits.observe(event);
      deps.storedKeys.observe?.(event);
    },
  };
}

/** A kept message on its way to a row. */
interface Kept {
  envelope: Envelope;
  /** The rate the sampling step kept it at, which its row records. */
  sampleRate: number;
  message: ConsumedMessage;
}

/** Where a row came from, to dead-letter it if ClickHouse refuses it: its message, and what names the event. */
interface Origin {
  message: ConsumedMessage;
  identity: unknown;
}

/** A batch, or the batches of a joint block, which retry, heartbeat and give up together. */
type BatchOrJoint = ConsumedBatch | readonly ConsumedBatch[];

function batchesOf(scope: BatchOrJoint): readonly ConsumedBatch[] {
  return 'messages' in scope ? [scope] : scope;
}

/** A batch's block on its way into a joint block. */
interface JoinPart {
  batch: ConsumedBatch;
  block: InsertBlock;
  rows: PendingRow<Origin>[];
}

interface JoinOutcome {
  stored: number;
  refused: RefusedRow<Origin>[];
}

/** The message of another partition's row in a repeated joint block: never dead-lettered by this batch. */
function foreignMessage(row: EventRow): ConsumedMessage {
  return { topic: row.kafka_topic, partition: row.kafka_partition, offset: row.kafka_offset, key: null, value: null, headers: {}, timestamp: 0 };
}

/**
 * A batch's outcomes, counted in the stats and in Prometheus once per batch (also when it fails
 * part way) rather than once per message, whose labelled increments cost more than the steps.
 */
interface Tally {
  add(step: string, kind: string): void;
  flush(count: (step: string, kind: string, times: number) => void): void;
}

function createTally(): Tally {
  // By step, then kind: a "step:kind" key made for every message and step cost more than the maps.
  const counts = new Map<string, Map<string, number>>();
  return {
    add(step, kind) {
      let kinds = counts.get(step);
      if (kinds === undefined) counts.set(step, (kinds = new Map<string, number>()));
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    },
    flush(count) {
      for (const [step, kinds] of counts) for (const [kind, times] of kinds) count(step, kind, times);
      counts.clear();
    },
  };
}

const everyDatasetKnown: Pick<KeyStore, 'isKnownDataset'> = { isKnownDataset: () => true };

/**
 * Messages a batch's steps handle between giving the event loop a turn: about 10 ms of work. A
 * batch of 40,000 messages took half a second without a break, while the insert session, which is
 * the worker's bottleneck, sat idle after finishing an insert until it could start the next.
 */
const stepsBetweenYields = 1_000;

/** Longest wait between heartbeats during a backoff: well inside the group's session timeout. */
const heartbeatEveryMs = 1_000;

/**
 * Waits out a backoff delay, heartbeating at least every second: a backoff can grow to as long as
 * the group's session timeout, and a worker that went quiet that long would lose its partitions.
 */
async function waitHeartbeating(batches: readonly ConsumedBatch[], delayMs: number): Promise<void> {
  let remaining = delayMs;
  do {
    for (const batch of batches) await batch.heartbeat();
    if (batches.some((batch) => batch.isStale())) return;
    const step = Math.min(remaining, heartbeatEveryMs);
    await sleep(step);
    remaining -= step;
  } while (remaining > 0);
}

/** The dataset and insert id of a message that parsed but failed validation, when it names them. */
function identityOf(value: unknown): { datasetId: string; insertId: string } {
  const field = (name: string): string => {
    if (typeof value !== 'object' || value === null || !(name in value)) return '';
    const found: unknown = (value as Record<string, unknown>)[name];
    return typeof found === 'string' ? found : '';
  };
  return { datasetId: field('dataset_id'), insertId: field('insert_id') };
}
