import type { Envelope } from '../envelope';
import { loadSchema } from '../validation';
import {
  neuralensEventNames,
  neuralensEventSchemaFile,
  neuralensEventTypes,
  neuralensPages,
  normaliseNeuralensEvent,
  validateNeuralensEvent,
  type NeuralensEventName,
} from './neuralens';
import type { RequestContext } from './common';
import { expectValidEnvelope, validationProbe } from './probe.test-support';

type Body = Record<string, unknown>;

const context: RequestContext = {
  datasetId: 'neuralens-app-17',
  eventId: '1f0e4a52-8d1c-4b8e-9a4e-2f6f5c1d9b10',
  receivedAt: 1715644800123,
};

/** The request body exactly as Neuralens' page prints it, trailing comma in geo included. */
const seedExampleText = `{
    "uid": "3845",
    "items": [
        {
            "id": "AV768"
        }
    ],
    "query": "solid wood chair",
    "page": "SEARCH_RESULT_PAGE",
    "event": "CLICK_PRODUCT",
    "index": 3,
    "geo": {
        "lat": 31.34956697190882, 
        "long": 78.44615274878441,
        "region": "MG Road",
    },
    "timestamp": 1715644800
}`;

/** The seed's example, made JSON by dropping the trailing comma. */
const seedExample = JSON.parse(seedExampleText.replace(/,(\s*})/g, '$1')) as Body;

const seedEnvelope: Envelope = {
  schema_version: 1,
  event_id: context.eventId,
  insert_id: context.eventId,
  dataset_id: context.datasetId,
  source: 'neuralens',
  event_type: 'click',
  event_name: 'CLICK_PRODUCT',
  occurred_at: 1715644800000,
  received_at: context.receivedAt,
  user_id: '3845',
  organization_id: null,
  request_id: null,
  request_type: null,
  position: 3,
  query: 'solid wood chair',
  page: 'SEARCH_RESULT_PAGE',
  items: ['AV768'],
  is_conversion: null,
  revenue: null,
  geo: { lat: 31.34956697190882, long: 78.44615274878441, region: 'MG Road' },
  properties: null,
  raw: seedExample,
};

const minimalBody: Body = { event: 'VIEW_PRODUCT', page: 'CATEGORY_PAGE', items: [{ id: 'AV768' }], timestamp: 1715644800 };

function bodyOf(patch: Body = {}): Body {
  return { ...structuredClone(seedExample), ...patch };
}

function without(...fields: string[]): Body {
  const body = bodyOf();
  for (const field of fields) delete body[field];
  return body;
}

const { accepted, rejected, expectRejectedAt } = validationProbe(validateNeuralensEvent);

describe("the example on Neuralens' page", () => {
  test('as printed, it is not JSON (the trailing comma in geo)', () => {
    expect(() => JSON.parse(seedExampleText) as unknown).toThrow(SyntaxError);
  });

  test('without the trailing comma it is accepted and normalised to the exact envelope', () => {
    const original = structuredClone(seedExample);
    const envelope = normaliseNeuralensEvent(accepted(seedExample), context);
    expect(envelope).toEqual({ ...seedEnvelope, raw: original });
    expect(seedExample).toEqual(original);
    expectValidEnvelope(envelope);
  });

  test('the examples in the schema file are accepted and equal the page example', () => {
    const examples = loadSchema(neuralensEventSchemaFile).examples as unknown[];
    expect(examples).toEqual([seedExample]);
  });
});

