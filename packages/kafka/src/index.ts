export * from './kafka-bus';
export * from './broker-probe';
export * from './threaded-publisher';
export * from './murmur2-partitioner';
