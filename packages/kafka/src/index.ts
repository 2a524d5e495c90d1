export * from './kafka-bus';
export * from './local-broker';
