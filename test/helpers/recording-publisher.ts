/**
 * A stand-in for Kafka in the gateway's unit tests, which are about HTTP and not about Kafka (the
 * integration tests use the real broker): it acknowledges every publish and keeps the messages,
 * unless `failure` is set, which it then refuses with.
 */
import type { EventPublisher, OutgoingMessage, SluiceError } from '@sluice/core';

export interface RecordingPublisher {
  publisher: EventPublisher;
  /** Every message acknowledged so far, in order; empty it between tests. */
  published: OutgoingMessage[];
  /** Set: every publish is refused with it (Kafka down, say). */
  failure: SluiceError | undefined;
}

export function recordingPublisher(): RecordingPublisher {
  const recording: RecordingPublisher = {
    publisher: {
      publish: (messages) => {
        if (recording.failure !== undefined) return Promise.reject(recording.failure);
        recording.published.push(...messages);
        return Promise.resolve();
      },
      isConnected: () => true,
      close: () => Promise.resolve(),
    },
    published: [],
    failure: undefined,
  };
  return recording;
}
