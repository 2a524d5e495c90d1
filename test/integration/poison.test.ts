/**
 * Poison-proof: every event the gateway acknowledges is stored or dead-lettered, and no event can
 * stall a partition. Each test reproduces one event that ClickHouse refused, or that made the
 * worker throw, so the worker gave its batch back to Kafka forever and every later event of the
 * partition was acknowledged and never stored. Each test has its own pipeline, so a partition one
 * poison stalls cannot fail another test.
 */
import { randomUUID } from 'node:crypto';
import { canariesOnEveryPartition, everyCanaryStored, insertIdOnPartition, partitionOfKey } from '../helpers/canaries';
import { fetchRetrying } from '../helpers/http';
import { lastSeen, startInProcessPipeline, type InProcessPipeline } from '../helpers/pipeline';

const partitions = 3;
let pipeline: InProcessPipeline;

beforeEach(async () => {
  pipeline = await startInProcessPipeline({ partitions });
});

afterEach(async () => {
  await pipeline.stop();
});

/** The status and the message of a refusal, whatever the dialect's error shape. */
async function answerOf(response: Response): Promise<{ status: number; message: string }> {
  const text = await response.text();
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    return { status: response.status, message: typeof parsed.message === 'string' ? parsed.message : text };
  } catch {
    return { status: response.status, message: text };
  }
}

