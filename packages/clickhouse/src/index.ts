export * from './clickhouse';
export * from './migrations';
export * from './errors';
export * from './chdb-http';
export { checkThreadsForAnalysts } from './analyst-sessions';
