import type { Consumer, ConsumerRunConfig, IHeaders } from 'kafkajs';
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
    consumer.onGroupJoin((assignment) =>
      this.onProgress({ kind: 'assigned', partitions: Object.entries(assignment).flatMap(([topic, partitions]) => partitions.map((partition) => ({ topic, partition }))) }),
    );
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
      eachBatch: async (payload) => {
        const { batch } = payload;
        const { topic, partition } = batch;
        const first = batch.messages[0];
        if (first === undefined) return;
        const messages: ConsumedMessage[] = batch.messages.map((m) => ({
          topic,
          partition,
          offset: m.offset,
          key: m.key,
          value: m.value,
          headers: stringHeaders(m.headers),
          timestamp: Number(m.timestamp),
        }));
        this.onProgress({ kind: 'fetched', topic, partition, firstOffset: first.offset, highWatermark: batch.highWatermark });
        let progress: BatchProgress | void;
        try {
          progress = await handler({
            topic,
            partition,
            messages,
            heartbeat: () => payload.heartbeat(),
            isStale: () => payload.isStale() || !payload.isRunning(),
          });
        } catch (error) {
          this.onProgress({ kind: 'failed', topic, partition, error: errorMessage(error) });
          throw new RedeliverBatchError(topic, partition, error);
        }
        // Messages after handledThrough stay unresolved, so kafkajs fetches them again.
        const last = progress ? progress.handledThrough : batch.lastOffset();
        payload.resolveOffset(last);
        const next = (BigInt(last) + 1n).toString();
        await this.consumer.commitOffsets([{ topic, partition, offset: next }]);
        this.onProgress({ kind: 'committed', topic, partition, offset: next });
      },
    };
    await this.consumer.run(this.runConfig);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.consumer.disconnect();
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
