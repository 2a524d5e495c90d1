// kafkajs's table of produce request versions, which it looks up on every send (produce-request.ts
// replaces the encoding there). kafkajs ships no types for its internals; these are the parts used.
declare module 'kafkajs/src/protocol/requests/produce' {
  type Bytes = string | Buffer;

  export interface ProduceMessage {
    key?: Bytes | null;
    value?: Bytes | null;
    headers?: Record<string, Bytes | Bytes[] | undefined>;
    timestamp?: string | number | null;
  }

  export interface ProduceArguments {
    acks: number;
    timeout: number;
    compression?: number;
    transactionalId?: string | null;
    /** A string once kafkajs has a producer id from the broker; kafkajs's Long (a bigint inside) by default. */
    producerId?: string | number | { value: bigint };
    producerEpoch?: number;
    topicData: Array<{ topic: string; partitions: Array<{ partition: number; firstSequence?: number; messages: ProduceMessage[] }> }>;
  }

  export interface ProduceRequest {
    request: { apiKey: number; apiVersion: number; apiName: string; encode(): Promise<unknown>; expectResponse(): boolean };
    response: unknown;
  }

  const produceRequests: {
    protocol(this: void, which: { version: number }): (args: ProduceArguments) => ProduceRequest;
  };
  export default produceRequests;
}
