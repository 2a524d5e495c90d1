import type { Consumer, ConsumerRunConfig, EachBatchPayload, IHeaders, KafkaMessage } from './kafkajs';
import {
  backoffDelay,
  defaultBackoff,
  errorMessage,
  type BackoffOptions,
  type BatchHandler,
  type BatchProgress,
  type ConsumedMessage,
  type ConsumerProgressListener,
  type EventConsumer,
  type Logger,
} from '@sluice/core';

/**
 * A handler that throws means "not stored: deliver this batch again". kafkajs restarts a crashed
 * consumer only when the root cause is marked retriable, so the failure is wrapped in an error
 * that is, rather than leaving the worker alive but consuming nothing.
 */
class RedeliverBatchError extends Error {
  readonly retriable = true;

  constructor(topic: string, partition: number, cause: unknown) {
    super(`The batch from ${topic}[${partition}] was not stored and will be delivered again: ${errorMessage(cause)}`);
    this.name = 'RedeliverBatchError';
  }
}

/** The parts of a kafkajs consumer this class uses. */
export interface RunnableConsumer {
  /** kafkajs's CRASH event: `restart` says whether kafkajs restarts the consumer itself. */
  onCrash(listener: (crash: { error: Error; groupId: string; restart: boolean }) => void): void;
  /** kafkajs's GROUP_JOIN event: the partitions of each topic this member owns from now on. */
  onGroupJoin(listener: (assignment: Record<string, number[]>) => void): void;
  connect(): Promise<void>;
  run(config: ConsumerRunConfig): Promise<void>;
  commitOffsets: Consumer['commitOffsets'];
  /** Where kafkajs fetches the partition from next, without committing anything (autoCommit is off). */
  seek(topic: string, partition: number, offset: string): void;
  disconnect(): Promise<void>;
}

/** The kafkajs consumer as a RunnableConsumer. */
export function runnable(consumer: Consumer): RunnableConsumer {
  return {
    onCrash: (listener) => void consumer.on(consumer.events.CRASH, ({ payload }) => listener(payload)),
    onGroupJoin: (listener) => void consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => listener(payload.memberAssignment)),
    connect: () => consumer.connect(),
    run: (config) => consumer.run(config),
    commitOffsets: (offsets) => consumer.commitOffsets(offsets),
    seek: (topic, partition, offset) => consumer.seek({ topic, partition, offset }),
    disconnect: () => consumer.disconnect(),
  };
}

/**
 * Commits the offset after a batch only once the handler has stored it.
 *
 * kafkajs gives up for good on errors it does not mark retriable, some of which pass by themselves:
 * "Failed to find group coordinator" while a broker that just started loads its group state, for
 * one. A worker that stopped consuming would then sit idle until someone restarted it, so this
 * class restarts the consumer itself, with backoff, and reports the cause as its failure() until
 * the consumer runs again.
 */
export class CommitAfterHandlerConsumer implements EventConsumer {
  private stoppedBy: string | undefined;
  private runConfig: ConsumerRunConfig | undefined;
  private stopping = false;
  private restarting = false;
  private onProgress: ConsumerProgressListener = () => undefined;
  private readonly lanes = new Map<string, PartitionLane>();
  /** Counts group joins: after one, kafkajs reads every partition from its committed offset again. */
  private generation = 0;

  constructor(
    private readonly consumer: RunnableConsumer,
    private readonly logger: Logger,
    private readonly backoff: BackoffOptions = defaultBackoff,
    /** kafkajs's partitionsConsumedConcurrently: one partition's batches never overlap each other. */
    private readonly partitionsAtOnce = 1,
  ) {
    consumer.onCrash((crash) => {
      if (crash.restart || this.stopping) return;
      this.stoppedBy = crash.error.message;
      logger.warn('the Kafka consumer stopped on an error kafkajs does not retry; restarting it', { error: crash.error.message, groupId: crash.groupId });
      void this.restart();
    });
    consumer.onGroupJoin((assignment) => {
      this.generation++;
      for (const lane of this.lanes.values()) lane.readFrom = undefined;
      this.onProgress({ kind: 'assigned', partitions: Object.entries(assignment).flatMap(([topic, partitions]) => partitions.map((partition) => ({ topic, partition }))) });
    });
  }

