import type { DatasetNamespace } from '@sluice/tenancy';
import type { Envelope } from '@sluice/envelope';
import { createCheckDatasetStep } from './check-dataset';

function envelopeFor(dataset_id: string, source: Envelope['source'] = 'native'): Envelope {
  return { schema_version: 1, event_id: '1f0e4a52-8d1c-4b8e-9a4e-2f6f5c1d9b10', insert_id: 'i-1', dataset_id, source, event_type: 'view', event_name: 'view', occurred_at: 0, received_at: 0 };
}

const known = new Map<DatasetNamespace, string[]>([
  ['native', ['orders']],
  ['trieve', ['docs-site']],
]);
const check = createCheckDatasetStep({ datasets: { isKnownDataset: (namespace, datasetId) => known.get(namespace)?.includes(datasetId) ?? false } });

test('an envelope naming a dataset the key file knows passes unchanged', () => {
  const envelope = envelopeFor('orders');
  expect(check(envelope)).toEqual({ kind: 'ok', value: envelope });
});

test('an unknown dataset is a dead letter that names the dataset and the namespace', () => {
  expect(check(envelopeFor('payments'))).toEqual({
    kind: 'dlq',
    reason: 'dataset "payments" is not known: no key in KEYS_FILE lists it under "native" (source native)',
  });
});

test('the namespace follows the source, so a Trieve dataset is not a native one', () => {
  expect(check(envelopeFor('docs-site')).kind).toBe('dlq');
  expect(check(envelopeFor('docs-site', 'trieve_ctr')).kind).toBe('ok');
});
