import type { ErrorObject } from 'ajv/dist/2020';
import { checkEnvelope, validateEnvelope, type Envelope } from './envelope';
import { describeIssues, envelopeSchemaFile, formatIssues, loadSchema, type ValidationIssue, type ValidationResult } from './validation';

/** An ajv error as ajv reports it; only the fields describeIssues reads matter. */
function ajvError(keyword: string, instancePath: string, params: Record<string, unknown> = {}, message?: string): ErrorObject {
  return { keyword, instancePath, schemaPath: `#/${keyword}`, params, ...(message === undefined ? {} : { message }) };
}

describe('describeIssues', () => {
  test('a union whose object branch failed deeper reports the deeper field, not "must be null"', () => {
    const issues = describeIssues([
      ajvError('format', '/request/request_id', { format: 'uuid' }, 'must match format "uuid"'),
      ajvError('type', '/request', { type: 'null' }, 'must be null'),
      ajvError('anyOf', '/request', {}, 'must match a schema in anyOf'),
    ]);
    expect(issues).toEqual([{ path: '/request/request_id', message: 'must match format "uuid"' }]);
  });

  test('a union whose branches all failed on type merges them: "must be object or null"', () => {
    const issues = describeIssues([
      ajvError('type', '/clicked_items', { type: 'object' }, 'must be object'),
      ajvError('type', '/clicked_items', { type: 'null' }, 'must be null'),
      ajvError('anyOf', '/clicked_items', {}, 'must match a schema in anyOf'),
    ]);
    expect(issues).toEqual([{ path: '/clicked_items', message: 'must be object or null' }]);
  });

  test('a multi-type error ("string,null") reads as alternatives, and repeated types are named once', () => {
    expect(describeIssues([ajvError('type', '/user_id', { type: 'string,null' })])).toEqual([{ path: '/user_id', message: 'must be string or null' }]);
    expect(describeIssues([ajvError('type', '/geo', { type: 'object,null' }), ajvError('type', '/geo', { type: 'object' })])).toEqual([
      { path: '/geo', message: 'must be object or null' },
    ]);
  });

  test('a type error on a field that is not a union is kept even when deeper errors exist', () => {
    const issues = describeIssues([ajvError('type', '/items', { type: 'array' }), ajvError('type', '/items/0', { type: 'string' })]);
    expect(issues).toEqual([
      { path: '/items', message: 'must be array' },
      { path: '/items/0', message: 'must be string' },
    ]);
  });

  test('a union at one path is not hidden by errors under a sibling that shares its prefix', () => {
    const issues = describeIssues([
      ajvError('type', '/request', { type: 'object' }),
      ajvError('type', '/request', { type: 'null' }),
      ajvError('anyOf', '/request', {}),
      ajvError('format', '/request_id', {}, 'must match format "uuid"'),
    ]);
    expect(issues).toEqual([
      { path: '/request_id', message: 'must match format "uuid"' },
      { path: '/request', message: 'must be object or null' },
    ]);
  });

  // ajv reports a missing property at the object's own path (params.missingProperty names it),
  // so the "deeper" check misses it and "must be null" on the parent survives. Known defect.
  test('a union whose object branch lacks a required field reports only that field', () => {
    const issues = describeIssues([
      ajvError('required', '/clicked_items', { missingProperty: 'position' }),
      ajvError('type', '/clicked_items', { type: 'null' }),
      ajvError('anyOf', '/clicked_items', {}),
    ]);
    expect(issues).toEqual([{ path: '/clicked_items/position', message: 'is required' }]);
  });

  test.each<[string, ErrorObject, ValidationIssue]>([
    ['required names the missing property', ajvError('required', '', { missingProperty: 'event_id' }), { path: '/event_id', message: 'is required' }],
    ['required below the root', ajvError('required', '/items/0', { missingProperty: 'revenue' }), { path: '/items/0/revenue', message: 'is required' }],
    ['additionalProperties names the extra property', ajvError('additionalProperties', '', { additionalProperty: 'extra' }), { path: '/extra', message: 'is not an allowed property' }],
    ['property names are escaped as JSON pointers', ajvError('additionalProperties', '/geo', { additionalProperty: 'a/b~c' }), { path: '/geo/a~1b~0c', message: 'is not an allowed property' }],
    ['a discriminator without its tag', ajvError('discriminator', '', { error: 'tag', tag: 'event_type', tagValue: undefined }), { path: '/event_type', message: 'is required and must be a string' }],
    ['a discriminator with an unknown tag', ajvError('discriminator', '', { error: 'mapping', tag: 'event_type', tagValue: 'signup' }), { path: '/event_type', message: 'has an unknown value "signup"' }],
    ['enum lists the allowed values', ajvError('enum', '/source', { allowedValues: ['trieve', null] }), { path: '/source', message: 'must be one of "trieve", null' }],
    ['const names the value', ajvError('const', '/schema_version', { allowedValue: 1 }), { path: '/schema_version', message: 'must be 1' }],
    ["other keywords keep ajv's message", ajvError('maximum', '/sample_rate', { limit: 1 }, 'must be <= 1'), { path: '/sample_rate', message: 'must be <= 1' }],
    ['a keyword without a message', ajvError('pattern', '/event_type', {}), { path: '/event_type', message: 'is not valid' }],
  ])('%s', (_name, error, issue) => {
    expect(describeIssues([error])).toEqual([issue]);
  });

  test('the same issue reported twice is listed once', () => {
    const error = ajvError('required', '', { missingProperty: 'event_id' });
    expect(describeIssues([error, { ...error }])).toEqual([{ path: '/event_id', message: 'is required' }]);
  });

  test('"if" and union keywords are not issues by themselves; with nothing else left the value is "not valid"', () => {
    expect(describeIssues([ajvError('if', ''), ajvError('oneOf', ''), ajvError('anyOf', '/x')])).toEqual([{ path: '', message: 'is not valid' }]);
    expect(describeIssues([])).toEqual([{ path: '', message: 'is not valid' }]);
  });
});

