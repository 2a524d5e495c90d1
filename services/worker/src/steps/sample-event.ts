import type { Envelope } from '@sluice/envelope';
import { decideSample, type SamplingRules } from '../sampling';
import { drop, ok, type StepResult } from './step-result';

/**
 * Keeps or drops the event by its deterministic sample decision. A kept event's value is the rate
 * its row records; the envelope is not copied with it, which cost more than the decision.
 */
export function createSampleEventStep(deps: { rules: SamplingRules }) {
  return function sampleEventStep(envelope: Envelope): StepResult<number> {
    const decision = decideSample(envelope, deps.rules);
    return decision.keep ? ok(decision.rate) : drop(`sampled out at rate ${decision.rate}`);
  };
}
