export * from './kafka-bus';
export * from './broker-probe';
export * from './threaded-publisher';