describe('formatIssues', () => {
  test('names the field first, and the body for a root issue', () => {
    expect(formatIssues([{ path: '/clicked_items/position', message: 'must be integer' }])).toBe('Invalid field "/clicked_items/position": must be integer');
    expect(formatIssues([{ path: '', message: 'must be object' }])).toBe('Invalid body: must be object');
  });

  test('joins several issues with "; "', () => {
    expect(
      formatIssues([
        { path: '/a', message: 'is required' },
        { path: '', message: 'is not valid' },
        { path: '/b/0', message: 'must be string' },
      ]),
    ).toBe('Invalid field "/a": is required; Invalid body: is not valid; Invalid field "/b/0": must be string');
  });

  test('no issues, no text', () => {
    expect(formatIssues([])).toBe('');
  });
});

const envelopeSchema = loadSchema(envelopeSchemaFile) as {
  required: string[];
  properties: Record<string, unknown>;
  examples: Record<string, unknown>[];
};

function exampleEnvelope(): Record<string, unknown> {
  const example = envelopeSchema.examples[0];
  if (example === undefined) throw new Error('schemas/envelope.v1.json has no example');
  return structuredClone(example);
}

/** validateEnvelope's issues, which checkEnvelope must give too. */
function issuesOf(value: unknown): ValidationIssue[] {
  const issues = (result: ValidationResult<Envelope>): ValidationIssue[] => (result.ok ? [] : result.issues);
  const checked = issues(checkEnvelope(value));
  const validated = issues(validateEnvelope(value));
  expect(checked).toEqual(validated);
  return validated;
}

