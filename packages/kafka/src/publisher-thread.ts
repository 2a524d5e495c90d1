/**
 * The publisher thread's entry (see threaded-publisher.ts): it builds the same GroupCommitPublisher
 * the HTTP thread would, publishes what it is handed, and answers each publish once Kafka
 * acknowledged or refused it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SluiceError, errorMessage, type EventPublisher, type Logger } from '@sluice/core';
import { createKafkaBus } from './kafka-bus';
import { publishesOf } from './publish-columns';
import type { FromPublisherThread, PublisherThreadSetup, Refusal, ToPublisherThread } from './threaded-publisher';

const port = parentPort;
if (port === null) throw new Error('publisher-thread is started by ThreadedPublisher, as a worker thread');
const setup = workerData as PublisherThreadSetup;

function post(message: FromPublisherThread): void {
  port?.postMessage(message);
}

/** Log records go to the HTTP thread's logger; their fields as JSON, since some cannot be cloned. */
function forwardingLogger(): Logger {
  const forward =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (message: string, fields?: Record<string, unknown>): void =>
      post({ kind: 'log', level, message, fields: fields === undefined ? undefined : (JSON.parse(JSON.stringify(fields)) as Record<string, unknown>) });
  const logger: Logger = { debug: forward('debug'), info: forward('info'), warn: forward('warn'), error: forward('error'), child: () => logger };
  return logger;
}

function refusalOf(error: unknown): Refusal {
  return error instanceof SluiceError ? { code: error.code, message: error.message } : { code: 'KAFKA_UNAVAILABLE', message: `Kafka did not acknowledge the event: ${errorMessage(error)}` };
}

async function run(): Promise<void> {
  let publisher: EventPublisher;
  try {
    publisher = await createKafkaBus({ ...setup.bus, logger: forwardingLogger() }).createPublisher(setup.publisher);
  } catch (error) {
    post({ kind: 'failed', message: errorMessage(error) });
    port?.close();
    return;
  }
  let outcomes: [number, Refusal | undefined][] = [];
  const sendOutcomes = (): void => {
    post({ kind: 'settled', outcomes, connected: publisher.isConnected() });
    outcomes = [];
  };
  const settled = (id: number, refusal: Refusal | undefined): void => {
    // Answers of one event-loop turn go back in one message.
    if (outcomes.length === 0) setImmediate(sendOutcomes);
    outcomes.push([id, refusal]);
  };
  port?.on('message', (message: ToPublisherThread) => {
    if (message.kind === 'close') {
      void close(publisher);
      return;
    }
    for (const [id, messages] of publishesOf(message.columns)) {
      publisher.publish(messages).then(
        () => settled(id, undefined),
        (error: unknown) => settled(id, refusalOf(error)),
      );
    }
  });
  post({ kind: 'ready' });
}

/** Sends what it holds, waits for Kafka, and answers every publish before it says it closed. */
async function close(publisher: EventPublisher): Promise<void> {
  await publisher.close().catch((error: unknown) => post({ kind: 'log', level: 'warn', message: 'Kafka publisher did not close cleanly', fields: { error: errorMessage(error) } }));
  // The last publishes' answers go out on the next turn (settled): it comes first.
  await new Promise((resolve) => setImmediate(resolve));
  post({ kind: 'closed' });
  port?.close();
}

void run();
