// The worker's public entry: the pieces tests, scripts and the bench assemble a worker from. The
// process itself starts from main.ts.
export { createBatchHandler, type BatchHandlerDeps, type WorkerStats } from './batch-handler';
export { createStoredKeys } from './stored-keys';
export { createFilteredStoredKeys, filterHash, filterText } from './key-filter';
export { createDeadLetterSink } from './dead-letters';
export { createBlockLog, jointToken, type BlockLog } from './insert-blocks';
export { createWorkerState, type WorkerState } from './worker-state';
export { toEventRow, type EventRow } from './event-row';
export { decideSample, parseSamplingRules, samplePoint, type SamplingRules } from './sampling';
export { createPartitionProgress } from './partition-progress';
export { createReplayer, replayShards } from './replay';
export { createPlacement, placedInserts, placedWorkerState, type Placement } from './placement';
export { createValidateEnvelopeStep } from './steps/validate-envelope';
export { ok, type StepResult } from './steps/step-result';