describe('validateEnvelope', () => {
  test("accepts the schema's own example and fills in the defaults", () => {
    const example = exampleEnvelope();
    const result = validateEnvelope(example);
    expect(result.ok ? [] : formatIssues(result.issues)).toEqual([]);
    expect(result.ok && result.value).toEqual({ ...exampleEnvelope(), sample_rate: 1, force_sample: false });
  });

  test('checkEnvelope gives the same answer and leaves the envelope as it was', () => {
    const example = exampleEnvelope();
    delete example.items;
    const before = structuredClone(example);
    expect(checkEnvelope(example)).toEqual({ ok: true, value: before });
    expect(example).toStrictEqual(before);
  });

  test('fills items with [] when absent', () => {
    const example = exampleEnvelope();
    delete example.items;
    const result = validateEnvelope(example);
    expect(result.ok && result.value.items).toEqual([]);
  });

  test('the required fields are the ones the schema lists', () => {
    expect([...envelopeSchema.required].sort()).toEqual(
      ['schema_version', 'event_id', 'insert_id', 'dataset_id', 'source', 'event_type', 'event_name', 'occurred_at', 'received_at'].sort(),
    );
  });

  test.each(envelopeSchema.required)('rejects an envelope without %s', (field) => {
    const envelope = exampleEnvelope();
    delete envelope[field];
    expect(issuesOf(envelope)).toEqual([{ path: `/${field}`, message: 'is required' }]);
  });

  test.each<[string, Record<string, unknown>, ValidationIssue]>([
    ['an unknown top-level property', { extra: 1 }, { path: '/extra', message: 'is not an allowed property' }],
    ['a camelCase twin of a known property', { eventId: 'x' }, { path: '/eventId', message: 'is not an allowed property' }],
    ['an unknown property in geo', { geo: { lat: 1, city: 'Oslo' } }, { path: '/geo/city', message: 'is not an allowed property' }],
    ['a non-uuid event_id', { event_id: 'evt-1' }, { path: '/event_id', message: 'must match format "uuid"' }],
    ['an event_id with a missing digit', { event_id: '1f0e4a52-8d1c-4b8e-9a4e-2f6f5c1d9b1' }, { path: '/event_id', message: 'must match format "uuid"' }],
    ['an upper-case event_type', { event_type: 'Purchase' }, { path: '/event_type', message: 'must match pattern "^[a-z][a-z0-9_]{0,63}$"' }],
    ['an event_type with a hyphen', { event_type: 'add-to-cart' }, { path: '/event_type', message: 'must match pattern "^[a-z][a-z0-9_]{0,63}$"' }],
    ['an event_type starting with a digit', { event_type: '1st_view' }, { path: '/event_type', message: 'must match pattern "^[a-z][a-z0-9_]{0,63}$"' }],
    ['an empty event_type', { event_type: '' }, { path: '/event_type', message: 'must match pattern "^[a-z][a-z0-9_]{0,63}$"' }],
    ['an event_type of 65 characters', { event_type: 'a'.repeat(65) }, { path: '/event_type', message: 'must match pattern "^[a-z][a-z0-9_]{0,63}$"' }],
    ['a negative occurred_at', { occurred_at: -1 }, { path: '/occurred_at', message: 'must be >= 0' }],
    ['a fractional occurred_at', { occurred_at: 1715644800000.5 }, { path: '/occurred_at', message: 'must be integer' }],
    ['an occurred_at as a string', { occurred_at: '1715644800000' }, { path: '/occurred_at', message: 'must be integer' }],
    ['an occurred_at after 2149-06-06, the last day a Date holds', { occurred_at: 5662310400000 }, { path: '/occurred_at', message: 'must be <= 5662310399999' }],
    ['a negative received_at', { received_at: -5 }, { path: '/received_at', message: 'must be >= 0' }],
    ['a sample_rate above 1', { sample_rate: 1.01 }, { path: '/sample_rate', message: 'must be <= 1' }],
    ['a negative sample_rate', { sample_rate: -0.1 }, { path: '/sample_rate', message: 'must be >= 0' }],
    ['a null sample_rate', { sample_rate: null }, { path: '/sample_rate', message: 'must be number' }],
    ['schema_version 2', { schema_version: 2 }, { path: '/schema_version', message: 'must be 1' }],
    ['an unknown source', { source: 'segment' }, { path: '/source', message: 'must be one of "trieve", "trieve_ctr", "neuralens", "greenflash", "native"' }],
    ['an empty insert_id', { insert_id: '' }, { path: '/insert_id', message: 'must NOT have fewer than 1 characters' }],
    ['a geo latitude out of range', { geo: { lat: 91 } }, { path: '/geo/lat', message: 'must be <= 90' }],
    ['geo as a string', { geo: 'Oslo' }, { path: '/geo', message: 'must be object or null' }],
    ['items holding a number', { items: ['sku-1', 2] }, { path: '/items/1', message: 'must be string' }],
    ['a quality_score above 1', { quality_score: 2 }, { path: '/quality_score', message: 'must be <= 1' }],
  ])('rejects %s, naming the field', (_name, patch, issue) => {
    expect(issuesOf({ ...exampleEnvelope(), ...patch })).toEqual([issue]);
  });

  test.each<[string, Record<string, unknown>]>([
    ['a one-letter event_type', { event_type: 'a' }],
    ['an event_type of 64 characters', { event_type: 'a'.repeat(64) }],
    ['sample_rate 0', { sample_rate: 0 }],
    ['sample_rate 1', { sample_rate: 1 }],
    ['occurred_at 0', { occurred_at: 0 }],
    ['every nullable field null', { user_id: null, organization_id: null, request_id: null, request_type: null, position: null, query: null, page: null, is_conversion: null, revenue: null, value: null, value_type: null, influence: null, quality_score: null, geo: null, properties: null }],
    ['any raw value', { raw: ['anything', 1, null] }],
  ])('accepts %s', (_name, patch) => {
    expect(issuesOf({ ...exampleEnvelope(), ...patch })).toEqual([]);
  });

  test('reports every problem at once', () => {
    const paths = issuesOf({ ...exampleEnvelope(), event_id: 'x', sample_rate: 2, extra: true }).map((i) => i.path);
    expect(paths.sort()).toEqual(['/event_id', '/extra', '/sample_rate']);
  });
});

