/**
 * Kafka-native producers: the typed helper writes envelopes the worker stores; an invalid one is
 * refused before anything is sent. One insert_id sent five ways (three dialects, the batch door and
 * straight onto Kafka) is stored once.
 */
import { buildEnvelope, createNativeProducer, type NativeProducer } from '@sluice/producer';
import { fetchRetrying } from '../helpers/http';
import { startInProcessPipeline, testBrokers, waitFor, type InProcessPipeline } from '../helpers/pipeline';

let pipeline: InProcessPipeline;
let producer: NativeProducer;

beforeAll(async () => {
  pipeline = await startInProcessPipeline({ partitions: 3 });
  producer = await createNativeProducer({ brokers: testBrokers(), topic: pipeline.topic });
});

afterAll(async () => {
  await producer.close();
  await pipeline.stop();
});

async function rows(where: string): Promise<{ insert_id: string; source: string; n: number }[]> {
  return pipeline.clickhouse.queryRows(`SELECT insert_id, any(source) AS source, count() AS n FROM events WHERE ${where} GROUP BY insert_id ORDER BY insert_id`);
}

test('envelopes sent with the helper are stored; an invalid batch is refused whole, naming the envelope and field', async () => {
  await expect(
    producer.send([buildEnvelope({ dataset_id: 'ds-native', event_type: 'view', insert_id: 'n-ok' }), buildEnvelope({ dataset_id: 'ds-native', event_type: 'Bad Type' })]),
  ).rejects.toThrow('Nothing was sent: envelopes[1]: Invalid field "/event_type": must match pattern "^[a-z][a-z0-9_]{0,63}$"');
  await expect(producer.send([buildEnvelope({ dataset_id: 'ds-native', event_type: 'view', properties: { blob: 'x'.repeat(1024 * 1024) } })])).rejects.toThrow(
    /^Nothing was sent: envelopes\[0\]: The event is \d+ bytes once normalised \(the body is kept whole as raw\), over the 1048576-byte limit of one stored event$/,
  );
  await producer.send([
    buildEnvelope({ dataset_id: 'ds-native', event_type: 'purchase', insert_id: 'n-1', revenue: 12.5, items: ['sku-1', 'sku-2'] }),
    buildEnvelope({ dataset_id: 'ds-native', event_type: 'view', insert_id: 'n-2' }),
  ]);
  const stored = await waitFor(async () => {
    const found = await rows(`dataset_id = 'ds-native'`);
    return found.length === 2 ? found : undefined;
  }, 'the native envelopes');
  expect(stored).toEqual([
    { insert_id: 'n-1', source: 'native', n: 1 },
    { insert_id: 'n-2', source: 'native', n: 1 },
  ]);
});

test('one insert_id sent five ways, through three endpoints, the batch door and straight onto Kafka, is one row', async () => {
  const id = 'five-ways-1';
  const auth = { authorization: `Bearer ${pipeline.apiKey}`, 'content-type': 'application/json' };
  const sends: [string, string, Record<string, string>, unknown][] = [
    ['POST', '/api/v1/events', auth, { eventType: 'signup', productId: 'ds-five', value: '1', valueType: 'numeric', insertId: id }],
    ['PUT', '/api/analytics/events', { ...auth, 'tr-dataset': 'ds-five', 'idempotency-key': id }, { event_type: 'view', event_name: 'pdp', items: ['sku-1'] }],
    [
      'POST',
      '/analytics/event',
      { 'x-neuralens-api-key': `Bearer ${pipeline.apiKey}`, 'x-neuralens-application-id': 'ds-five', 'idempotency-key': id, 'content-type': 'application/json' },
      { event: 'VIEW_PRODUCT', page: 'PRODUCT_PAGE', items: [{ id: 'p-1' }], timestamp: 1715644800 },
    ],
    ['POST', '/v1/batch', auth, [{ source: 'greenflash', event: { eventType: 'signup', productId: 'ds-five', value: '1', valueType: 'numeric', insertId: id } }]],
  ];
  for (const [method, path, headers, body] of sends) {
    const response = await fetchRetrying(`${pipeline.gatewayUrl}${path}`, { method, headers, body: JSON.stringify(body) });
    expect(response.status).toBeLessThan(300);
  }
  await producer.send([buildEnvelope({ dataset_id: 'ds-five', event_type: 'signup', insert_id: id })]);
  await waitFor(async () => (pipeline.workerStats.outcomes.get('dedup:drop') === 4 ? true : undefined), 'the four copies to be dropped as duplicates');
  expect(await rows(`dataset_id = 'ds-five' AND insert_id = '${id}'`)).toEqual([{ insert_id: id, source: expect.any(String) as unknown, n: 1 }]);
});
