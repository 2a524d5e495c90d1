import { envelopeContentType, envelopeKey, type Envelope } from '@sluice/envelope';
import type { OutgoingMessage } from '@sluice/core';

/** The Kafka message for one envelope: the key pins an insert_id to one partition. */
export function toMessage(envelope: Envelope): OutgoingMessage {
  return {
    key: envelopeKey(envelope),
    value: JSON.stringify(envelope),
    headers: { 'content-type': envelopeContentType, source: envelope.source },
  };
}