describe('the Envelope type and schemas/envelope.v1.json', () => {
  // Envelope is generated from the schema (scripts/generate-types.ts); these lists fail to compile
  // when it gains or loses a property, or one changes between required and optional, and the
  // tests below compare them with the schema file, so a generator that drifts is caught too.
  const envelopeKeys: Record<keyof Envelope, true> = {
    schema_version: true,
    event_id: true,
    insert_id: true,
    dataset_id: true,
    source: true,
    event_type: true,
    event_name: true,
    occurred_at: true,
    received_at: true,
    user_id: true,
    organization_id: true,
    request_id: true,
    request_type: true,
    position: true,
    query: true,
    page: true,
    items: true,
    is_conversion: true,
    revenue: true,
    value: true,
    value_type: true,
    influence: true,
    quality_score: true,
    geo: true,
    sample_rate: true,
    force_sample: true,
    properties: true,
    raw: true,
  };

  type RequiredKeys<T> = { [K in keyof T]-?: Record<never, never> extends Pick<T, K> ? never : K }[keyof T];
  const requiredEnvelopeKeys: Record<RequiredKeys<Envelope>, true> = {
    schema_version: true,
    event_id: true,
    insert_id: true,
    dataset_id: true,
    source: true,
    event_type: true,
    event_name: true,
    occurred_at: true,
    received_at: true,
  };

  test("the interface's properties are the schema's properties", () => {
    expect(Object.keys(envelopeKeys).sort()).toEqual(Object.keys(envelopeSchema.properties).sort());
  });

  test("the interface's required properties are the schema's required properties", () => {
    expect(Object.keys(requiredEnvelopeKeys).sort()).toEqual([...envelopeSchema.required].sort());
  });
});
