import { CompressionTypes, type Producer } from './kafkajs';
import { SluiceError, type EventPublisher, type Logger, type OutgoingMessage } from '@sluice/core';

export interface GroupCommitOptions {
  topic: string;
  /** Messages waiting for a send beyond this many are refused with PUBLISH_BUFFER_FULL. */
  maxQueuedMessages?: number;
  /** A message still waiting for its send after this long is refused with KAFKA_UNAVAILABLE. */
  queueTimeoutMs?: number;
  /** How long a caller waits for the broker's acknowledgement before it is told KAFKA_UNAVAILABLE. */
  sendTimeoutMs?: number;
}

interface QueuedPublish {
  messages: readonly OutgoingMessage[];
  resolve: () => void;
  reject: (error: Error) => void;
  /** Date.now() past which it is refused unsent. */
  deadline: number;
}

/**
 * An idempotent producer allows one request in flight per broker. Rather than make every HTTP
 * request wait its turn, messages that arrive while a send is in flight are grouped into the
 * next send (group commit), and each caller is answered when the send holding its messages is
 * acknowledged.
 *
 * After a failed send the producer is replaced. Its sequence numbers did not advance, so the
 * next, different batch would reuse them; if the failed batch had in fact been written, the
 * broker would take the new batch for a duplicate and acknowledge it without storing it. A new
 * producer gets a new producer id and starts its sequences afresh.
 */
export class GroupCommitPublisher implements EventPublisher {
  private readonly queue: QueuedPublish[] = [];
  private queuedMessages = 0;
  private inFlight: Promise<void> | undefined;
  private pumpScheduled = false;
  /** One timer for the oldest waiting publish (the queue is in arrival order), not one per publish. */
  private expiryTimer: NodeJS.Timeout | undefined;
  private producer: Producer | undefined;
  private connected = false;
  private closed = false;
  private readonly maxQueuedMessages: number;
  private readonly queueTimeoutMs: number;
  private readonly sendTimeoutMs: number;

  constructor(
    private readonly createProducer: () => Producer,
    private readonly options: GroupCommitOptions,
    private readonly logger: Logger,
  ) {
    this.maxQueuedMessages = options.maxQueuedMessages ?? 100_000;
    this.queueTimeoutMs = options.queueTimeoutMs ?? 5_000;
    this.sendTimeoutMs = options.sendTimeoutMs ?? 5_000;
  }

  async connect(): Promise<Producer> {
    if (this.producer) return this.producer;
    const producer = this.createProducer();
    try {
      await producer.connect();
    } catch (error) {
      await producer.disconnect().catch(() => undefined);
      throw error;
    }
    this.producer = producer;
    this.connected = true;
    return producer;
  }

  isConnected(): boolean {
    return this.connected && !this.closed;
  }

