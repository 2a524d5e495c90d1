export * from './validation';
export * from './envelope';
export * from './column-domains';
export * from './dialects/common';
export * from './dialects/trieve-events';
export * from './dialects/trieve-ctr';
export * from './dialects/neuralens';
export * from './dialects/greenflash';
export type { AnalystsAnalyst, AnalystsFile, BeaconBody } from './generated/schema-types';
