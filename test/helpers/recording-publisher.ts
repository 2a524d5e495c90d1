/**
 * A stand-in for Kafka in the gateway's unit tests, which are about HTTP and not about Kafka (the
 * integration tests use the real broker): it acknowledges every publish and keeps the messages.
 */
import type { EventPublisher, OutgoingMessage } from '@sluice/core';

export interface RecordingPublisher {
  publisher: EventPublisher;
  /** Every message acknowledged so far, in order; empty it between tests. */
  published: OutgoingMessage[];
}

export function recordingPublisher(): RecordingPublisher {
  const published: OutgoingMessage[] = [];
  const publisher: EventPublisher = {
    publish: (messages) => {
      published.push(...messages);
      return Promise.resolve();
    },
    isConnected: () => true,
    close: () => Promise.resolve(),
  };
  return { publisher, published };
}
