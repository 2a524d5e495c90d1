import { envelopeKey, type Envelope } from '@sluice/envelope';
import { drop, ok, type StepResult } from './step-result';

/** Says which of the given (dataset_id, insert_id) keys are already stored within the dedup window. */
export interface StoredKeys {
  storedAmong(keys: readonly Pick<Envelope, 'dataset_id' | 'insert_id'>[]): Promise<Set<string>>;
}

/**
 * Drops an event whose (dataset_id, insert_id) is already stored, or appeared earlier in the same
 * batch. Exact without any lock because the message key is envelopeKey, so every copy of an
 * event lands on one partition, and a partition's batches are stored one after the other.
 */
export function createDeduplicateStep(deps: { storedKeys: StoredKeys }) {
  return async function deduplicateStep(envelopes: readonly Envelope[]): Promise<StepResult<Envelope>[]> {
    const stored = await deps.storedKeys.storedAmong(envelopes);
    const seen = new Set<string>();
    return envelopes.map((envelope) => {
      const key = envelopeKey(envelope);
      if (stored.has(key)) return drop(`duplicate: insert_id ${JSON.stringify(envelope.insert_id)} is already stored for this dataset`);
      if (seen.has(key)) return drop(`duplicate: insert_id ${JSON.stringify(envelope.insert_id)} appears earlier in the same batch`);
      seen.add(key);
      return ok(envelope);
    });
  };
}
