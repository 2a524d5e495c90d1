import type { Envelope } from '@sluice/envelope';
import { decideSample, type SamplingRules } from '../sampling';
import { drop, ok, type StepResult } from './step-result';

/** Keeps or drops the event by its deterministic sample decision; a kept event records its rate. */
export function createSampleEventStep(deps: { rules: SamplingRules }) {
  return function sampleEventStep(envelope: Envelope): StepResult<Envelope> {
    const decision = decideSample(envelope, deps.rules);
    return decision.keep ? ok({ ...envelope, sample_rate: decision.rate }) : drop(`sampled out at rate ${decision.rate}`);
  };
}
