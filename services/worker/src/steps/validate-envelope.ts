import { formatIssues, validateEnvelope, type Envelope } from '@sluice/envelope';
import { deadLetter, ok, type StepResult } from './step-result';

/** Kafka-native producers bypass the gateway, so every envelope is checked against its schema here. */
export function createValidateEnvelopeStep() {
  return function validateEnvelopeStep(value: unknown): StepResult<Envelope> {
    const result = validateEnvelope(value);
    return result.ok ? ok(result.value) : deadLetter(`the envelope does not match schemas/envelope.v1.json: ${formatIssues(result.issues)}`);
  };
}
