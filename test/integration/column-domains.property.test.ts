/**
 * Events at the edges of every column's domain (0001_events.sql), generated with fast-check and
 * sent through all five HTTP doors and straight onto the topic: strings with lone surrogates, NUL,
 * emoji and sizes past the 1 MiB limits; Int32, Decimal(18, 6), Float32 and geo numbers at their
 * limits and just past; times from 1970 to past 9999; deep and wide properties; batches spanning
 * hundreds of months. Whatever the gateway acknowledges is stored (intact) or dead-lettered; whatever
 * it refuses gets a 4xx naming the field; and afterwards every partition still stores new events.
 */
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { errorMessage, eventsTopicConfig, type EventPublisher } from '@sluice/core';
import { canariesOnEveryPartition, everyCanaryStored } from '../helpers/canaries';
import { fetchRetrying } from '../helpers/http';
import { lastSeen, startInProcessPipeline, type InProcessPipeline } from '../helpers/pipeline';

const partitions = 3;
const dataset = 'ds-domains';
const seed = Number(process.env.FC_SEED ?? 20261130);

const topicMaxBytes = Number(eventsTopicConfig['max.message.bytes']);

let pipeline: InProcessPipeline;
/** A Kafka-native producer's own connection: a message it cannot send must not fail the gateway's sends. */
let nativeProducer: EventPublisher;

beforeAll(async () => {
  // The deployed body limit, so strings reach the 1 MiB limits of both a body and a message.
  pipeline = await startInProcessPipeline({ partitions, maxBodyBytes: 1024 * 1024 });
  nativeProducer = await pipeline.bus.createPublisher({ topic: pipeline.topic });
});

afterAll(async () => {
  await nativeProducer.close();
  await pipeline.stop();
});

// ---- Values at the edges of each column's domain -------------------------------------------

/**
 * Mostly values the column holds, so that many events are stored and checked intact; sometimes
 * values just past its limits. An event has a dozen such fields, so a value past a limit in each
 * one as often as a value inside would have the gateway refuse nearly every event.
 */
function edges<T>(inside: readonly T[], outside: readonly T[]): fc.Arbitrary<T> {
  return fc.oneof({ arbitrary: fc.constantFrom(...inside), weight: 9 }, { arbitrary: fc.constantFrom(...outside), weight: 1 });
}

/** Pieces that are hard for a String column and still well-formed: NUL, 4-byte characters (U+10FFFF too), JSON escapes. */
const unusualPieces = ['\u0000', '😀', '\udbff\udfff', 'é', '\u2028', '"', '\\', '\u007f', '\ufeff', '\uffff'];
const wellFormedText = fc
  .array(fc.oneof(fc.string({ maxLength: 6 }), fc.string({ unit: 'grapheme', maxLength: 3 }), fc.constantFrom(...unusualPieces)), { maxLength: 4 })
  .map((pieces) => pieces.join(''));
/** A lone surrogate, high or low, between well-formed text (which can neither end nor start with its pair). */
const illFormedText = fc.tuple(wellFormedText, fc.constantFrom('\ud800', '\udbff', '\udc00', '\udfff'), wellFormedText).map((parts) => parts.join(''));
const shortText = fc.oneof({ arbitrary: wellFormedText, weight: 40 }, { arbitrary: illFormedText, weight: 1 });
/** Sizes around the 1 MiB limits of a body and of a message (the envelope holds the body twice). */
const hugeText = fc
  .tuple(fc.constantFrom(100_000, 600_000, 1_048_576, 1_100_000), fc.constantFrom('x', '😀', '\u0000'))
  .map(([length, unit]) => unit.repeat(Math.ceil(length / unit.length)));
const text = fc.oneof({ arbitrary: shortText, weight: 150 }, { arbitrary: hugeText, weight: 1 });

