export * from './clickhouse';
export * from './migrations';
export * from './errors';
