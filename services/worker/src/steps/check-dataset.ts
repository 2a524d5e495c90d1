import type { KeyStore } from '@sluice/tenancy';
import { namespaceOfSource, type Envelope } from '@sluice/envelope';
import { deadLetter, ok, type StepResult } from './step-result';

/**
 * Kafka-native producers never present a key, so the worker checks that the dataset they name is
 * one the key file knows. Every source is checked the same way (the gateway's events pass, as the
 * gateway checked them against the same file): an envelope that claims a dialect's source must
 * name a dataset some key lists for that dialect.
 */
export function createCheckDatasetStep(deps: { datasets: Pick<KeyStore, 'isKnownDataset'> }) {
  return function checkDatasetStep(envelope: Envelope): StepResult<Envelope> {
    const namespace = namespaceOfSource[envelope.source];
    return deps.datasets.isKnownDataset(namespace, envelope.dataset_id)
      ? ok(envelope)
      : deadLetter(`dataset ${JSON.stringify(envelope.dataset_id)} is not known: no key in KEYS_FILE lists it under "${namespace}" (source ${envelope.source})`);
  };
}
