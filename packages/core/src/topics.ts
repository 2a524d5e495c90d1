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
};