describe('valid Neuralens events', () => {
  /** The mapping the envelope's event_type follows, written out independently of the module's table. */
  const expectedEventTypes: Record<NeuralensEventName, string> = {
    VIEW_PRODUCT: 'view',
    CLICK_PRODUCT: 'click',
    VIEW_SUGGESTION: 'view',
    CLICK_SUGGESTION: 'click',
    LAND_PRODUCT_PAGE: 'land_product_page',
    FAVORITE: 'favorite',
    SHARE: 'share',
    ADD_TO_CART: 'add_to_cart',
    PURCHASE: 'purchase',
  };

  test('the event list, the mapping table and the schema enum agree', () => {
    const schemaEvents = (loadSchema(neuralensEventSchemaFile).properties as Record<string, { enum: unknown[] }>).event?.enum;
    expect(schemaEvents).toEqual([...neuralensEventNames]);
    expect(Object.keys(neuralensEventTypes)).toEqual([...neuralensEventNames]);
    expect(neuralensEventTypes).toEqual(expectedEventTypes);
  });

  test('the page list and the schema enum agree', () => {
    const schemaPages = (loadSchema(neuralensEventSchemaFile).properties as Record<string, { enum: unknown[] }>).page?.enum;
    expect(schemaPages).toEqual([...neuralensPages]);
  });

  test.each(Object.entries(expectedEventTypes))('%s becomes event_type %s, keeping its name as event_name', (event, eventType) => {
    const body = bodyOf({ event });
    const envelope = normaliseNeuralensEvent(accepted(body), context);
    expect(envelope).toEqual({ ...seedEnvelope, event_type: eventType, event_name: event, raw: body });
    expectValidEnvelope(envelope);
  });

  test.each(neuralensPages)('page %s is accepted and becomes page', (page) => {
    const envelope = normaliseNeuralensEvent(accepted(bodyOf({ page })), context);
    expect(envelope.page).toBe(page);
  });

  const cases: [string, Body, Partial<Envelope>][] = [
    ['only the required fields', minimalBody, { event_type: 'view', event_name: 'VIEW_PRODUCT', page: 'CATEGORY_PAGE', user_id: null, position: null, query: null, geo: null }],
    ['uid null (an anonymous user)', bodyOf({ uid: null }), { user_id: null }],
    ['no uid', without('uid'), { user_id: null }],
    ['index 0 (indices start at 0)', bodyOf({ index: 0 }), { position: 0 }],
    ['no index', without('index'), { position: null }],
    ['no query', without('query'), { query: null }],
    ['an empty geo', bodyOf({ geo: {} }), { geo: {} }],
    ['a geo with a region only', bodyOf({ geo: { region: 'Bengaluru' } }), { geo: { region: 'Bengaluru' } }],
    ['geo at the edges', bodyOf({ geo: { lat: -90, long: 180, region: '' } }), { geo: { lat: -90, long: 180, region: '' } }],
    ['a geo with an undeclared field (dropped from geo, kept in raw)', bodyOf({ geo: { lat: 1, long: 2, city: 'Pune' } }), { geo: { lat: 1, long: 2 } }],
    ['no geo', without('geo'), { geo: null }],
    ['timestamp 0', bodyOf({ timestamp: 0 }), { occurred_at: 0 }],
    ['the last second a Date column holds (2149-06-06)', bodyOf({ timestamp: 5662310399 }), { occurred_at: 5662310399000 }],
    ['an undeclared property (ignored, kept in raw)', bodyOf({ session: 'abc' }), {}],
    ['an undeclared property of an item (ignored)', bodyOf({ items: [{ id: 'AV768', price: 10 }] }), {}],
    ['a PURCHASE of several items', bodyOf({ event: 'PURCHASE', items: [{ id: 'AV768' }, { id: 'AV769' }, { id: 'AV768' }] }), { event_type: 'purchase', event_name: 'PURCHASE', items: ['AV768', 'AV769', 'AV768'] }],
    ['a PURCHASE of one item', bodyOf({ event: 'PURCHASE' }), { event_type: 'purchase', event_name: 'PURCHASE' }],
  ];

  test.each(cases)('%s: accepted and normalised to the exact envelope', (_name, body, fields) => {
    const original = structuredClone(body);
    const envelope = normaliseNeuralensEvent(accepted(body), context);
    expect(envelope).toEqual({ ...seedEnvelope, ...fields, raw: original });
    expect(body).toEqual(original);
  });

  test.each(cases)('%s: the envelope passes validateEnvelope', (_name, body) => {
    expectValidEnvelope(normaliseNeuralensEvent(accepted(body), context));
  });

  test.each([
    ['with an Idempotency-Key, it is the insert_id', { ...context, idempotencyKey: 'nl-1' }, 'nl-1'],
    ['without one, the insert_id is the event id', context, context.eventId],
  ])('%s', (_name, ctx, insertId) => {
    const envelope = normaliseNeuralensEvent(accepted(bodyOf()), ctx);
    expect(envelope.insert_id).toBe(insertId);
    expect(envelope.event_id).toBe(context.eventId);
    expect(envelope.dataset_id).toBe(context.datasetId);
  });
});

