import { parsers, type Setting } from './config';

/** Kafka settings shared by the gateway, the worker and the tools. */
export const kafkaSettings = {
  KAFKA_BROKERS: { parse: parsers.hostPortList, default: ['127.0.0.1:9092'], description: 'Kafka bootstrap servers, host:port[,host:port]' } as Setting<string[]>,
  KAFKA_TOPIC: { parse: parsers.nonEmpty, default: 'events', description: 'Topic that carries canonical envelopes' } as Setting<string>,
  KAFKA_TOPIC_PARTITIONS: {
    parse: parsers.positiveInt,
    default: 6,
    description: 'Partitions of the events topic when the project creates it; the ceiling on parallel workers',
  } as Setting<number>,
  KAFKA_TOPIC_REPLICATION_FACTOR: {
    parse: parsers.nonNegativeInt,
    default: 0,
    description: "Replication factor of the topics when the project creates them, with min.insync.replicas one less (at least 1); 0: the brokers' default.replication.factor and min.insync.replicas",
  } as Setting<number>,
};

/** The largest canonical envelope, in JSON bytes: the limit of one stored event (schemas/envelope.v1.json). */
export const maxEnvelopeBytes = 1024 * 1024;

/**
 * Broker-side settings of the events topic when the project creates it: a record batch may hold one
 * largest envelope with its key, headers and batch overhead (the broker's default is 1 MiB + 12 bytes).
 */
export const eventsTopicConfig: Record<string, string> = { 'max.message.bytes': String(2 * maxEnvelopeBytes) };

/**
 * min.insync.replicas for a replication factor: with acks from all in-sync replicas, an
 * acknowledged event is on at least this many brokers, and writes go on with one broker lost.
 */
export function minInsyncReplicasFor(replicationFactor: number): number {
  return Math.max(1, replicationFactor - 1);
}

