import type { Envelope } from '../envelope';
import { loadSchema } from '../validation';
import { normaliseTrieveCtr, trieveCtrSchemaFile, validateTrieveCtr } from './trieve-ctr';
import type { RequestContext } from './common';
import { expectValidEnvelope, validationProbe } from './probe.test-support';

type Body = Record<string, unknown>;

const requestId = '9b2d1c5e-7a41-4f0e-b3d2-1a6c0e8f4b7d';
const chunkId = '3c90c3cc-0d44-4b50-8888-8dd25736052a';

const context: RequestContext = {
  datasetId: '5a7c3a4e-2f1b-4c55-9b0e-6f7d8e9a0b1c',
  eventId: '1f0e4a52-8d1c-4b8e-9a4e-2f6f5c1d9b10',
  receivedAt: 1715644800123,
};

/**
 * The page gives no example body, so this one is built from CTRDataRequestBody: every property
 * the schema declares, with the values the page describes.
 */
const fullBody: Body = {
  request_id: requestId,
  ctr_type: 'search',
  position: 2,
  clicked_chunk_id: chunkId,
  clicked_chunk_tracking_id: 'sku-42',
  metadata: { user_id: 'user-7', action: 'open' },
};

function bodyOf(patch: Body = {}): Body {
  return { ...structuredClone(fullBody), ...patch };
}

function without(...fields: string[]): Body {
  const body = bodyOf();
  for (const field of fields) delete body[field];
  return body;
}

/** The envelope of a CTR body with none of the optional fields, before a case's own fields. */
function baseEnvelope(body: Body): Envelope {
  return {
    schema_version: 1,
    event_id: context.eventId,
    insert_id: context.eventId,
    dataset_id: context.datasetId,
    source: 'trieve_ctr',
    event_type: 'click',
    event_name: 'ctr_click',
    occurred_at: context.receivedAt,
    received_at: context.receivedAt,
    user_id: null,
    organization_id: null,
    request_id: requestId,
    request_type: 'search',
    position: 2,
    query: null,
    page: null,
    items: [],
    is_conversion: null,
    revenue: null,
    properties: null,
    raw: body,
  };
}

const { accepted, rejected, expectRejectedAt } = validationProbe(validateTrieveCtr);

describe('valid Trieve CTR bodies', () => {
  const cases: [string, Body, Partial<Envelope>][] = [
    ['every declared field (built from the schema)', bodyOf(), { items: ['sku-42'], user_id: 'user-7', properties: { user_id: 'user-7', action: 'open' } }],
    ['only the required fields', without('clicked_chunk_id', 'clicked_chunk_tracking_id', 'metadata'), {}],
    ['a chunk id only', without('clicked_chunk_tracking_id', 'metadata'), { items: [chunkId] }],
    ['a tracking id only', without('clicked_chunk_id', 'metadata'), { items: ['sku-42'] }],
    ['a null tracking id beside a chunk id', bodyOf({ clicked_chunk_tracking_id: null, metadata: null }), { items: [chunkId] }],
    ['both clicked ids null', bodyOf({ clicked_chunk_id: null, clicked_chunk_tracking_id: null, metadata: null }), {}],
    ['ctr_type rag', bodyOf({ ctr_type: 'rag', metadata: { note: 'x' } }), { request_type: 'rag', items: ['sku-42'], properties: { note: 'x' } }],
    ['ctr_type recommendation', bodyOf({ ctr_type: 'recommendation', metadata: 'carousel' }), { request_type: 'recommendation', items: ['sku-42'], properties: { value: 'carousel' } }],
    ['position 0', bodyOf({ position: 0, metadata: [1, 2] }), { position: 0, items: ['sku-42'], properties: { value: [1, 2] } }],
    ['the largest int32 position', bodyOf({ position: 2147483647, metadata: 5 }), { position: 2147483647, items: ['sku-42'], properties: { value: 5 } }],
    ['the smallest int32 position', bodyOf({ position: -2147483648, metadata: null }), { position: -2147483648, items: ['sku-42'] }],
    ['a numeric metadata user_id (not a string, so no user)', bodyOf({ metadata: { user_id: 7 } }), { items: ['sku-42'], properties: { user_id: 7 } }],
    ['unknown properties (ignored, kept in raw)', bodyOf({ utm_source: 'newsletter', metadata: false }), { items: ['sku-42'], properties: { value: false } }],
  ];

  test.each(cases)('%s: accepted and normalised to the exact envelope', (_name, body, fields) => {
    const original = structuredClone(body);
    const envelope = normaliseTrieveCtr(accepted(body), context);
    expect(envelope).toEqual({ ...baseEnvelope(original), ...fields });
    expect(body).toEqual(original);
  });

  test.each(cases)('%s: the envelope passes validateEnvelope', (_name, body) => {
    expectValidEnvelope(normaliseTrieveCtr(accepted(body), context));
  });

  test('the example in the schema file is accepted', () => {
    const examples = loadSchema(trieveCtrSchemaFile).examples as unknown[];
    expect(examples).toHaveLength(1);
    for (const example of examples) expectValidEnvelope(normaliseTrieveCtr(accepted(example), context));
  });

  test.each([
    ['with an Idempotency-Key, it is the insert_id', { ...context, idempotencyKey: 'ctr-1' }, 'ctr-1'],
    ['without one, the insert_id is the event id', context, context.eventId],
    ['an undefined key counts as none', { ...context, idempotencyKey: undefined }, context.eventId],
  ])('%s', (_name, ctx, insertId) => {
    const envelope = normaliseTrieveCtr(accepted(bodyOf()), ctx);
    expect(envelope.insert_id).toBe(insertId);
    expect(envelope.event_id).toBe(context.eventId);
  });
});