const int32 = edges([-2147483648, -1, 0, 1, 2147483647], [-2147483649, 2147483648]);
// Decimal(18, 6) holds less than 10^12; 999999999999.999999 is 10^12 as a double.
const revenue = edges([0, 0.1, 19.99, 999999999999.9999, -999999999999.9999, 1e-7], [999999999999.999999, 1e12, -1e12, 1e13, -1e13, 1e300]);
const qualityScore = edges([-1, 0, 0.5, 1], [-1.0000001, 1.0000001]);
const latitude = edges([-90, 0, 90], [90.0000001, -90.0000001]);
const longitude = edges([-180, 0, 180], [180.0000001, -180.0000001]);
// force_sample is always set, so a rate below 1 never samples an event out of the check.
const sampleRate = edges([0, 1e-9, 0.5, 1], [1.0000001, -1e-9]);

/**
 * 1970, the UInt32 DateTime's end (2106), the Date's end (2149-06-06, the views' day columns), then
 * DateTime64's (2299), 9999 and past it. Where the upper limit lies is the gateway's to say: the
 * check accepts any time stored exactly or refused naming its field.
 */
const insideMoments = [0, 1, 1715644800000, Date.UTC(2106, 1, 7, 6, 28, 15), Date.UTC(2106, 1, 7, 6, 28, 16), Date.UTC(2149, 5, 6, 23, 59, 59, 999)];
const outsideMoments = [-1, Date.UTC(2149, 5, 7), Date.UTC(2299, 11, 31, 23, 59, 59, 999), Date.UTC(2300, 0, 1), Date.UTC(9999, 11, 31, 23, 59, 59, 999), Date.UTC(9999, 11, 31, 23, 59, 59, 999) + 1, 8.64e15];
const milliseconds = edges(insideMoments, outsideMoments);
const seconds = (moments: number[]): number[] => moments.map((ms) => Math.floor(ms / 1000));
const unixSeconds = edges(seconds(insideMoments), seconds(outsideMoments));
/** ISO text for every moment JavaScript can write (past 9999 it writes "+010000-...", which is not RFC 3339). */
const iso = (moments: number[]): string[] => moments.map((ms) => new Date(ms).toISOString());
const isoTime = edges(iso(insideMoments), iso(outsideMoments));

type Json = Record<string, unknown>;

function nested(depth: number, leaf: unknown): Json {
  let value: unknown = leaf;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value as Json;
}

/** Deep (the limit is 32 levels, and a body's own object is the first), wide, or with unusual keys and values. */
const properties: fc.Arbitrary<Json> = fc.oneof(
  fc.tuple(edges([1, 2, 30, 31], [32, 33, 40, 500]), shortText).map(([depth, leaf]) => nested(depth, leaf)),
  fc.tuple(fc.constantFrom(0, 1, 100, 3000), shortText).map(([width, value]) => Object.fromEntries(Array.from({ length: width }, (_, i) => [`k${i}`, value]))),
  fc.array(fc.tuple(shortText, text), { maxLength: 4 }).map((entries) => Object.fromEntries(entries.filter(([key]) => key !== '__proto__'))),
);

// ---- Events, and what a stored row must hold ------------------------------------------------

/** What the row of a stored event must hold exactly as sent: strings intact, times to the millisecond. */
interface Stored {
  columns: Json;
  occurredMs?: number;
  receivedMs?: number;
  properties?: Json;
}

interface Generated {
  door: string;
  insertId: string;
  stored: Stored;
}

/** A dialect event (its body, and what its row must hold) before it is given an insert_id. */
interface DialectEvent {
  source: 'trieve' | 'trieve_ctr' | 'neuralens' | 'greenflash';
  body: Json;
  stored: Stored;
}

