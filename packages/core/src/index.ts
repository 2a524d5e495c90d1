export * from './errors';
export * from './logger';
export * from './backoff';
export * from './config';
export * from './bus';
export * from './topics';
export * from './lifecycle';
export * from './one-at-a-time';
