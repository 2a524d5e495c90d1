import { extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { SluiceError, errorCatalogue, errorMessage, type ErrorCode, type EventPublisher, type Logger, type OutgoingMessage } from '@sluice/core';
import type { GroupCommitOptions } from './group-commit-publisher';
import { columnsOf, type PublishColumns } from './publish-columns';
import type { KafkaBusOptions } from './kafka-bus';

/** What the publisher thread is started with: the bus and the (inline) publisher it builds, as plain data. */
export interface PublisherThreadSetup {
  bus: Omit<KafkaBusOptions, 'logger'>;
  publisher: GroupCommitOptions;
}

/** A refusal as it crosses between threads: a SluiceError's code and message. */
export interface Refusal {
  code: string;
  message: string;
}

export type ToPublisherThread = { kind: 'publish'; columns: PublishColumns } | { kind: 'close' };

export type FromPublisherThread =
  | { kind: 'ready' }
  | { kind: 'failed'; message: string }
  | { kind: 'settled'; outcomes: [id: number, refusal: Refusal | undefined][]; connected: boolean }
  | { kind: 'log'; level: 'debug' | 'info' | 'warn' | 'error'; message: string; fields: Record<string, unknown> | undefined }
  | { kind: 'closed' };

interface Waiting {
  resolve: () => void;
  reject: (error: Error) => void;
  /** The thread it was handed to; none while it waits for the turn's postMessage. */
  thread?: Worker;
}

/** The compiled entry beside this file, or the TypeScript source when the sources run (tests). */
const threadEntry = join(__dirname, `publisher-thread${extname(__filename)}`);

/**
 * A Kafka publisher on a thread of its own. kafkajs encodes every record in JavaScript: for the
 * gateway's batches it took 60% of the CPU of the thread serving HTTP, which was bound by one core
 * while the next batch waited on Kafka's encoding. Here the HTTP thread hands each turn's
 * messages over in one postMessage and the thread runs the same GroupCommitPublisher
 * (group commit, one idempotent send in flight, timeouts), answering each publish only once Kafka
 * acknowledged it. A thread that dies refuses what it held as KAFKA_UNAVAILABLE (it may have
 * reached Kafka, like any unacknowledged send) and the next publish starts a new one.
 */
export class ThreadedPublisher implements EventPublisher {
  private thread: Worker | undefined;
  private readonly waiting = new Map<number, Waiting>();
  private outbox: [number, readonly OutgoingMessage[]][] = [];
  private flushScheduled = false;
  private nextId = 1;
  private connected = false;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly setup: PublisherThreadSetup,
    private readonly logger: Logger,
  ) {}

  /** Starts the thread and waits until its producer has connected, as the inline publisher does. */
  static async start(setup: PublisherThreadSetup, logger: Logger): Promise<ThreadedPublisher> {
    const publisher = new ThreadedPublisher(setup, logger);
    await publisher.startThread().ready;
    return publisher;
  }

  publish(messages: readonly OutgoingMessage[]): Promise<void> {
    if (this.closing) return Promise.reject(new SluiceError('SHUTTING_DOWN', 'The gateway is shutting down'));
    if (messages.length === 0) return Promise.resolve();
    const id = this.nextId++;
    this.outbox.push([id, messages]);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // One postMessage per event-loop turn carries every publish of that turn.
      setImmediate(() => this.flush());
    }
    return new Promise<void>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
  }

  isConnected(): boolean {
    return this.connected && this.thread !== undefined && this.closing === undefined;
  }

  close(): Promise<void> {
    this.closing ??= this.closeThread();
    return this.closing;
  }

  private async closeThread(): Promise<void> {
    this.flush();
    const thread = this.thread;
    if (thread === undefined) return;
    // The thread sends what it holds, waits for Kafka's acknowledgements, then says it closed.
    const closed = new Promise<void>((resolve) => thread.once('exit', () => resolve()));
    thread.postMessage({ kind: 'close' } satisfies ToPublisherThread);
    await closed;
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.outbox.length === 0) return;
    const publishes = this.outbox;
    this.outbox = [];
    // After a crash, a new thread: it takes these once its producer has connected.
    const thread = this.thread ?? this.startThread().thread;
    for (const [id] of publishes) {
      const waiting = this.waiting.get(id);
      if (waiting !== undefined) waiting.thread = thread;
    }
    thread.postMessage({ kind: 'publish', columns: columnsOf(publishes) } satisfies ToPublisherThread);
  }

  /** Stops the thread as a crash would, leaving what it held unanswered by Kafka (tests). */
  async stopThreadAsACrashWould(): Promise<void> {
    await this.thread?.terminate();
  }

  /** Starts a thread and makes it this.thread; `ready` resolves once its producer has connected. */
  private startThread(): { thread: Worker; ready: Promise<void> } {
    const thread = threadEntry.endsWith('.ts')
      ? // The sources (tests) run under tsx: its require hook, registered in the thread, loads them there.
        new Worker(`require(${JSON.stringify(require.resolve('tsx/cjs'))}); require(${JSON.stringify(threadEntry)});`, { eval: true, workerData: this.setup })
      : new Worker(threadEntry, { workerData: this.setup });
    this.thread = thread;
    const ready = new Promise<void>((resolve, reject) => {
      let started = false;
      thread.on('message', (message: FromPublisherThread) => {
        switch (message.kind) {
          case 'ready':
            started = true;
            this.connected = true;
            resolve();
            break;
          case 'failed':
            reject(new SluiceError('KAFKA_UNAVAILABLE', `Kafka publisher could not connect: ${message.message}`));
            break;
          case 'settled':
            this.connected = message.connected;
            for (const [id, refusal] of message.outcomes) this.settle(id, refusal);
            break;
          case 'log':
            this.logger[message.level](message.message, message.fields);
            break;
          case 'closed':
            break;
        }
      });
      thread.on('error', (error) => this.logger.error('Kafka publisher thread failed', { error: errorMessage(error) }));
      thread.on('exit', (exitCode) => {
        if (this.thread === thread) this.thread = undefined;
        this.connected = false;
        // Whatever it still held was not acknowledged: refuse it, as a failed send is.
        const held = [...this.waiting].flatMap(([id, waiting]) => (waiting.thread === thread ? [id] : []));
        if (held.length > 0) this.refuse(held, `the Kafka publisher thread stopped (exit code ${exitCode})`);
        if (started && this.closing === undefined) this.logger.error('Kafka publisher thread stopped; the next publish starts another', { exitCode, refused: held.length });
        if (!started) reject(new SluiceError('KAFKA_UNAVAILABLE', `Kafka publisher thread stopped before it connected (exit code ${exitCode})`));
      });
    });
    // A thread started after a crash is not awaited: its refusals reach the publishes it was given.
    ready.catch(() => undefined);
    return { thread, ready };
  }

  private settle(id: number, refusal: Refusal | undefined): void {
    const waiting = this.waiting.get(id);
    if (waiting === undefined) return;
    this.waiting.delete(id);
    if (refusal === undefined) waiting.resolve();
    else waiting.reject(new SluiceError(isErrorCode(refusal.code) ? refusal.code : 'KAFKA_UNAVAILABLE', refusal.message));
  }

  private refuse(ids: readonly number[], reason: string): void {
    for (const id of ids) this.settle(id, { code: 'KAFKA_UNAVAILABLE', message: `Kafka did not acknowledge the event: ${reason}` });
  }
}

/**
 * Publishes of at least `threadFrom` messages go to the threaded publisher, smaller ones to the
 * inline one. For a single event the hop between threads costs more than its encoding saves: with
 * every single event on the thread the gateway's CPU per request rose from 129 to 185 µs, its sends
 * to Kafka got smaller and more frequent, and its throughput fell about 12% against the baselines.
 */
export class SizeRoutedPublisher implements EventPublisher {
  constructor(
    private readonly inline: EventPublisher,
    private readonly threaded: EventPublisher,
    private readonly threadFrom: number,
  ) {}

  publish(messages: readonly OutgoingMessage[]): Promise<void> {
    return messages.length >= this.threadFrom ? this.threaded.publish(messages) : this.inline.publish(messages);
  }

  isConnected(): boolean {
    return this.inline.isConnected() && this.threaded.isConnected();
  }

  async close(): Promise<void> {
    await Promise.all([this.inline.close(), this.threaded.close()]);
  }
}

function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(errorCatalogue, code);
}