const trieveEvent: fc.Arbitrary<DialectEvent> = fc.oneof(
  fc.record({ event_name: text, items: fc.array(text, { maxLength: 3 }), user_id: text, location: text, metadata: properties }).map((e) => ({
    source: 'trieve' as const,
    body: { event_type: 'view', ...e },
    stored: { columns: { event_name: e.event_name, items: e.items, user_id: e.user_id, page: e.location }, properties: e.metadata },
  })),
  fc.record({ event_name: text, chunk_id: fc.uuid(), position: int32, metadata: properties }).map((e) => ({
    source: 'trieve' as const,
    body: { event_type: 'click', event_name: e.event_name, clicked_items: { chunk_id: e.chunk_id, position: e.position }, metadata: e.metadata },
    stored: { columns: { event_name: e.event_name, items: [e.chunk_id], position: e.position }, properties: e.metadata },
  })),
  fc.record({ event_name: text, items: fc.array(fc.record({ tracking_id: text, revenue }), { minLength: 1, maxLength: 3 }) }).map((e) => ({
    source: 'trieve' as const,
    body: { event_type: 'purchase', ...e },
    stored: { columns: { event_name: e.event_name, items: e.items.map((i) => i.tracking_id) } },
  })),
  fc.record({ query: text, metadata: properties }).map((e) => ({
    source: 'trieve' as const,
    body: { event_type: 'search', tokens: 1, ...e },
    stored: { columns: { query: e.query }, properties: e.metadata },
  })),
);

const trieveCtr: fc.Arbitrary<DialectEvent> = fc
  .record({ ctr_type: fc.constantFrom('search', 'rag', 'recommendation'), position: int32, clicked_chunk_tracking_id: text, metadata: properties, user_id: text })
  .map(({ user_id, metadata, ...e }) => ({
    source: 'trieve_ctr' as const,
    body: { request_id: randomUUID(), ...e, metadata: { ...metadata, user_id } },
    stored: { columns: { position: e.position, items: [e.clicked_chunk_tracking_id], user_id }, properties: { ...metadata, user_id } },
  }));

const neuralens: fc.Arbitrary<DialectEvent> = fc
  .record({
    uid: text,
    id: text,
    query: text,
    page: fc.constantFrom('SEARCH_RESULT_PAGE', 'AUTOCOMPLETE', 'CATEGORY_PAGE', 'PRODUCT_PAGE'),
    event: fc.constantFrom('VIEW_PRODUCT', 'CLICK_PRODUCT', 'SHARE', 'PURCHASE'),
    index: int32,
    geo: fc.record({ lat: latitude, long: longitude, region: text }),
    timestamp: unixSeconds,
  })
  .map(({ id, ...e }) => ({
    source: 'neuralens' as const,
    body: { ...e, items: [{ id }] },
    stored: {
      columns: { user_id: e.uid, items: [id], query: e.query, page: e.page, position: e.index, geo_lat: e.geo.lat, geo_long: e.geo.long, geo_region: e.geo.region },
      occurredMs: e.timestamp * 1000,
    },
  }));

const greenflash: fc.Arbitrary<DialectEvent> = fc
  .record({
    eventType: text,
    value: fc.oneof(text, revenue.map(String)),
    valueType: fc.constantFrom('currency', 'numeric', 'text'),
    eventAt: isoTime,
    sampleRate,
    qualityImpactScore: qualityScore,
    properties,
    userId: text,
    organizationId: text,
  })
  .map((e) => ({
    source: 'greenflash' as const,
    body: { ...e, productId: dataset, forceSample: true },
    stored: {
      columns: { event_name: e.eventType, value: e.value, user_id: e.userId, organization_id: e.organizationId },
      occurredMs: Date.parse(e.eventAt),
      properties: e.properties,
    },
  }));

const dialectEvent = fc.oneof(trieveEvent, trieveCtr, neuralens, greenflash);

/** A canonical envelope, all but its identity. */
const envelopeFields = fc.record({
  event_name: text,
  user_id: text,
  organization_id: text,
  request_id: text,
  query: text,
  page: text,
  items: fc.array(text, { maxLength: 3 }),
  position: int32,
  revenue,
  quality_score: qualityScore,
  geo: fc.record({ lat: latitude, long: longitude, region: text }),
  sample_rate: sampleRate,
  value: text,
  occurred_at: milliseconds,
  received_at: milliseconds,
  properties,
});
type EnvelopeFields = typeof envelopeFields extends fc.Arbitrary<infer T> ? T : never;

