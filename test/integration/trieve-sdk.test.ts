/**
 * Trieve's official TypeScript SDK, pointed at the gateway by changing only its base URL and key,
 * sends every event type and CTR data successfully, and each arrives in ClickHouse.
 */
import { startInProcessPipeline, waitFor, type InProcessPipeline } from '../helpers/pipeline';

/** The part of the SDK used here. The package ships a CommonJS build, but its types only in ESM form. */
interface TrieveSDK {
  sendAnalyticsEvent(data: { event_type: string } & Record<string, unknown>): Promise<unknown>;
  sendCTRAnalytics(data: Record<string, unknown>): Promise<unknown>;
}
const { TrieveSDK } = jest.requireActual<{ TrieveSDK: new (options: { apiKey: string; datasetId: string; baseUrl: string; organizationId?: string }) => TrieveSDK }>(
  'trieve-ts-sdk',
);

let pipeline: InProcessPipeline;
let sdk: TrieveSDK;
const datasetId = '5a7c3a4e-2f1b-4c55-9b0e-6f7d8e9a0b1c';
const requestId = '6f2b6a56-2f5e-4c3b-8a0f-0d6c1f2e3a4b';
const chunkId = '0b8e5a3c-9d1f-4e2a-b7c6-5a4f3e2d1c0b';

beforeAll(async () => {
  pipeline = await startInProcessPipeline();
  sdk = new TrieveSDK({ apiKey: pipeline.apiKey, datasetId, baseUrl: pipeline.gatewayUrl, organizationId: 'org-1' });
});

afterAll(async () => {
  await pipeline.stop();
});

const events: Parameters<TrieveSDK['sendAnalyticsEvent']>[0][] = [
  { event_type: 'view', event_name: 'sdk_view', items: ['sku-1'], user_id: 'sdk-user' },
  { event_type: 'add_to_cart', event_name: 'sdk_atc', items: ['sku-1'], is_conversion: true },
  { event_type: 'click', event_name: 'sdk_click', clicked_items: { chunk_id: chunkId, position: 1 }, request: { request_id: requestId, request_type: 'search' } },
  { event_type: 'purchase', event_name: 'sdk_purchase', items: [{ tracking_id: 'sku-1', revenue: 12.5 }] },
  { event_type: 'filter_clicked', event_name: 'sdk_filter', items: { 'tag::color': 'red' } },
  { event_type: 'search', query: 'sdk query', tokens: 3 },
  { event_type: 'rag', user_message: 'sdk question', tokens: 9 },
  { event_type: 'recommendation', positive_tracking_ids: ['sku-2'] },
];

test.each(events.map((e) => [e.event_type, e] as const))('sendAnalyticsEvent(%s) succeeds and the event is stored', async (type, event) => {
  await expect(sdk.sendAnalyticsEvent(event)).resolves.toBe('');
  await waitFor(
    async () =>
      (await pipeline.clickhouse.queryRows('SELECT 1 FROM events WHERE dataset_id = {d:String} AND event_type = {t:String} AND source = {s:String}', { d: datasetId, t: type, s: 'trieve' }))[0],
    `the SDK's ${type} event`,
  );
});

test('sendCTRAnalytics succeeds and the click is stored with its request', async () => {
  await expect(sdk.sendCTRAnalytics({ request_id: requestId, ctr_type: 'search', position: 4, clicked_chunk_id: chunkId })).resolves.toBe('');
  const row = await waitFor(
    async () =>
      (await pipeline.clickhouse.queryRows<{ request_id: string; position: number; request_type: string }>(
        "SELECT request_id, position, request_type FROM events WHERE dataset_id = {d:String} AND source = 'trieve_ctr'",
        { d: datasetId },
      ))[0],
    "the SDK's CTR event",
  );
  expect(row).toEqual({ request_id: requestId, position: 4, request_type: 'search' });
});

test('an SDK call the gateway refuses surfaces as the SDK error with our message', async () => {
  const stranger = new TrieveSDK({ apiKey: 'sk_wrong', datasetId, baseUrl: pipeline.gatewayUrl });
  await expect(stranger.sendAnalyticsEvent({ event_type: 'view', event_name: 'x', items: [] })).rejects.toThrow('Invalid API key');
});
