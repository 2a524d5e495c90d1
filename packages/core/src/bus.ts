/**
 * The small interfaces the services use to talk to the event log. Only @sluice/kafka
 * implements them with kafkajs; everything else depends on these.
 */
export interface OutgoingMessage {
  key: string;
  value: string | Buffer;
  headers?: Record<string, string>;
}

export interface EventPublisher {
  /** Resolves only once the broker has acknowledged every message (acks from all in-sync replicas). */
  publish(messages: readonly OutgoingMessage[]): Promise<void>;
  /** True while the publisher believes the broker is reachable. */
  isConnected(): boolean;
  /** Waits for messages already accepted to be acknowledged, then disconnects. */
  close(): Promise<void>;
}

export interface ConsumedMessage {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
  /** Broker timestamp, epoch milliseconds. */
  timestamp: number;
}

export interface ConsumedBatch {
  topic: string;
  partition: number;
  messages: readonly ConsumedMessage[];
  /** Keeps the group membership alive during long work on one batch. */
  heartbeat(): Promise<void>;
  /** True once this partition was revoked or the consumer is stopping: abandon the batch. */
  isStale(): boolean;
  /**
   * Resolves once every earlier batch of the partition is stored and committed; throws when one
   * was not, and the partition is then read again from that batch. A step that must see the
   * earlier batches stored (the dedup lookup) waits for it.
   */
  earlierStored(): Promise<void>;
  /**
   * Lets the consumer fetch past this batch before the handler finishes: what remains (an insert
   * whose block, through handledThrough, is recorded, so that any later attempt repeats it
   * exactly) overlaps the next fetch. The offset is still committed only once the handler
   * resolves; if it throws, the partition is read again from this batch. Taken into account once
   * earlierStored() would resolve.
   */
  release(handledThrough: string): void;
}

/** How much of a batch the handler finished, when not all of it. */
export interface BatchProgress {
  /** The last offset handled; the messages after it are delivered again. */
  handledThrough: string;
}

/**
 * Receives each batch. When it resolves, the offsets after the batch (or after handledThrough)
 * are committed, after those of the partition's earlier batches; when it throws, nothing is
 * committed and the batch is delivered again.
 */
export type BatchHandler = (batch: ConsumedBatch) => Promise<BatchProgress | void>;

/**
 * What a consumer reports as it goes, so that a partition that stopped moving can be told from
 * one that is merely idle. Offsets are decimal strings, as Kafka's.
 */
export type ConsumerProgressEvent =
  /** The partitions this consumer owns after (re)joining its group; any it held before and is not given were revoked. */
  | { kind: 'assigned'; partitions: readonly { topic: string; partition: number }[] }
  /** A batch reached the handler: it starts at firstOffset, and the partition's next offset to be written is highWatermark. */
  | { kind: 'fetched'; topic: string; partition: number; firstOffset: string; highWatermark: string }
  /** The group committed offset (the next message to handle) after the handler stored what came before it. */
  | { kind: 'committed'; topic: string; partition: number; offset: string }
  /** The handler threw: nothing was committed and the batch will be delivered again. */
  | { kind: 'failed'; topic: string; partition: number; error: string };

export type ConsumerProgressListener = (event: ConsumerProgressEvent) => void;

export interface EventConsumer {
  /** onProgress, when given, hears every assignment, batch, commit and handler failure. */
  run(handler: BatchHandler, onProgress?: ConsumerProgressListener): Promise<void>;
  stop(): Promise<void>;
  /** Why the consumer stopped for good (a crash it will not restart from), or undefined while it runs. */
  failure(): string | undefined;
}
