import type { Envelope } from '../envelope';
import { loadSchema } from '../validation';
import { greenflashEventSchemaFile, influenceQualityScore, normaliseGreenflashEvent, validateGreenflashEvent } from './greenflash';
import type { RequestContext } from './common';
import { expectValidEnvelope, validationProbe } from './probe.test-support';

type Body = Record<string, unknown>;

const context: RequestContext = {
  datasetId: 'prod_123',
  eventId: '1f0e4a52-8d1c-4b8e-9a4e-2f6f5c1d9b10',
  receivedAt: 1715644800123,
};

/** Every field the Greenflash SDK sends, with values shaped like the page's examples. */
const fullBody: Body = {
  eventType: 'subscription_upgraded',
  productId: 'prod_123',
  value: '99.00',
  valueType: 'currency',
  eventAt: '2024-05-14T10:00:00.250Z',
  insertId: 'upgrade-7781',
  sampleRate: 0.5,
  forceSample: true,
  influence: 'positive',
  qualityImpactScore: 0.8,
  properties: { source: 'web_app', campaign_id: '123' },
  userId: 'gf-user-1',
  externalUserId: 'user-42',
  organizationId: 'gf-org-1',
  externalOrganizationId: 'acme',
  conversationId: 'gf-conv-1',
  externalConversationId: 'thread-9',
};

/** The three required fields only. */
const minimalBody: Body = { eventType: 'signup', productId: 'prod_123', value: 'premium_plan' };

const fullEnvelope: Envelope = {
  schema_version: 1,
  event_id: context.eventId,
  insert_id: 'upgrade-7781',
  dataset_id: 'prod_123',
  source: 'greenflash',
  event_type: 'outcome',
  event_name: 'subscription_upgraded',
  occurred_at: 1715680800250,
  received_at: context.receivedAt,
  user_id: 'gf-user-1',
  organization_id: 'gf-org-1',
  request_id: null,
  request_type: null,
  position: null,
  query: null,
  page: null,
  items: [],
  is_conversion: null,
  revenue: 99,
  value: '99.00',
  value_type: 'currency',
  influence: 'positive',
  quality_score: 0.8,
  sample_rate: 0.5,
  force_sample: true,
  properties: { source: 'web_app', campaign_id: '123' },
  raw: fullBody,
};

const minimalEnvelope: Envelope = {
  schema_version: 1,
  event_id: context.eventId,
  insert_id: context.eventId,
  dataset_id: 'prod_123',
  source: 'greenflash',
  event_type: 'outcome',
  event_name: 'signup',
  occurred_at: context.receivedAt,
  received_at: context.receivedAt,
  user_id: null,
  organization_id: null,
  request_id: null,
  request_type: null,
  position: null,
  query: null,
  page: null,
  items: [],
  is_conversion: null,
  revenue: null,
  value: 'premium_plan',
  value_type: null,
  influence: null,
  quality_score: null,
  sample_rate: 1,
  force_sample: false,
  properties: null,
  raw: minimalBody,
};

function minimalWith(patch: Body): Body {
  return { ...structuredClone(minimalBody), ...patch };
}

function fullWithout(...fields: string[]): Body {
  const body = structuredClone(fullBody);
  for (const field of fields) delete body[field];
  return body;
}

function normalised(body: Body, ctx: RequestContext = context): Envelope {
  return normaliseGreenflashEvent(accepted(body), ctx);
}

const { accepted, rejected } = validationProbe(validateGreenflashEvent);

