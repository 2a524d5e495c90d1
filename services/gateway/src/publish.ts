import { SluiceError, type OutgoingMessage } from '@sluice/core';
import { envelopeContentType, envelopeKey, formatIssues, validateEnvelope, type Envelope } from '@sluice/envelope';

/**
 * The envelope a dialect produced, checked against the envelope schema before it is published:
 * what a dialect accepts but cannot be stored (a revenue beyond the largest double, say) is
 * refused now, with a 400, instead of being acknowledged and dead-lettered later.
 */
export function checkedEnvelope(envelope: Envelope): Envelope {
  const result = validateEnvelope(envelope);
  if (!result.ok) throw new SluiceError('INVALID_EVENT', `The event cannot be stored: ${formatIssues(result.issues)}`, { field: result.issues[0]?.path });
  return envelope;
}

/** The Kafka message for one envelope: the key pins an insert_id to one partition. */
export function toMessage(envelope: Envelope): OutgoingMessage {
  return {
    key: envelopeKey(envelope),
    value: JSON.stringify(envelope),
    headers: { 'content-type': envelopeContentType, source: envelope.source },
  };
}