function envelope(fields: EnvelopeFields, insertId: string): { value: Json; stored: Stored } {
  const { properties: props, occurred_at, received_at, geo, ...strings } = fields;
  return {
    value: { schema_version: 1, event_id: randomUUID(), insert_id: insertId, dataset_id: dataset, source: 'native', event_type: 'view', force_sample: true, ...fields },
    stored: {
      columns: { event_name: strings.event_name, user_id: strings.user_id, organization_id: strings.organization_id, request_id: strings.request_id, query: strings.query, page: strings.page, items: strings.items, position: strings.position, value: strings.value, geo_region: geo.region },
      occurredMs: occurred_at,
      receivedMs: received_at,
      properties: props,
    },
  };
}

/** The wrapped form of a dialect event for the batch door, with its insert_id. */
function wrapped(event: DialectEvent, insertId: string): { item: Json; stored: Stored } {
  const body = event.source === 'greenflash' ? { ...event.body, insertId } : event.body;
  return { item: { source: event.source, dataset_id: dataset, insert_id: insertId, event: body }, stored: event.stored };
}

// ---- Attempts: one request (or one message onto the topic) and the events it carries --------

type Delivery = { kind: 'http'; method: 'PUT' | 'POST'; path: string; headers: Record<string, string>; body: string } | { kind: 'topic'; key: string; value: Buffer };

interface Attempt {
  door: string;
  delivery: Delivery;
  /** In the order of the batch's results; one for the other doors. */
  events: Generated[];
}

type MakeAttempt = (n: number) => Attempt;

const single = (event: DialectEvent) => (n: number): Attempt => {
  const insertId = `d${n}`;
  const paths = {
    trieve: ['PUT', '/api/analytics/events'],
    trieve_ctr: ['PUT', '/api/analytics/ctr'],
    neuralens: ['POST', '/analytics/event'],
    greenflash: ['POST', '/api/v1/events'],
  } as const;
  const [method, path] = paths[event.source];
  const auth: Record<string, string> =
    event.source === 'neuralens'
      ? { 'x-neuralens-api-key': `Bearer ${pipeline.apiKey}`, 'x-neuralens-application-id': dataset }
      : { authorization: `Bearer ${pipeline.apiKey}`, ...(event.source === 'greenflash' ? {} : { 'tr-dataset': dataset }) };
  const body = event.source === 'greenflash' ? { ...event.body, insertId } : event.body;
  return {
    door: event.source,
    delivery: { kind: 'http', method, path, headers: { ...auth, 'content-type': 'application/json', 'idempotency-key': insertId }, body: JSON.stringify(body) },
    events: [{ door: event.source, insertId, stored: event.stored }],
  };
};

function batch(door: string, items: { item: Json; stored: Stored }[], ids: string[]): Attempt {
  return {
    door,
    delivery: { kind: 'http', method: 'POST', path: '/v1/batch', headers: { authorization: `Bearer ${pipeline.apiKey}`, 'content-type': 'application/x-ndjson' }, body: items.map((i) => JSON.stringify(i.item)).join('\n') },
    events: items.map((i, k) => ({ door, insertId: ids[k] ?? '', stored: i.stored })),
  };
}

const batchOfEnvelopes = (all: EnvelopeFields[]) => (n: number): Attempt => {
  const ids = all.map((_, k) => `d${n}-${k}`);
  return batch('batch envelopes', all.map((fields, k) => { const e = envelope(fields, ids[k] ?? ''); return { item: e.value, stored: e.stored }; }), ids);
};

const batchOfDialectEvents = (all: DialectEvent[]) => (n: number): Attempt => {
  const ids = all.map((_, k) => `d${n}-${k}`);
  return batch('batch dialect events', all.map((event, k) => wrapped(event, ids[k] ?? '')), ids);
};

/** One event a month from 1970-01, `count` months spread up to 2149: far past ClickHouse's 100 partitions per insert. */
const batchOfMonths = ([count, asEnvelopes]: [number, boolean]) => (n: number): Attempt => {
  const step = Math.floor((179 * 12) / count);
  const ids = Array.from({ length: count }, (_, k) => `d${n}-${k}`);
  const items = ids.map((insertId, k) => {
    const ms = Date.UTC(1970, k * step, 15);
    const stored = { columns: {}, occurredMs: ms };
    return asEnvelopes
      ? { item: { schema_version: 1, event_id: randomUUID(), insert_id: insertId, dataset_id: dataset, source: 'native', event_type: 'view', event_name: 'month', occurred_at: ms, received_at: ms }, stored }
      : { item: { source: 'neuralens', dataset_id: dataset, insert_id: insertId, event: { items: [{ id: 'sku' }], page: 'PRODUCT_PAGE', event: 'SHARE', timestamp: ms / 1000 } }, stored };
  });
  return batch('batch of months', items, ids);
};