describe('valid Greenflash events', () => {
  test.each<[string, Body, Envelope]>([
    ['a full event (every field the SDK sends)', fullBody, fullEnvelope],
    ['a minimal event (the three required fields)', minimalBody, minimalEnvelope],
  ])('%s is accepted and normalised to the exact envelope, which passes validateEnvelope', (_name, body, expected) => {
    const original = structuredClone(body);
    const envelope = normalised(body);
    expect(envelope).toEqual(expected);
    expect(body).toEqual(original);
    expectValidEnvelope(envelope);
  });

  test('the examples in the schema file are the full and the minimal event', () => {
    expect(loadSchema(greenflashEventSchemaFile).examples).toEqual([fullBody, minimalBody]);
  });

  test('the influence table', () => {
    expect(influenceQualityScore).toEqual({ positive: 1, neutral: 0, negative: -1 });
  });

  test.each([
    ['positive', 1],
    ['neutral', 0],
    ['negative', -1],
  ])('influence %s without a qualityImpactScore gives quality_score %d', (influence, score) => {
    const envelope = normalised(minimalWith({ influence }));
    expect(envelope).toEqual({ ...minimalEnvelope, influence, quality_score: score, raw: minimalWith({ influence }) });
    expectValidEnvelope(envelope);
  });

  test.each<[string, Body, number | null]>([
    ['an explicit score wins over positive', { influence: 'positive', qualityImpactScore: 0.25 }, 0.25],
    ['an explicit score wins over negative', { influence: 'negative', qualityImpactScore: 0.5 }, 0.5],
    ['an explicit 0 wins over positive (0 is a score, not an absence)', { influence: 'positive', qualityImpactScore: 0 }, 0],
    ['an explicit -1 wins over neutral', { influence: 'neutral', qualityImpactScore: -1 }, -1],
    ['a score without an influence', { qualityImpactScore: -0.3 }, -0.3],
    ['neither a score nor an influence', {}, null],
  ])('quality_score: %s', (_name, patch, score) => {
    const envelope = normalised(minimalWith(patch));
    expect(envelope.quality_score).toBe(score);
    expect(envelope.influence).toBe(patch.influence ?? null);
    expectValidEnvelope(envelope);
  });

  test.each<[string, string, string | undefined, number | null]>([
    ['a currency amount', '99.00', 'currency', 99],
    ['a currency amount with cents', '19.95', 'currency', 19.95],
    ['a whole currency amount', '5', 'currency', 5],
    ['a negative currency amount (a refund)', '-12.5', 'currency', -12.5],
    ['a currency amount with spaces around it', ' 7.5 ', 'currency', 7.5],
    ['a currency value that is not a number', 'premium_plan', 'currency', null],
    ['a currency value with a symbol', '$99.00', 'currency', null],
    ['an empty currency value (not 0)', '', 'currency', null],
    ['a blank currency value (not 0)', '   ', 'currency', null],
    ['a currency value beyond the largest double', '1e400', 'currency', null],
    ['a numeric value', '99.00', 'numeric', null],
    ['a text value', '99.00', 'text', null],
    ['a boolean value', 'true', 'boolean', null],
    ['a value without a valueType', '99.00', undefined, null],
  ])('revenue: %s', (_name, value, valueType, revenue) => {
    const body = minimalWith(valueType === undefined ? { value } : { value, valueType });
    const envelope = normalised(body);
    expect(envelope.revenue).toBe(revenue);
    expect(envelope.value).toBe(value);
    expect(envelope.value_type).toBe(valueType ?? null);
    expectValidEnvelope(envelope);
  });

  test.each<[string, Body, string | undefined, string]>([
    ['the body insertId wins over the Idempotency-Key', { insertId: 'body-key' }, 'header-key', 'body-key'],
    ['the body insertId wins over the event id', { insertId: 'body-key' }, undefined, 'body-key'],
    ['the Idempotency-Key wins over the event id', {}, 'header-key', 'header-key'],
    ['the event id when there is neither', {}, undefined, context.eventId],
  ])('insert_id: %s', (_name, patch, idempotencyKey, insertId) => {
    const envelope = normalised(minimalWith(patch), { ...context, idempotencyKey });
    expect(envelope.insert_id).toBe(insertId);
    expect(envelope.event_id).toBe(context.eventId);
  });

  test.each([
    ['UTC', '2024-05-14T10:00:00Z', 1715680800000],
    ['UTC with milliseconds', '2024-05-14T10:00:00.250Z', 1715680800250],
    ['more fractional digits than milliseconds (truncated)', '2024-05-14T10:00:00.123456789Z', 1715680800123],
    ['a positive offset', '2024-05-14T12:00:00+02:00', 1715680800000],
    ['a negative offset', '2024-05-14T05:30:00-04:30', 1715680800000],
    ['an offset without a colon', '2024-05-14T12:00:00+0200', 1715680800000],
    ['lower-case t and z', '2024-05-14t10:00:00z', 1715680800000],
    ['a space for the T', '2024-05-14 10:00:00Z', 1715680800000],
    ['the epoch itself', '1970-01-01T00:00:00Z', 0],
    ['the epoch written with an offset', '1970-01-01T01:00:00+01:00', 0],
    ['the last millisecond a Date column holds', '2149-06-06T23:59:59.999Z', 5662310399999],
    ['a leap day', '2024-02-29T00:00:00Z', 1709164800000],
  ])('eventAt in %s becomes occurred_at in milliseconds', (_name, eventAt, ms) => {
    const envelope = normalised(minimalWith({ eventAt }));
    expect(envelope.occurred_at).toBe(ms);
    expect(envelope.received_at).toBe(context.receivedAt);
    expectValidEnvelope(envelope);
  });

  test('without eventAt, occurred_at is the receive time', () => {
    expect(normalised(minimalBody).occurred_at).toBe(context.receivedAt);
  });

  test.each<[string, Body, Partial<Envelope>]>([
    ['userId wins over externalUserId', { userId: 'gf-1', externalUserId: 'ext-1' }, { user_id: 'gf-1' }],
    ['externalUserId alone', { externalUserId: 'ext-1' }, { user_id: 'ext-1' }],
    ['organizationId wins over externalOrganizationId', { organizationId: 'gf-org', externalOrganizationId: 'acme' }, { organization_id: 'gf-org' }],
    ['externalOrganizationId alone', { externalOrganizationId: 'acme' }, { organization_id: 'acme' }],
    ['sampleRate 0', { sampleRate: 0 }, { sample_rate: 0 }],
    ['sampleRate 1', { sampleRate: 1 }, { sample_rate: 1 }],
    ['forceSample false', { forceSample: false }, { force_sample: false }],
    ['empty properties', { properties: {} }, { properties: {} }],
    ['nested properties', { properties: { a: { b: [1, 2] } } }, { properties: { a: { b: [1, 2] } } }],
    ['conversation ids (kept in raw only)', { conversationId: 'c-1', externalConversationId: 't-1' }, {}],
    ['an undeclared property (ignored, kept in raw)', { event_type: 'snake' }, {}],
    ['an empty value', { value: '' }, { value: '' }],
  ])('%s', (_name, patch, fields) => {
    const body = minimalWith(patch);
    const envelope = normalised(body);
    expect(envelope).toEqual({ ...minimalEnvelope, ...fields, raw: body });
    expectValidEnvelope(envelope);
  });

  test('dataset_id is the dataset the gateway passes (the productId), not read from the body', () => {
    expect(normalised(minimalBody, { ...context, datasetId: 'prod_other' }).dataset_id).toBe('prod_other');
  });
});

