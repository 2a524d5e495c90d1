import type { ConsumedMessage, EventPublisher } from '@sluice/core';
import type { ClickHouse } from '@sluice/clickhouse';

/** A message the worker can never store: the step that refused it, why, and the message as consumed. */
export interface DeadLetter {
  step: string;
  reason: string;
  message: ConsumedMessage;
  /** What is known of the event's identity, for finding it later; empty when the message did not parse. */
  datasetId: string;
  insertId: string;
}

/** Where dead letters go before the batch's offsets are committed. Resolves once they are safe. */
export interface DeadLetterSink {
  store(deadLetters: readonly DeadLetter[]): Promise<void>;
}

export const deadLetterHeaders = {
  step: 'sluice-step',
  reason: 'sluice-reason',
  topic: 'sluice-topic',
  partition: 'sluice-partition',
  offset: 'sluice-offset',
} as const;

/**
 * A string ClickHouse can take: what a dead letter says of a message comes from the message, and
 * a lone surrogate in it would make ClickHouse refuse the dead letter itself.
 */
const storable = (text: string): string => text.toWellFormed();

/** The longest value republished to the dead-letter topic; the full bytes are always in events_rejected. */
const maxDeadLetterTopicBytes = 512 * 1024;

/**
 * Dead letters go to the dead-letter topic (for whoever consumes it) and to the events_rejected
 * table (for analysts and for `npm run replay`), both before the offset is committed, so a
 * poison message is never lost and never stalls the partition.
 */
export function createDeadLetterSink(deps: { publisher: EventPublisher; clickhouse: Pick<ClickHouse, 'insertRows'> }): DeadLetterSink {
  return {
    async store(deadLetters) {
      if (deadLetters.length === 0) return;
      await deps.publisher.publish(
        deadLetters.map(({ step, reason, message }) => {
          const value = message.value ?? Buffer.alloc(0);
          const truncated = value.length > maxDeadLetterTopicBytes;
          return {
            key: message.key?.toString('utf8') ?? '',
            value: truncated ? value.subarray(0, maxDeadLetterTopicBytes) : value,
            headers: {
              ...message.headers,
              [deadLetterHeaders.step]: step,
              [deadLetterHeaders.reason]: storable(reason.slice(0, 1000)),
              [deadLetterHeaders.topic]: message.topic,
              [deadLetterHeaders.partition]: String(message.partition),
              [deadLetterHeaders.offset]: message.offset,
              ...(truncated ? { 'sluice-truncated-from-bytes': String(value.length) } : {}),
            },
          };
        }),
      );
      await deps.clickhouse.insertRows(
        'events_rejected',
        deadLetters.map(({ step, reason, message, datasetId, insertId }) => ({
          kafka_topic: message.topic,
          kafka_partition: message.partition,
          kafka_offset: message.offset,
          kafka_key: message.key?.toString('utf8') ?? '',
          step,
          reason: storable(reason),
          dataset_id: storable(datasetId),
          insert_id: storable(insertId),
          raw_bytes: message.value?.length ?? 0,
          raw_base64: message.value?.toString('base64') ?? '',
        })),
      );
    },
  };
}
