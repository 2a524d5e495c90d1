import { SluiceError, maxEnvelopeBytes, type OutgoingMessage } from '@sluice/core';
import { envelopeContentType, envelopeKey, formatIssues, validateEnvelope, type Envelope } from '@sluice/envelope';

/**
 * The envelope a dialect produced, checked against the envelope schema before it is published:
 * what a dialect accepts but cannot be stored (a revenue beyond the largest double, say) is
 * refused now, with a 400, instead of being acknowledged and dead-lettered later.
 */
export function checkedEnvelope(envelope: Envelope): Envelope {
  const result = validateEnvelope(envelope);
  if (!result.ok) throw new SluiceError('INVALID_EVENT', `The event cannot be stored: ${formatIssues(result.issues)}`, { field: result.issues[0]?.path });
  const tooLarge = oversizeMessage(envelope);
  if (tooLarge !== undefined) throw new SluiceError('PAYLOAD_TOO_LARGE', tooLarge);
  return envelope;
}

/**
 * Why the envelope is too large to store, or undefined. The envelope holds the body again as raw
 * (and Trieve metadata once more as properties), so a body under the body limit can still make an
 * envelope over the limit of one Kafka message; it is refused here rather than sent to fail.
 */
export function oversizeMessage(envelope: Envelope): string | undefined {
  const bytes = Buffer.byteLength(JSON.stringify(envelope));
  return bytes > maxEnvelopeBytes ? `The event is ${bytes} bytes once normalised (the body is kept whole as raw), over the ${maxEnvelopeBytes}-byte limit of one stored event` : undefined;
}

/** The Kafka message for one envelope: the key pins an insert_id to one partition. */
export function toMessage(envelope: Envelope): OutgoingMessage {
  return {
    key: envelopeKey(envelope),
    value: JSON.stringify(envelope),
    headers: { 'content-type': envelopeContentType, source: envelope.source },
  };
}