describe('rejected Greenflash events', () => {
  const requiredFields = ['eventType', 'productId', 'value'];

  test('the required-field table matches the schema', () => {
    expect([...(loadSchema(greenflashEventSchemaFile).required as string[])].sort()).toEqual([...requiredFields].sort());
  });

  test.each(requiredFields)('a body without %s is rejected, naming the field', (field) => {
    expect(rejected(fullWithout(field))).toEqual({ paths: [`/${field}`], message: `Invalid field "/${field}": is required` });
  });

  const stringFields = [
    'eventType',
    'productId',
    'value',
    'eventAt',
    'insertId',
    'userId',
    'externalUserId',
    'organizationId',
    'externalOrganizationId',
    'conversationId',
    'externalConversationId',
  ];

  test.each(stringFields.flatMap((field) => [[field, 42] as const, [field, null] as const, [field, ['x']] as const]))('%s given as %j is rejected, naming the field', (field, value) => {
    const body = { ...structuredClone(fullBody), [field]: value };
    expect(rejected(body)).toEqual({ paths: [`/${field}`], message: `Invalid field "/${field}": must be string` });
  });

  test.each<[string, Body, string, string]>([
    ['an empty eventType', minimalWith({ eventType: '' }), '/eventType', 'must NOT have fewer than 1 characters'],
    ['an empty productId', minimalWith({ productId: '' }), '/productId', 'must NOT have fewer than 1 characters'],
    ['a productId over 256 characters', minimalWith({ productId: 'p'.repeat(257) }), '/productId', 'must NOT have more than 256 characters'],
    ['an empty insertId', minimalWith({ insertId: '' }), '/insertId', 'must NOT have fewer than 1 characters'],
    ['an insertId over 256 characters', minimalWith({ insertId: 'i'.repeat(257) }), '/insertId', 'must NOT have more than 256 characters'],
    ['value as a number', minimalWith({ value: 99 }), '/value', 'must be string'],
    ['value as a boolean', minimalWith({ value: true }), '/value', 'must be string'],
    ['sampleRate below 0', minimalWith({ sampleRate: -0.1 }), '/sampleRate', 'must be >= 0'],
    ['sampleRate above 1', minimalWith({ sampleRate: 1.01 }), '/sampleRate', 'must be <= 1'],
    ['sampleRate as a percentage', minimalWith({ sampleRate: 10 }), '/sampleRate', 'must be <= 1'],
    ['sampleRate as a string', minimalWith({ sampleRate: '0.5' }), '/sampleRate', 'must be number'],
    ['forceSample as a string', minimalWith({ forceSample: 'true' }), '/forceSample', 'must be boolean'],
    ['forceSample as a number', minimalWith({ forceSample: 1 }), '/forceSample', 'must be boolean'],
    ['qualityImpactScore above 1', minimalWith({ qualityImpactScore: 1.5 }), '/qualityImpactScore', 'must be <= 1'],
    ['qualityImpactScore below -1', minimalWith({ qualityImpactScore: -1.01 }), '/qualityImpactScore', 'must be >= -1'],
    ['qualityImpactScore as a string', minimalWith({ qualityImpactScore: '0.5' }), '/qualityImpactScore', 'must be number'],
    ['properties as an array', minimalWith({ properties: ['a'] }), '/properties', 'must be object'],
    ['properties as a string', minimalWith({ properties: 'source=web' }), '/properties', 'must be object'],
    ['properties null', minimalWith({ properties: null }), '/properties', 'must be object'],
  ])('%s is rejected, naming the field', (_name, body, path, message) => {
    expect(rejected(body)).toEqual({ paths: [path], message: `Invalid field "${path}": ${message}` });
  });

  test.each<[string, Body, string, string]>([
    ['influence "good"', minimalWith({ influence: 'good' }), '/influence', '"positive", "negative", "neutral"'],
    ['influence "Positive" (case-sensitive)', minimalWith({ influence: 'Positive' }), '/influence', '"positive", "negative", "neutral"'],
    ['influence as a number', minimalWith({ influence: 1 }), '/influence', '"positive", "negative", "neutral"'],
    ['valueType "money"', minimalWith({ valueType: 'money' }), '/valueType', '"currency", "numeric", "text", "boolean"'],
    ['valueType "CURRENCY" (case-sensitive)', minimalWith({ valueType: 'CURRENCY' }), '/valueType', '"currency", "numeric", "text", "boolean"'],
    ['valueType null', minimalWith({ valueType: null }), '/valueType', '"currency", "numeric", "text", "boolean"'],
  ])('%s is rejected, naming the field and the allowed values', (_name, body, path, allowed) => {
    expect(rejected(body)).toEqual({ paths: [path], message: `Invalid field "${path}": must be one of ${allowed}` });
  });

  const notADateTime = 'must match format "date-time"';
  const unreadable = 'must be an ISO 8601 date-time with a time zone, such as "2024-05-14T10:00:00Z"';
  const outOfRange = 'must be between 1970-01-01T00:00:00Z and 2149-06-06T23:59:59.999Z';

  test.each([
    ['words', 'yesterday', notADateTime],
    ['a date without a time', '2024-05-14', notADateTime],
    ['a time without a time zone (it would depend on the server)', '2024-05-14T10:00:00', notADateTime],
    ['a day that does not exist', '2024-02-30T00:00:00Z', notADateTime],
    ['an hour that does not exist', '2024-05-14T24:00:00Z', notADateTime],
    ['Unix seconds as a string', '1715644800', notADateTime],
    ['an HTTP date', 'Tue, 14 May 2024 10:00:00 GMT', notADateTime],
    ['an empty string', '', notADateTime],
    ['a leap second (Date.parse cannot read it)', '2016-12-31T23:59:60Z', unreadable],
    ['an offset of hours only (Date.parse cannot read it)', '2024-05-14T12:00:00+02', unreadable],
    ['a time before 1970', '1969-12-31T23:59:59Z', outOfRange],
    ['the year 0', '0000-01-01T00:00:00Z', outOfRange],
    ['1970 in local time that is still 1969 in UTC', '1970-01-01T00:30:00+01:00', outOfRange],
    ['2149-06-06 in local time that is already 2149-06-07 in UTC', '2149-06-06T23:30:00-01:00', outOfRange],
    ['the year 9999', '9999-12-31T23:59:59Z', outOfRange],
  ])('eventAt as %s is rejected, naming /eventAt', (_name, eventAt, message) => {
    expect(rejected(minimalWith({ eventAt }))).toEqual({ paths: ['/eventAt'], message: `Invalid field "/eventAt": ${message}` });
  });

  test('an eventAt out of range is reported beside the other problems', () => {
    const { paths } = rejected({ eventType: '', productId: 'prod_123', value: '1', eventAt: '1969-01-01T00:00:00Z' });
    expect(paths).toEqual(['/eventType', '/eventAt']);
  });

  test.each([
    ['null', null],
    ['an array', [minimalBody]],
    ['a string', 'signup'],
    ['a number', 1],
  ])('a body that is %s is rejected as a whole', (_name, body) => {
    expect(rejected(body)).toEqual({ paths: [''], message: 'Invalid body: must be object' });
  });

  test('every problem is reported at once', () => {
    expect(rejected({ eventType: 5, value: 1, sampleRate: 2, influence: 'meh', eventAt: 'now' }).paths.sort()).toEqual([
      '/eventAt',
      '/eventType',
      '/influence',
      '/productId',
      '/sampleRate',
      '/value',
    ]);
  });
});