  failure(): string | undefined {
    return this.stoppedBy;
  }

  private async restart(): Promise<void> {
    if (this.restarting) return;
    this.restarting = true;
    try {
      for (let attempt = 0; !this.stopping; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, backoffDelay(attempt, this.backoff)));
        if (this.stopping || this.runConfig === undefined) return;
        try {
          // After a crash kafkajs has disconnected and forgotten the run, but kept the subscription.
          await this.consumer.connect();
          await this.consumer.run(this.runConfig);
          this.stoppedBy = undefined;
          this.logger.info('the Kafka consumer runs again');
          return;
        } catch (error) {
          this.stoppedBy = errorMessage(error);
          this.logger.warn('the Kafka consumer could not be restarted yet; trying again', { error: errorMessage(error), attempt });
        }
      }
    } finally {
      this.restarting = false;
    }
  }

  async run(handler: BatchHandler, onProgress?: ConsumerProgressListener): Promise<void> {
    if (onProgress) this.onProgress = onProgress;
    this.runConfig = {
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.partitionsAtOnce,
      eachBatch: (payload) => this.handleBatch(handler, payload),
    };
    await this.consumer.run(this.runConfig);
  }

  /**
   * Hands one batch to the handler and commits after it, in the partition's lane: a batch's
   * commit waits for its partition's earlier batches, so a released batch (ConsumedBatch.release)
   * lets kafkajs fetch on while it is stored, without a later commit overtaking it.
   */
  private async handleBatch(handler: BatchHandler, payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const { topic, partition } = batch;
    const first = batch.messages[0];
    if (first === undefined) return;
    // While stop() waits for the lanes, kafkajs would fetch the same unresolved batch again and again.
    if (this.stopping) {
      payload.pause();
      return;
    }
    const lane = this.laneOf(topic, partition);
    // kafkajs is seeking back to a released batch that failed; what it fetched past it waits for that.
    if (lane.readFrom !== undefined) {
      if (BigInt(first.offset) > lane.readFrom) return;
      lane.readFrom = undefined;
    }
    const messages: ConsumedMessage[] = batch.messages.map((m) => new FetchedMessage(topic, partition, m));
    this.onProgress({ kind: 'fetched', topic, partition, firstOffset: first.offset, highWatermark: batch.highWatermark });
    const generation = this.generation;
    const current = (): boolean => generation === this.generation && lane.readFrom === undefined;
    const earlier = lane.tail;
    let released = false;
    let onRelease = (): void => undefined;
    const release = new Promise<void>((resolve) => (onRelease = resolve));

    const outcome = (async (): Promise<BatchOutcome> => {
      let progress: BatchProgress | void;
      try {
        progress = await handler({
          topic,
          partition,
          messages,
          heartbeat: () => payload.heartbeat(),
          isStale: () => this.stopping || payload.isStale() || !payload.isRunning(),
          earlierStored: async () => {
            await earlier;
            if (lane.readFrom !== undefined) throw new Error(`an earlier batch from ${topic}[${partition}] was not stored; both are delivered again`);
          },
          release: (handledThrough) =>
            void earlier.then(() => {
              if (released || !current()) return;
              released = true;
              payload.resolveOffset(handledThrough);
              onRelease();
            }),
        });
      } catch (error) {
        return { kind: 'failed', error };
      }
      await earlier;
      // An earlier batch failed and is read again, this one after it; or the group rebalanced, and
      // whoever owns the partition now reads it from the committed offset.
      if (!current()) return { kind: 'abandoned' };
      const through = progress ? progress.handledThrough : batch.lastOffset();
      await this.commit(topic, partition, through);
      return { kind: 'stored', through };
    })();
    lane.tail = outcome.then((settled) => {
      if (released && settled.kind === 'failed') this.readAgain(lane, topic, partition, first.offset, generation, settled.error);
    });

    const settled = await Promise.race([release.then(() => undefined), outcome]);
    if (settled === undefined || settled.kind === 'abandoned') return;
    if (settled.kind === 'stored') {
      if (generation === this.generation) payload.resolveOffset(settled.through);
      return;
    }
    // An earlier batch's failure, reported already, has kafkajs seeking back before this one.
    if (lane.readFrom !== undefined) return;
    this.onProgress({ kind: 'failed', topic, partition, error: errorMessage(settled.error) });
    throw new RedeliverBatchError(topic, partition, settled.error);
  }

  /** Commits the offset after `through`. A commit that fails after the block was stored is left to the next one: the block log repeats the block, which ClickHouse then drops. */
  private async commit(topic: string, partition: number, through: string): Promise<void> {
    const next = (BigInt(through) + 1n).toString();
    try {
      await this.consumer.commitOffsets([{ topic, partition, offset: next }]);
    } catch (error) {
      this.logger.warn('could not commit offsets after a stored batch; a later commit covers them', { topic, partition, offset: next, error: errorMessage(error) });
      this.onProgress({ kind: 'failed', topic, partition, error: `commit: ${errorMessage(error)}` });
      return;
    }
    this.onProgress({ kind: 'committed', topic, partition, offset: next });
  }

  /** A released batch failed after kafkajs fetched past it: kafkajs is sent back to its first offset. */
  private readAgain(lane: PartitionLane, topic: string, partition: number, firstOffset: string, generation: number, error: unknown): void {
    this.onProgress({ kind: 'failed', topic, partition, error: errorMessage(error) });
    // After a rebalance kafkajs reads from the committed offset anyway; a stopping consumer reads nothing more.
    if (generation !== this.generation || this.stopping) return;
    const from = BigInt(firstOffset);
    if (lane.readFrom !== undefined && lane.readFrom <= from) return;
    lane.readFrom = from;
    this.logger.warn('a batch failed after the consumer fetched past it; reading its partition again from the batch', { topic, partition, offset: firstOffset, error: errorMessage(error) });
    this.consumer.seek(topic, partition, firstOffset);
  }

  private laneOf(topic: string, partition: number): PartitionLane {
    const key = `${topic}/${partition}`;
    let lane = this.lanes.get(key);
    if (lane === undefined) this.lanes.set(key, (lane = { tail: Promise.resolve(), readFrom: undefined }));
    return lane;
  }

  /** Waits for the batches being stored, then leaves the group: their commits land first. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.lanes.values()].map((lane) => lane.tail));
    await this.consumer.disconnect();
  }
}

/** How a batch ended: committed through an offset, failed, or given up because its partition is read again. */
type BatchOutcome = { kind: 'stored'; through: string } | { kind: 'failed'; error: unknown } | { kind: 'abandoned' };

/** A partition's batches, committed one after the other. */
interface PartitionLane {
  /** Settles (never rejects) once every batch handed to the handler so far is committed or has failed. */
  tail: Promise<void>;
  /** Set once a released batch failed: kafkajs reads the partition again from here, and nothing after it is handled or committed until then. */
  readFrom: bigint | undefined;
}

/**
 * A fetched message as the handler sees it. Its headers become strings only when read (by a dead
 * letter): decoding them for every message cost the worker 1-2% of its thread.
 */
class FetchedMessage implements ConsumedMessage {
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly timestamp: number;
  readonly #headers: IHeaders | undefined;
  #decodedHeaders: Record<string, string> | undefined;

  constructor(
    readonly topic: string,
    readonly partition: number,
    message: KafkaMessage,
  ) {
    this.offset = message.offset;
    this.key = message.key;
    this.value = message.value;
    this.timestamp = Number(message.timestamp);
    this.#headers = message.headers;
  }

  get headers(): Record<string, string> {
    return (this.#decodedHeaders ??= stringHeaders(this.#headers));
  }
}

function stringHeaders(headers: IHeaders | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) result[name] = first.toString();
  }
  return result;
}