const onTopic = (door: string, insertId: string, value: Buffer, stored: Stored): Attempt => ({
  door,
  delivery: { kind: 'topic', key: `${dataset}/${insertId}`, value },
  events: [{ door, insertId, stored }],
});

const topicEnvelope = (fields: EnvelopeFields) => (n: number): Attempt => {
  const e = envelope(fields, `d${n}`);
  return onTopic('topic envelope', `d${n}`, Buffer.from(JSON.stringify(e.value)), e.stored);
};

/** Built as text: JSON.stringify itself cannot write 100,000 levels. */
const topicDeepEnvelope = (depth: number) => (n: number): Attempt => {
  const head = JSON.stringify({ schema_version: 1, event_id: randomUUID(), insert_id: `d${n}`, dataset_id: dataset, source: 'native', event_type: 'view', event_name: 'deep', occurred_at: 0, received_at: 0 });
  const value = `${head.slice(0, -1)},"properties":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`;
  return onTopic('topic deep envelope', `d${n}`, Buffer.from(value), { columns: {} });
};

const topicNotUtf8 = (byte: number) => (n: number): Attempt => {
  const [before, after] = JSON.stringify({ schema_version: 1, event_id: randomUUID(), insert_id: `d${n}`, dataset_id: dataset, source: 'native', event_type: 'view', event_name: 'X', occurred_at: 0, received_at: 0 }).split('"X"') as [string, string];
  return onTopic('topic not UTF-8', `d${n}`, Buffer.concat([Buffer.from(`${before}"caf`), Buffer.from([byte]), Buffer.from(`"${after}`)]), { columns: {} });
};

/** How many attempts of each kind one run makes: every door every run, in seconds when all is well and about 80 s when partitions stall. */
const plan: [fc.Arbitrary<MakeAttempt>, number][] = [
  [dialectEvent.map(single), 320],
  [fc.array(envelopeFields, { minLength: 1, maxLength: 5 }).map(batchOfEnvelopes), 40],
  [fc.array(dialectEvent, { minLength: 1, maxLength: 5 }).map(batchOfDialectEvents), 40],
  [fc.tuple(fc.integer({ min: 101, max: 400 }), fc.boolean()).map(batchOfMonths), 3],
  [envelopeFields.map(topicEnvelope), 80],
  [fc.constantFrom(33, 1_000, 100_000).map(topicDeepEnvelope), 3],
  [fc.constantFrom(0xff, 0xc3, 0xed).map(topicNotUtf8), 3],
];

/** The plan's attempts, each kind sampled from its own seed, taken in turns so that the kinds interleave. */
function plannedAttempts(): Attempt[] {
  const kinds = plan.map(([arbitrary, runs], i) => fc.sample(arbitrary, { numRuns: runs, seed: seed + i }));
  const longest = Math.max(...kinds.map((k) => k.length));
  const makers = Array.from({ length: longest }, (_, turn) => kinds.flatMap((k) => k.slice(turn, turn + 1))).flat();
  return makers.map((make, n) => make(n));
}

// ---- Judging the answers --------------------------------------------------------------------

/** A quoted JSON pointer in a message, as formatIssues writes a field: "/event_name". */
const namesAField = (message: string): boolean => /"\/[^"]*"/.test(message);
/** A refusal for size: the whole event (or body) is at fault, not one field. */
const isAboutSize = (message: string): boolean => /\d+ ?bytes|larger than the limit/i.test(message);

function shown(value: unknown): string {
  const json = JSON.stringify(value) ?? String(value);
  return json.length > 160 ? `${json.slice(0, 160)}... (${json.length} chars)` : json;
}

