export * from './kafka-bus';
export * from './broker-probe';