  publish(messages: readonly OutgoingMessage[]): Promise<void> {
    if (this.closed) return Promise.reject(new SluiceError('SHUTTING_DOWN', 'The gateway is shutting down'));
    if (messages.length === 0) return Promise.resolve();
    if (this.queuedMessages + messages.length > this.maxQueuedMessages) {
      return Promise.reject(new SluiceError('PUBLISH_BUFFER_FULL', `The publish buffer holds ${this.queuedMessages} messages, its limit`));
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ messages, resolve, reject, deadline: Date.now() + this.queueTimeoutMs });
      this.queuedMessages += messages.length;
      this.schedulePump();
      this.armExpiry();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    // What is queued still goes out now, not in a send scheduled for after the producer is gone.
    for (this.pump(); this.inFlight; this.pump()) await this.inFlight;
    await this.producer?.disconnect();
    this.producer = undefined;
  }

  private armExpiry(): void {
    const oldest = this.queue[0];
    if (this.expiryTimer !== undefined || oldest === undefined) return;
    this.expiryTimer = setTimeout(() => {
      this.expiryTimer = undefined;
      this.expireOverdue();
    }, Math.max(0, oldest.deadline - Date.now()));
  }

  /** Still waiting after queueTimeoutMs means nothing of it was sent: refuse it, safely. */
  private expireOverdue(): void {
    const now = Date.now();
    for (let oldest = this.queue[0]; oldest !== undefined && oldest.deadline <= now; oldest = this.queue[0]) {
      this.queue.shift();
      this.queuedMessages -= oldest.messages.length;
      oldest.reject(new SluiceError('KAFKA_UNAVAILABLE', `Kafka did not accept the event within ${this.queueTimeoutMs} ms`));
    }
    this.armExpiry();
  }

  /**
   * Sends once the event loop has handled the I/O it is handling: every request read in this turn
   * then joins one send, instead of the first going alone and the rest waiting a round trip for the
   * next (single events 0.47-0.69× the bare server in gateway-scenario runs, against 0.46-0.49×).
   */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    if (this.inFlight || this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.queue.length);
    this.queuedMessages = 0;
    clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    this.inFlight = this.send(batch).then((answerCallers) => {
      this.inFlight = undefined;
      // Answered first: their replies are written in this turn, and the next send goes at its end
      // with whatever else the turn's I/O adds to it.
      answerCallers();
      this.schedulePump();
    });
  }

  /** Resolves once the send has really finished, to what is left to tell its callers. */
  private async send(batch: QueuedPublish[]): Promise<() => void> {
    const delivery = this.deliver(batch.flatMap((entry) => entry.messages));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<Error>((resolve) => {
      timer = setTimeout(() => resolve(new Error(`no acknowledgement within ${this.sendTimeoutMs} ms`)), this.sendTimeoutMs);
    });
    const outcome = await Promise.race([delivery.then(() => undefined, (error: unknown) => (error instanceof Error ? error : new Error(String(error)))), deadline]);
    clearTimeout(timer);
    if (outcome === undefined) {
      this.connected = true;
      // Acknowledged: the delivery has finished, so nothing holds the next send back.
      return () => {
        for (const entry of batch) entry.resolve();
      };
    } else {
      this.connected = false;
      this.logger.warn('Kafka send failed; the events were not acknowledged', { error: outcome.message, requests: batch.length });
      const failure = new SluiceError('KAFKA_UNAVAILABLE', `Kafka did not acknowledge the event: ${outcome.message}`, { cause: outcome });
      for (const entry of batch) entry.reject(failure);
    }
    // The idempotent producer must never have two sends in flight: the next batch waits until
    // this one has really finished, even if its callers were already refused.
    const delivered = await delivery.then(() => true, () => false);
    if (!delivered) await this.discardProducer();
    return () => undefined;
  }

  /**
   * One send per slice of at most maxSendBytes: the broker refuses a record batch over its
   * max.message.bytes, and a partition's messages of one send form one record batch. Slices go
   * one after another, so the idempotent producer never has two sends in flight.
   */
  private async deliver(messages: OutgoingMessage[]): Promise<void> {
    const producer = await this.connect();
    for (const slice of slicesOf(messages, maxSendBytes)) {
      await producer.send({ topic: this.options.topic, acks: -1, compression: CompressionTypes.None, messages: slice });
    }
  }

  private async discardProducer(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    await producer?.disconnect().catch(() => undefined);
  }
}

/** Payload bytes per send: under the broker's default record batch limit (1 MiB + 12 bytes), with room for record overhead. */
export const maxSendBytes = 900 * 1024;

/** Consecutive slices whose keys, values and headers add up to at most maxBytes each (a larger message goes alone). */
export function slicesOf(messages: readonly OutgoingMessage[], maxBytes: number): OutgoingMessage[][] {
  // Most sends are far under the limit: a bound that needs no encoding spares measuring each message.
  if (upperBoundBytes(messages) <= maxBytes) return [[...messages]];
  const slices: OutgoingMessage[][] = [];
  let current: OutgoingMessage[] = [];
  let bytes = 0;
  for (const message of messages) {
    const size = messageBytes(message);
    if (current.length > 0 && bytes + size > maxBytes) {
      slices.push(current);
      current = [];
      bytes = 0;
    }
    current.push(message);
    bytes += size;
  }
  if (current.length > 0) slices.push(current);
  return slices;
}

function messageBytes(message: OutgoingMessage): number {
  const headers = Object.entries(message.headers ?? {}).reduce((sum, [name, value]) => sum + Buffer.byteLength(name) + Buffer.byteLength(value), 0);
  return Buffer.byteLength(message.key) + (typeof message.value === 'string' ? Buffer.byteLength(message.value) : message.value.length) + headers + 32;
}

/** At least messageBytes' sum: a UTF-16 code unit is at most 3 bytes of UTF-8. */
function upperBoundBytes(messages: readonly OutgoingMessage[]): number {
  let units = 0;
  for (const message of messages) {
    units += 3 * message.key.length + (typeof message.value === 'string' ? 3 * message.value.length : message.value.length) + 32;
    const headers = message.headers;
    if (headers === undefined) continue;
    for (const name in headers) units += 3 * (name.length + (headers[name]?.length ?? 0));
  }
  return units;
}