function putTrieveEvent(insertId: string, body: string): Promise<Response> {
  return fetchRetrying(`${pipeline.gatewayUrl}/api/analytics/events`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${pipeline.apiKey}`, 'tr-dataset': 'ds-poison', 'idempotency-key': insertId, 'content-type': 'application/json' },
    body,
  });
}

async function storedRows(insertId: string): Promise<{ event_name: string }[]> {
  return pipeline.clickhouse.queryRows(`SELECT event_name FROM events WHERE insert_id = {id:String}`, { id: insertId });
}

/** A message string that names `pointer` (in quotes, as formatIssues writes it) and matches `about`. */
function naming(pointer: RegExp, about?: RegExp): unknown {
  return expect.stringMatching(new RegExp(`^(?=.*"${pointer.source}")${about ? `(?=.*(${about.source}))` : ''}`, 'is'));
}

test.each([
  ['high', '\\ud800'],
  ['low', '\\udc00'],
])('a Trieve event_name holding a lone %s surrogate gets 400 naming /event_name, is not stored, and every partition stores the events after it', async (_kind, escape) => {
  // The body is valid UTF-8 JSON: the surrogate is a JSON escape, which JSON.parse turns into a lone UTF-16 unit.
  const response = await putTrieveEvent('lone-surrogate', `{"event_type":"view","event_name":"${escape}","items":["sku-1"]}`);
  const answer = await answerOf(response);
  const canaries = await canariesOnEveryPartition(pipeline, partitions, 'surrogate');
  expect({ answer, stored: await storedRows('lone-surrogate'), canaries }).toEqual({
    answer: { status: 400, message: naming(/\/event_name/, /surrogate|well-formed|unicode/) },
    stored: [],
    canaries: everyCanaryStored,
  });
});

test('a Trieve purchase whose revenue is beyond Decimal(18, 6) gets 400 naming revenue, and every partition stores the events after it', async () => {
  const body = { event_type: 'purchase', event_name: 'order', items: [{ tracking_id: 'sku-1', revenue: 10_000_000_000_000 }] };
  const answer = await answerOf(await putTrieveEvent('huge-revenue', JSON.stringify(body)));
  const canaries = await canariesOnEveryPartition(pipeline, partitions, 'revenue');
  expect({ answer, stored: await storedRows('huge-revenue'), canaries }).toEqual({
    answer: { status: 400, message: naming(/(\/items\/0)?\/revenue/) },
    stored: [],
    canaries: everyCanaryStored,
  });
});

test('one batch of 120 Neuralens events in 120 different months, all on one partition, is stored whole, each event once', async () => {
  // One partition, one send: the worker reads them as one block, which would span 120 `events`
  // partitions (toYYYYMM), past ClickHouse's 100 per insert.
  const dataset = 'ds-months';
  const events = Array.from({ length: 120 }, (_, m) => ({
    source: 'neuralens',
    dataset_id: dataset,
    insert_id: insertIdOnPartition(dataset, `month-${m}`, 0, partitions),
    // Every 17th month from 1970-01 to 2140: 120 months, inside the range every column can hold.
    event: { items: [{ id: 'sku-1' }], page: 'PRODUCT_PAGE', event: 'VIEW_PRODUCT', timestamp: Date.UTC(1970, m * 17, 15) / 1000 },
  }));
  const response = await fetchRetrying(`${pipeline.gatewayUrl}/v1/batch`, {
    method: 'POST',
    headers: { authorization: `Bearer ${pipeline.apiKey}`, 'content-type': 'application/x-ndjson' },
    body: events.map((e) => JSON.stringify(e)).join('\n'),
  });
  const reply = (await response.json()) as { accepted?: number };
  const count = () =>
    pipeline.clickhouse
      .queryRows<{ rows: number; ids: number; months: number }>(
        `SELECT count() AS rows, uniqExact(insert_id) AS ids, uniqExact(toYYYYMM(occurred_at)) AS months FROM events WHERE dataset_id = {d:String}`,
        { d: dataset },
      )
      .then((rows) => rows[0]);
  const stored = await lastSeen(count, (c) => c?.rows === 120);
  const canaries = await canariesOnEveryPartition(pipeline, partitions, 'months');
  expect({ status: response.status, accepted: reply.accepted, stored, canaries }).toEqual({
    status: 200,
    accepted: 120,
    stored: { rows: 120, ids: 120, months: 120 },
    canaries: everyCanaryStored,
  });
});

describe('straight onto the topic, as a Kafka-native producer may write', () => {
  const dataset = 'ds-native-poison';

  function envelopeText(insertId: string, extra = ''): string {
    const head = { schema_version: 1, event_id: randomUUID(), insert_id: insertId, dataset_id: dataset, source: 'native', event_type: 'view', event_name: 'poison' };
    return `${JSON.stringify(head).slice(0, -1)},"occurred_at":1715644800000,"received_at":1715644800123${extra}}`;
  }

  /**
   * Publishes the poison and, behind it on the same partition, a valid canary; gives back the
   * poison's events_rejected rows and stored rows once the canary is stored, or after 30 s.
   */
  async function poisonThenCanary(insertId: string, poison: Buffer) {
    const key = `${dataset}/${insertId}`;
    const canaryId = insertIdOnPartition(dataset, `after-${insertId}`, partitionOfKey(key, partitions), partitions);
    await pipeline.publisher.publish([
      { key, value: poison },
      { key: `${dataset}/${canaryId}`, value: envelopeText(canaryId) },
    ]);
    const canaryStored = await lastSeen(
      async () => (await storedRows(canaryId)).length,
      (n) => n > 0,
    );
    const rejected = await pipeline.clickhouse.queryRows<{ step: string; reason: string }>(
      `SELECT step, reason FROM events_rejected FINAL WHERE kafka_topic = {t:String} AND kafka_key = {k:String}`,
      { t: pipeline.topic, k: key },
    );
    return { rejected, stored: await storedRows(insertId), canaryStored };
  }

  test('an envelope whose properties nest 100,000 levels is dead-lettered for its depth, and the event behind it is stored', async () => {
    const depth = 100_000;
    const poison = Buffer.from(envelopeText('deep-1', `,"properties":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`));
    // Under the 1 MiB limit of one message: the depth is the only thing wrong with it.
    expect(poison.length).toBeLessThan(1024 * 1024);
    expect(await poisonThenCanary('deep-1', poison)).toEqual({
      rejected: [{ step: expect.stringMatching(/^(parse|validate)$/) as unknown, reason: expect.stringMatching(/nest|deep|depth/i) as unknown }],
      stored: [],
      canaryStored: 1,
    });
  });

  test('an envelope with a byte that is not UTF-8 inside a string is dead-lettered at parse, never stored with U+FFFD', async () => {
    const [before, after] = envelopeText('not-utf8-1').split('"event_name":"poison"') as [string, string];
    const poison = Buffer.concat([Buffer.from(`${before}"event_name":"caf`), Buffer.from([0xff]), Buffer.from(`"${after}`)]);
    expect(await poisonThenCanary('not-utf8-1', poison)).toEqual({
      rejected: [{ step: 'parse', reason: expect.stringMatching(/utf-?8/i) as unknown }],
      stored: [],
      canaryStored: 1,
    });
  });
});

test('in a batch, an item whose derived insert_id Idempotency-Key/i would pass 256 characters is refused naming the limit, never given a random insert_id', async () => {
  // 254 characters: KEY/0 to KEY/9 are 256 long and fit; KEY/10 and KEY/11 are 257.
  const idempotencyKey = 'k'.repeat(254);
  const items = Array.from({ length: 12 }, () => ({ source: 'trieve', dataset_id: 'ds-long-key', event: { event_type: 'view', event_name: 'v', items: ['sku-1'] } }));
  const response = await fetchRetrying(`${pipeline.gatewayUrl}/v1/batch`, {
    method: 'POST',
    headers: { authorization: `Bearer ${pipeline.apiKey}`, 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
    body: JSON.stringify(items),
  });
  const reply = (await response.json()) as { results?: unknown[] };
  expect({ status: response.status, results: reply.results }).toEqual({
    status: 207,
    results: items.map((_, i): unknown =>
      i < 10
        ? expect.objectContaining({ index: i, status: 'accepted', insert_id: `${idempotencyKey}/${i}` })
        : expect.objectContaining({
            index: i,
            status: 'invalid',
            errors: [{ path: `/${i}`, message: expect.stringMatching(/^(?=.*Idempotency-Key)(?=.*256)/s) as unknown }],
          }),
    ),
  });
});
