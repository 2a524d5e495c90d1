import { SluiceError, type EventPublisher, type IndexedInsertId, type OutgoingMessage } from '@sluice/core';
import { envelopeMessage, formatIssues, oversizeReason, validateDialectEnvelope, type Envelope } from '@sluice/envelope';
import type { GatewayMetrics } from '../metrics';

/**
 * The message for the envelope a dialect produced, checked before it is published: what a dialect
 * accepts but cannot be stored (a revenue beyond the largest double, or an envelope over the size
 * of one stored event) is refused now, instead of being acknowledged and dead-lettered later. The
 * rest of the envelope is valid by construction (validateDialectEnvelope).
 */
export function checkedMessage(envelope: Envelope): OutgoingMessage {
  const result = validateDialectEnvelope(envelope);
  if (!result.ok) throw new SluiceError('INVALID_EVENT', `The event cannot be stored: ${formatIssues(result.issues)}`, { field: result.issues[0]?.path });
  const message = envelopeMessage(envelope);
  const tooLarge = oversizeReason(message);
  if (tooLarge !== undefined) throw new SluiceError('PAYLOAD_TOO_LARGE', tooLarge);
  return message;
}

/**
 * Publishes and waits for Kafka's acknowledgement. KAFKA_UNAVAILABLE is ambiguous (a send that
 * timed out may still land), so that refusal names `insertIds`: a retry that reuses them is stored
 * once, by the worker's dedup. Not an async function: its frame would hold `messages` until Kafka
 * answers, and the publisher lets go of them once they are handed on.
 */
export function publish(
  deps: { publisher: EventPublisher; metrics: Pick<GatewayMetrics, 'publishLatency'> },
  messages: OutgoingMessage[],
  insertIds: readonly IndexedInsertId[],
): Promise<void> {
  const stopTimer = deps.metrics.publishLatency.startTimer();
  let publishing: Promise<void>;
  try {
    publishing = deps.publisher.publish(messages);
  } catch (error) {
    publishing = Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
  return publishing.then(
    () => void stopTimer(),
    (error: unknown) => {
      stopTimer();
      if (error instanceof SluiceError && error.code === 'KAFKA_UNAVAILABLE' && insertIds.length > 0) throw error.withInsertIds(insertIds);
      throw error;
    },
  );
}