describe('rejected Neuralens events', () => {
  const requiredFields = ['event', 'page', 'items', 'timestamp'];

  test('the required-field table matches the schema', () => {
    expect([...(loadSchema(neuralensEventSchemaFile).required as string[])].sort()).toEqual([...requiredFields].sort());
  });

  test.each(requiredFields)('a body without %s is rejected, naming the field', (field) => {
    expectRejectedAt(without(field), `/${field}`, 'is required');
  });

  test('an item without an id is rejected, naming /items/0/id', () => {
    expect(rejected(bodyOf({ items: [{ sku: 'AV768' }] }))).toEqual({ paths: ['/items/0/id'], message: 'Invalid field "/items/0/id": is required' });
  });

  test.each<[string, Body, string, string]>([
    ['uid as a number', bodyOf({ uid: 3845 }), '/uid', 'must be string or null'],
    ['items as an object', bodyOf({ items: { id: 'AV768' } }), '/items', 'must be array'],
    ['items empty', bodyOf({ items: [] }), '/items', 'must NOT have fewer than 1 items'],
    ['an item as a bare string', bodyOf({ items: ['AV768'] }), '/items/0', 'must be object'],
    ['an item id as a number', bodyOf({ items: [{ id: 768 }] }), '/items/0/id', 'must be string'],
    ['an item id null', bodyOf({ items: [{ id: null }] }), '/items/0/id', 'must be string'],
    ['query as a number', bodyOf({ query: 7 }), '/query', 'must be string'],
    ['index negative', bodyOf({ index: -1 }), '/index', 'must be >= 0'],
    ['index as a fraction', bodyOf({ index: 1.5 }), '/index', 'must be integer'],
    ['index as a string', bodyOf({ index: '3' }), '/index', 'must be integer'],
    ['index beyond int32', bodyOf({ index: 2147483648 }), '/index', 'must be <= 2147483647'],
    ['geo as a string', bodyOf({ geo: 'MG Road' }), '/geo', 'must be object'],
    ['geo.lat above 90', bodyOf({ geo: { lat: 90.5, long: 0 } }), '/geo/lat', 'must be <= 90'],
    ['geo.lat below -90', bodyOf({ geo: { lat: -91, long: 0 } }), '/geo/lat', 'must be >= -90'],
    ['geo.lat as a string', bodyOf({ geo: { lat: '31.3', long: 0 } }), '/geo/lat', 'must be number'],
    ['geo.long above 180', bodyOf({ geo: { lat: 0, long: 180.1 } }), '/geo/long', 'must be <= 180'],
    ['geo.long below -180', bodyOf({ geo: { lat: 0, long: -181 } }), '/geo/long', 'must be >= -180'],
    ['geo.region as a number', bodyOf({ geo: { region: 5 } }), '/geo/region', 'must be string'],
    ['timestamp negative', bodyOf({ timestamp: -1 }), '/timestamp', 'must be >= 0'],
    ['timestamp as a fraction', bodyOf({ timestamp: 1715644800.5 }), '/timestamp', 'must be integer'],
    ['timestamp as a string', bodyOf({ timestamp: '1715644800' }), '/timestamp', 'must be integer'],
    ['timestamp as an ISO date', bodyOf({ timestamp: '2024-05-14T00:00:00Z' }), '/timestamp', 'must be integer'],
    ['timestamp in milliseconds', bodyOf({ timestamp: 1715644800000 }), '/timestamp', 'must be <= 5662310399'],
  ])('%s is rejected, naming the field', (_name, body, path, message) => {
    expectRejectedAt(body, path, message);
    expect(rejected(body).paths).toEqual([path]);
  });

  test.each<[string, Body, string]>([
    ['event in lower case', bodyOf({ event: 'click_product' }), '/event'],
    ['an unknown event', bodyOf({ event: 'CHECKOUT' }), '/event'],
    ['a numeric event', bodyOf({ event: 1 }), '/event'],
    ['an unknown page', bodyOf({ page: 'HOME_PAGE' }), '/page'],
    ['page null', bodyOf({ page: null }), '/page'],
  ])('%s is rejected, naming the field and the allowed values', (_name, body, path) => {
    expectRejectedAt(body, path, 'must be one of ');
  });

  test('the allowed pages are listed in the message', () => {
    expect(rejected(bodyOf({ page: 'HOME_PAGE' })).message).toBe(
      'Invalid field "/page": must be one of "SEARCH_RESULT_PAGE", "AUTOCOMPLETE", "CATEGORY_PAGE", "PRODUCT_PAGE"',
    );
  });

  const notPurchases = neuralensEventNames.filter((e) => e !== 'PURCHASE');

  test.each(notPurchases)('%s with several items is rejected, naming /items', (event) => {
    expect(rejected(bodyOf({ event, items: [{ id: 'AV768' }, { id: 'AV769' }] }))).toEqual({
      paths: ['/items'],
      message: 'Invalid field "/items": must NOT have more than 1 items',
    });
  });

  test.each([
    ['null', null],
    ['an array', [seedExample]],
    ['a string', 'CLICK_PRODUCT'],
    ['a number', 1],
  ])('a body that is %s is rejected as a whole', (_name, body) => {
    expect(rejected(body)).toEqual({ paths: [''], message: 'Invalid body: must be object' });
  });

  test('every problem is reported at once', () => {
    expect(rejected({ event: 'CLICK', page: 'PDP', items: [{}], timestamp: -5, uid: 1 }).paths.sort()).toEqual(['/event', '/items/0/id', '/page', '/timestamp', '/uid']);
  });
});
