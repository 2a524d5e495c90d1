import { randomUUID } from 'node:crypto';
import { SluiceError, silentLogger, type Logger, type OutgoingMessage } from '@sluice/core';
import { checkEnvelope, envelopeMessage, formatIssues, oversizeReason, type Envelope } from '@sluice/envelope';
import { createKafkaBus } from '@sluice/kafka';

/**
 * The typed helper for Kafka-native producers: it writes canonical envelopes onto the events
 * topic exactly as the gateway does (README, "Kafka-native producers"): every envelope checked
 * against schemas/envelope.v1.json and the 1 MiB limit before anything is sent, and keyed
 * <dataset_id>/<insert_id> so that deduplication holds.
 */
export interface NativeProducerOptions {
  brokers: string[];
  /** The events topic; `events` by default. */
  topic?: string;
  clientId?: string;
  logger?: Logger;
}

export interface NativeProducer {
  /** Resolves once Kafka has acknowledged every envelope; rejects, sending nothing, if any is invalid. */
  send(envelopes: readonly Envelope[]): Promise<void>;
  close(): Promise<void>;
}

/** What a producer must say; the rest of the envelope gets the gateway's defaults. */
export type EnvelopeFields = Omit<Envelope, 'schema_version' | 'event_id' | 'insert_id' | 'source' | 'event_name' | 'occurred_at' | 'received_at'> &
  Partial<Pick<Envelope, 'event_id' | 'insert_id' | 'event_name' | 'occurred_at' | 'received_at'>>;

/** An envelope with a fresh event_id, insert_id = event_id, times = now and source "native", unless given. */
export function buildEnvelope(fields: EnvelopeFields, now = Date.now()): Envelope {
  const eventId = fields.event_id ?? randomUUID();
  return {
    schema_version: 1,
    event_id: eventId,
    insert_id: fields.insert_id ?? eventId,
    source: 'native',
    event_name: fields.event_name ?? fields.event_type,
    occurred_at: fields.occurred_at ?? now,
    received_at: fields.received_at ?? now,
    ...fields,
  };
}

/**
 * The messages for envelopes, each checked against the envelope schema and the size of one stored
 * event; throws INVALID_EVENT naming every problem, so that nothing of an invalid batch is sent.
 * The caller's envelopes are left as they were.
 */
export function checkedMessages(envelopes: readonly Envelope[]): OutgoingMessage[] {
  const problems: string[] = [];
  const messages = envelopes.map((envelope, i) => {
    const result = checkEnvelope(envelope);
    if (!result.ok) problems.push(`envelopes[${i}]: ${formatIssues(result.issues)}`);
    const message = envelopeMessage(envelope);
    const tooLarge = oversizeReason(message);
    if (tooLarge !== undefined) problems.push(`envelopes[${i}]: ${tooLarge}`);
    return message;
  });
  if (problems.length > 0) throw new SluiceError('INVALID_EVENT', `Nothing was sent: ${problems.join('; ')}`);
  return messages;
}

export async function createNativeProducer(options: NativeProducerOptions): Promise<NativeProducer> {
  const bus = createKafkaBus({ brokers: options.brokers, clientId: options.clientId ?? 'sluice-native-producer', logger: options.logger ?? silentLogger });
  const publisher = await bus.createPublisher({ topic: options.topic ?? 'events' });
  return {
    async send(envelopes) {
      await publisher.publish(checkedMessages(envelopes));
    },
    async close() {
      await publisher.close();
    },
  };
}