/** Problems grouped by kind, with the first examples of each, so that one failure shows every kind at once. */
class Problems {
  readonly kinds: Record<string, { count: number; examples: string[] }> = {};

  add(kind: string, example: string): void {
    const entry = (this.kinds[kind] ??= { count: 0, examples: [] });
    entry.count++;
    if (entry.examples.length < 3) entry.examples.push(example);
  }
}

interface Verdicts {
  acknowledged: Generated[];
  refused: Generated[];
  problems: Problems;
}

interface BatchReply {
  results?: { index: number; status: string; errors?: { path: string; message: string }[] }[];
  message?: string;
}

function judgeHttp(attempt: Attempt, status: number, text: string, verdicts: Verdicts): void {
  const id = attempt.events[0]?.insertId ?? '';
  if (attempt.delivery.kind === 'http' && attempt.delivery.path === '/v1/batch' && (status === 200 || status === 207 || status === 400)) {
    const reply = JSON.parse(text) as BatchReply;
    if (!reply.results) return void verdicts.problems.add(`${attempt.door}: ${status} without results`, `${id}: ${shown(text)}`);
    for (const result of reply.results) {
      const event = attempt.events[result.index];
      if (event === undefined) continue;
      if (result.status === 'accepted') verdicts.acknowledged.push(event);
      else if (result.status === 'invalid') {
        verdicts.refused.push(event);
        const root = `/${result.index}`;
        for (const error of result.errors ?? []) {
          const named = error.path.startsWith(`${root}/`) || namesAField(error.message) || isAboutSize(error.message);
          if (!named) verdicts.problems.add(`${attempt.door}: an item refused at its root without naming a field`, `${event.insertId}: ${shown(error)}`);
        }
      } else verdicts.problems.add(`${attempt.door}: a result neither accepted nor invalid`, `${event.insertId}: ${shown(result)}`);
    }
    return;
  }
  if (status >= 200 && status < 300) return void verdicts.acknowledged.push(...attempt.events);
  verdicts.refused.push(...attempt.events);
  if (status === 413) return;
  let message = text;
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed.message === 'string') message = parsed.message;
  } catch {
    // Not JSON: the text itself is the message.
  }
  if (status !== 400) verdicts.problems.add(`${attempt.door}: answered ${status}`, `${id}: ${shown(message)}`);
  else if (!namesAField(message)) verdicts.problems.add(`${attempt.door}: 400 without naming a field`, `${id}: ${shown(message)}`);
}

/** Messages go onto the topic one at a time: Kafka refuses a whole send for one message over its limit. */
let topicSends: Promise<unknown> = Promise.resolve();

async function send(attempt: Attempt, verdicts: Verdicts): Promise<void> {
  const { delivery } = attempt;
  if (delivery.kind === 'topic') {
    const sent = topicSends.then(() => nativeProducer.publish([{ key: delivery.key, value: delivery.value }]));
    topicSends = sent.catch(() => undefined);
    try {
      await sent;
      verdicts.acknowledged.push(...attempt.events);
    } catch (error) {
      // Kafka itself refuses a message over the topic's limit: the producer knows it was not sent.
      verdicts.refused.push(...attempt.events);
      if (delivery.value.length <= topicMaxBytes) verdicts.problems.add('Kafka refused a message within the topic limit', `${delivery.key} (${delivery.value.length} bytes): ${errorMessage(error)}`);
    }
    return;
  }
  const response = await fetchRetrying(`${pipeline.gatewayUrl}${delivery.path}`, { method: delivery.method, headers: delivery.headers, body: delivery.body });
  judgeHttp(attempt, response.status, await response.text(), verdicts);
}

interface StoredRow {
  insert_id: string;
  occurred_ms: number;
  received_ms: number;
  properties: string;
  [column: string]: unknown;
}

