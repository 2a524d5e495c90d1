import { SluiceError, type OutgoingMessage } from '@sluice/core';
import { envelopeMessage, formatIssues, oversizeReason, validateEnvelope, type Envelope } from '@sluice/envelope';

/**
 * The message for the envelope a dialect produced, checked before it is published: what a dialect
 * accepts but cannot be stored (a revenue beyond the largest double, or an envelope over the size
 * of one stored event) is refused now, instead of being acknowledged and dead-lettered later.
 */
export function checkedMessage(envelope: Envelope): OutgoingMessage {
  const result = validateEnvelope(envelope);
  if (!result.ok) throw new SluiceError('INVALID_EVENT', `The event cannot be stored: ${formatIssues(result.issues)}`, { field: result.issues[0]?.path });
  const message = envelopeMessage(envelope);
  const tooLarge = oversizeReason(message);
  if (tooLarge !== undefined) throw new SluiceError('PAYLOAD_TOO_LARGE', tooLarge);
  return message;
}
