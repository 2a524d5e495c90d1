import type { ConsumerProgressEvent } from '@sluice/core';
import type { Envelope } from '@sluice/envelope';
import { drop, ok, type StepResult } from './step-result';

/** The messages of the block being inserted: a copy stored from these is this block's own, not an earlier one. */
export interface OwnMessages {
  partition: number;
  firstOffset: string;
  lastOffset: string;
}

/**
 * One string per (dataset_id, insert_id), never the same for two pairs. (The Kafka key
 * `<dataset_id>/<insert_id>` is not: dataset "a/b" with insert "c" and dataset "a" with insert "b/c"
 * share it, which only puts them on one partition.)
 */
export function dedupIdentity(key: Pick<Envelope, 'dataset_id' | 'insert_id'>): string {
  return `${key.dataset_id.length}:${key.dataset_id}${key.insert_id}`;
}

/** Says which of the given (dataset_id, insert_id) keys are already stored within the dedup window, as dedupIdentity strings. */
export interface StoredKeys {
  storedAmong(keys: readonly Pick<Envelope, 'dataset_id' | 'insert_id'>[], own: OwnMessages): Promise<Set<string>>;
  /** Told of keys about to be stored that were not looked up (a repeated joint block's rows), for a filter of stored keys (key-filter.ts). */
  remember?(keys: readonly Pick<Envelope, 'dataset_id' | 'insert_id'>[]): void;
  /** Told of the consumer's progress, for a filter of stored keys: a partition assigned anew has its keys loaded. */
  observe?(event: ConsumerProgressEvent): void;
}

/**
 * Drops an event whose (dataset_id, insert_id) is already stored, or appeared earlier in the same
 * batch. Exact without any lock because the message key is envelopeKey, so every copy of an
 * event lands on one partition, and a partition's batches are stored one after the other.
 */
export function createDeduplicateStep(deps: { storedKeys: StoredKeys }) {
  /**
   * Copies stored from the block's own messages do not count: a block inserted again after a crash
   * gets the decisions it got the first time, so it is the same block and ClickHouse dedups it.
   */
  return async function deduplicateStep(envelopes: readonly Envelope[], own: OwnMessages): Promise<StepResult<Envelope>[]> {
    const stored = await deps.storedKeys.storedAmong(envelopes, own);
    const seen = new Set<string>();
    return envelopes.map((envelope) => {
      const key = dedupIdentity(envelope);
      if (stored.has(key)) return drop(`duplicate: insert_id ${JSON.stringify(envelope.insert_id)} is already stored for this dataset`);
      if (seen.has(key)) return drop(`duplicate: insert_id ${JSON.stringify(envelope.insert_id)} appears earlier in the same batch`);
      seen.add(key);
      return ok(envelope);
    });
  };
}