describe('rejected Trieve CTR bodies', () => {
  const requiredFields = ['request_id', 'ctr_type', 'position'];

  test('the required-field table matches the schema', () => {
    expect([...(loadSchema(trieveCtrSchemaFile).required as string[])].sort()).toEqual([...requiredFields].sort());
  });

  test.each(requiredFields)('a body without %s is rejected, naming the field', (field) => {
    expect(rejected(without(field))).toEqual({ paths: [`/${field}`], message: `Invalid field "/${field}": is required` });
  });

  test.each<[string, Body, string, string]>([
    ['request_id as a number', bodyOf({ request_id: 42 }), '/request_id', 'must be string'],
    ['request_id null (it is not nullable)', bodyOf({ request_id: null }), '/request_id', 'must be string'],
    ['request_id not a uuid', bodyOf({ request_id: 'req-1' }), '/request_id', 'must match format "uuid"'],
    ['position as a string', bodyOf({ position: '3' }), '/position', 'must be integer'],
    ['position as a fraction', bodyOf({ position: 1.5 }), '/position', 'must be integer'],
    ['position null', bodyOf({ position: null }), '/position', 'must be integer'],
    ['position beyond int32', bodyOf({ position: 2147483648 }), '/position', 'must be <= 2147483647'],
    ['position below int32', bodyOf({ position: -2147483649 }), '/position', 'must be >= -2147483648'],
    ['clicked_chunk_id as a number', bodyOf({ clicked_chunk_id: 7 }), '/clicked_chunk_id', 'must be string or null'],
    ['clicked_chunk_id not a uuid', bodyOf({ clicked_chunk_id: 'chunk-7' }), '/clicked_chunk_id', 'must match format "uuid"'],
    ['clicked_chunk_tracking_id as a number', bodyOf({ clicked_chunk_tracking_id: 7 }), '/clicked_chunk_tracking_id', 'must be string or null'],
    ['clicked_chunk_tracking_id as an array', bodyOf({ clicked_chunk_tracking_id: ['sku-1'] }), '/clicked_chunk_tracking_id', 'must be string or null'],
  ])('%s is rejected, naming the field', (_name, body, path, message) => {
    expectRejectedAt(body, path, message);
    expect(rejected(body).paths).toEqual([path]);
  });

  test.each([
    ['click', 'click'],
    ['Search (the enum is case-sensitive)', 'Search'],
    ['a number', 1],
    ['null', null],
  ])('ctr_type %s is rejected, listing the allowed values', (_name, ctrType) => {
    expect(rejected(bodyOf({ ctr_type: ctrType }))).toEqual({
      paths: ['/ctr_type'],
      message: 'Invalid field "/ctr_type": must be one of "search", "rag", "recommendation"',
    });
  });

  test.each([
    ['null', null],
    ['an array', [fullBody]],
    ['a string', 'search'],
    ['a number', 1],
  ])('a body that is %s is rejected as a whole', (_name, body) => {
    expect(rejected(body)).toEqual({ paths: [''], message: 'Invalid body: must be object' });
  });

  test('every problem is reported at once', () => {
    expect(rejected({ ctr_type: 'bogus', position: 'x', clicked_chunk_id: 1 }).paths.sort()).toEqual(['/clicked_chunk_id', '/ctr_type', '/position', '/request_id']);
  });
});
