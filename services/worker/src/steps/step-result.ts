/**
 * What a pipeline step decides about one message. Steps return an outcome instead of
 * throwing, and one place (the pipeline) acts on it and counts it by step.
 */
export type StepResult<T> =
  | { kind: 'ok'; value: T }
  | { kind: 'drop'; reason: string }
  | { kind: 'dlq'; reason: string }
  | { kind: 'retry'; reason: string };

export const ok = <T>(value: T): StepResult<T> => ({ kind: 'ok', value });
export const drop = (reason: string): StepResult<never> => ({ kind: 'drop', reason });
export const deadLetter = (reason: string): StepResult<never> => ({ kind: 'dlq', reason });
