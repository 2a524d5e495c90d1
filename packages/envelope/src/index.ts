export * from './validation';
export * from './envelope';
export * from './dialects/trieve-events';
