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

// kafkajs's table of fetch request versions, also looked up on every fetch (fetch-response.ts
// replaces the decoding of version 11's response there), and the parts of its decoding it uses.
declare module 'kafkajs/src/protocol/requests/fetch/v11/response' {
  export interface FetchRecordBatchContext {
    firstOffset: string;
    firstTimestamp: string;
    partitionLeaderEpoch: number;
    inTransaction: boolean;
    isControlBatch: boolean;
    lastOffsetDelta: number;
    producerId: string;
    producerEpoch: number;
    firstSequence: number;
    maxTimestamp: string;
    timestampType: number;
    magicByte: number;
  }

  export interface FetchRecord {
    magicByte: number;
    attributes: number;
    timestamp: string;
    offset: string;
    key: Buffer | null;
    value: Buffer | null;
    headers: Record<string, Buffer | null | Array<Buffer | null>>;
    isControlRecord: boolean;
    batchContext: FetchRecordBatchContext;
  }

  export interface FetchPartition {
    partition: number;
    errorCode: number;
    highWatermark: string;
    lastStableOffset: string;
    lastStartOffset: string;
    abortedTransactions: Array<{ producerId: string; firstOffset: string }>;
    preferredReadReplica: number;
    messages: FetchRecord[];
  }

  export interface FetchResponse {
    throttleTime: number;
    clientSideThrottleTime: number;
    errorCode: number;
    sessionId: number;
    responses: Array<{ topicName: string | null; partitions: FetchPartition[] }>;
  }

  export interface FetchResponseDecoder {
    decode(this: void, bytes: Buffer): Promise<FetchResponse>;
    parse(this: void, response: FetchResponse): Promise<unknown>;
  }

  const response: FetchResponseDecoder;
  export default response;
}

declare module 'kafkajs/src/protocol/requests/fetch' {
  import type { FetchResponseDecoder } from 'kafkajs/src/protocol/requests/fetch/v11/response';

  export interface FetchRequest {
    request: unknown;
    response: FetchResponseDecoder;
    requestTimeout: number;
  }

  const fetchRequests: {
    protocol(this: void, which: { version: number | string }): (args: unknown) => FetchRequest;
  };
  export default fetchRequests;
}

declare module 'kafkajs/src/protocol/decoder' {
  export default class Decoder {
    constructor(buffer: Buffer);
    buffer: Buffer;
    offset: number;
    readVarInt(): number;
    readVarIntArray<T>(reader: (decoder: Decoder) => T): T[];
  }
}

declare module 'kafkajs/src/protocol/recordBatch/v0/decoder' {
  import type Decoder from 'kafkajs/src/protocol/decoder';
  import type { FetchRecord } from 'kafkajs/src/protocol/requests/fetch/v11/response';

  export default function decodeRecordBatch(decoder: Decoder): Promise<{ records: FetchRecord[] }>;
}