function parsedOrText(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Whether the rows of one stored event hold it once and exactly as sent; each difference is a problem. */
function checkStored(event: Generated, rows: StoredRow[], problems: Problems): void {
  const { door, insertId, stored } = event;
  if (rows.length !== 1) return problems.add(`${door}: stored more than once`, `${insertId}: ${rows.length} rows`);
  const [row] = rows as [StoredRow];
  const actual: Json = { ...row, occurred_at: row.occurred_ms, received_at: row.received_ms, properties: parsedOrText(row.properties) };
  const sent: Json = {
    ...stored.columns,
    ...(stored.occurredMs === undefined ? {} : { occurred_at: stored.occurredMs }),
    ...(stored.receivedMs === undefined ? {} : { received_at: stored.receivedMs }),
    ...(stored.properties === undefined ? {} : { properties: stored.properties }),
  };
  for (const [column, value] of Object.entries(sent)) {
    if (!isDeepStrictEqual(actual[column], value)) problems.add(`${door}: ${column} not stored as sent`, `${insertId}: stored ${shown(actual[column])}, sent ${shown(value)}`);
  }
}

test('events at the edges of every column are stored intact, dead-lettered, or refused naming the field; no partition stalls', async () => {
  const attempts = plannedAttempts();
  const verdicts: Verdicts = { acknowledged: [], refused: [], problems: new Problems() };
  let next = 0;
  const sender = async (): Promise<void> => {
    for (let current = attempts[next++]; current !== undefined; current = attempts[next++]) await send(current, verdicts);
  };
  await Promise.all(Array.from({ length: 6 }, sender));

  // Every acknowledged event is found in events or events_rejected, which name it by insert_id or by its Kafka key.
  const found = async (): Promise<Set<string>> => {
    const stored = await pipeline.clickhouse.queryRows<{ insert_id: string }>(`SELECT insert_id FROM events WHERE dataset_id = {d:String}`, { d: dataset });
    const rejected = await pipeline.clickhouse.queryRows<{ insert_id: string; kafka_key: string }>(`SELECT insert_id, kafka_key FROM events_rejected FINAL WHERE kafka_topic = {t:String}`, {
      t: pipeline.topic,
    });
    return new Set([...stored.map((r) => r.insert_id), ...rejected.flatMap((r) => [r.insert_id, r.kafka_key.slice(dataset.length + 1)])]);
  };
  const seen = await lastSeen(found, (ids) => verdicts.acknowledged.every((e) => ids.has(e.insertId)));
  const rows = await pipeline.clickhouse.queryRows<StoredRow>(
    `SELECT insert_id, event_name, user_id, organization_id, request_id, query, page, items, position, value, geo_lat, geo_long, geo_region, properties,
            toUnixTimestamp64Milli(occurred_at) AS occurred_ms, toUnixTimestamp64Milli(received_at) AS received_ms
     FROM events WHERE dataset_id = {d:String}`,
    { d: dataset },
  );
  const rowsById = new Map<string, StoredRow[]>();
  for (const row of rows) rowsById.set(row.insert_id, [...(rowsById.get(row.insert_id) ?? []), row]);
  let checked = 0;
  for (const event of verdicts.acknowledged) {
    if (!seen.has(event.insertId)) verdicts.problems.add(`${event.door}: acknowledged, but neither stored nor dead-lettered within 30 s`, event.insertId);
    const stored = rowsById.get(event.insertId);
    if (stored) checkStored(event, stored, verdicts.problems);
    if (stored) checked++;
  }
  for (const event of verdicts.refused) if (rowsById.has(event.insertId)) verdicts.problems.add(`${event.door}: refused, yet stored`, event.insertId);

  const canaries = await canariesOnEveryPartition(pipeline, partitions, 'domains');
  const doors = new Set(attempts.map((a) => a.door));
  console.log(
    `column domains: seed ${seed} (FC_SEED), ${attempts.length} attempts, ${verdicts.acknowledged.length} events acknowledged (${checked} found stored and checked), ${verdicts.refused.length} refused`,
  );
  expect({ doors: [...doors].sort(), problems: verdicts.problems.kinds, canaries }).toEqual({
    // Every door was tried.
    doors: ['batch dialect events', 'batch envelopes', 'batch of months', 'greenflash', 'neuralens', 'topic deep envelope', 'topic envelope', 'topic not UTF-8', 'trieve', 'trieve_ctr'].sort(),
    problems: {},
    canaries: everyCanaryStored,
  });
}, 300_000);
