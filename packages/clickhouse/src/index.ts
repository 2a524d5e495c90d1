export * from './clickhouse';
export * from './migrations';
export * from './errors';
export * from './chdb-http';
export * from './analyst-users';
export { analystSessionDefaults, checkThreadsForAnalysts } from './analyst-sessions';
export * from './analysts-cli';
