import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { columnTypeLimits, latestEventTime, limitedEnvelopeColumns, maxEnvelopeDepth, valueIssues } from './column-domains';
import { validateEnvelope } from './envelope';
import { loadSchema, schemaDirectory } from './validation';

test('the loaded envelope schema carries the column limits, and the file does not repeat them', () => {
  const file = JSON.parse(readFileSync(join(schemaDirectory, 'envelope.v1.json'), 'utf8')) as { properties: Record<string, Record<string, unknown>> };
  const loaded = loadSchema('envelope.v1.json') as { properties: Record<string, Record<string, unknown>> };
  for (const [field, type] of Object.entries(limitedEnvelopeColumns)) {
    expect(loaded.properties[field]).toMatchObject(columnTypeLimits[type]);
    for (const keyword of Object.keys(columnTypeLimits[type])) expect([field, keyword, file.properties[field]?.[keyword]]).toEqual([field, keyword, undefined]);
  }
});

test("Neuralens' timestamp (Unix seconds) ends where an event's time does", () => {
  const neuralens = loadSchema('dialects/neuralens-event.json') as { properties: { timestamp: { maximum: number } } };
  expect(neuralens.properties.timestamp.maximum).toBe(Math.floor(latestEventTime / 1000));
});

const envelope = (patch: Record<string, unknown>): Record<string, unknown> => ({
  schema_version: 1,
  event_id: '1f0e4a52-8d1c-4b8e-9a4e-2f6f5c1d9b10',
  insert_id: 'i-1',
  dataset_id: 'ds',
  source: 'native',
  event_type: 'view',
  event_name: 'view',
  occurred_at: 1715644800000,
  received_at: 1715644800000,
  ...patch,
});

const issuesOf = (patch: Record<string, unknown>): string[] => {
  const result = validateEnvelope(envelope(patch));
  return result.ok ? [] : result.issues.map((i) => `${i.path} ${i.message}`);
};

function nested(levels: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
}

describe('an envelope is refused, naming the field, when a column cannot hold it', () => {
  test.each<[string, Record<string, unknown>, string]>([
    ['a lone high surrogate', { event_name: 'a\ud800b' }, '/event_name is not well-formed Unicode'],
    ['a lone low surrogate', { user_id: '\udc00' }, '/user_id is not well-formed Unicode'],
    ['a lone surrogate deep in properties', { properties: { a: [{ b: '\ud83d' }] } }, '/properties/a/0/b is not well-formed Unicode'],
    ['a lone surrogate in a property name', { properties: { ['k\udfff']: 1 } }, '/properties/k\udfff has a name that is not well-formed Unicode'],
    ['a lone surrogate in raw', { raw: ['\ud800'] }, '/raw/0 is not well-formed Unicode'],
    ['a lone surrogate in an item', { items: ['sku', '\udbff'] }, '/items/1 is not well-formed Unicode'],
    ['revenue of 10^12', { revenue: 1e12 }, '/revenue must be < 1000000000000'],
    ['revenue of -10^12', { revenue: -1e12 }, '/revenue must be > -1000000000000'],
    ['a position past Int32', { position: 2 ** 31 }, '/position must be <= 2147483647'],
    ['a position below Int32', { position: -(2 ** 31) - 1 }, '/position must be >= -2147483648'],
    ['an occurred_at after the last day a Date holds', { occurred_at: latestEventTime + 1 }, `/occurred_at must be <= ${latestEventTime}`],
    ['an occurred_at in 9999', { occurred_at: 253402300799999 }, `/occurred_at must be <= ${latestEventTime}`],
    ['a received_at before 1970', { received_at: -1 }, '/received_at must be >= 0'],
  ])('%s', (_name, patch, issue) => {
    expect(issuesOf(patch).filter((found) => found.startsWith(issue))).toHaveLength(1);
  });

  test('properties nested 100,000 levels are reported, not a stack overflow', () => {
    const issues = issuesOf({ properties: nested(100_000) });
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatch(/^\/properties(\/a){32} is nested deeper than 33 levels$/);
  });
});

describe('an envelope at the edge of every column is accepted', () => {
  test.each<[string, Record<string, unknown>]>([
    ['the largest revenue a Decimal(18, 6) holds', { revenue: 999_999_999_999.9999 }],
    ['the smallest revenue', { revenue: -999_999_999_999.9999 }],
    ['Int32 positions at both ends', { position: 2 ** 31 - 1 }],
    ['the first millisecond of 1970', { occurred_at: 0, received_at: 0 }],
    ['the last millisecond a Date holds', { occurred_at: latestEventTime }],
    ['NUL and 4-byte characters', { event_name: 'a\u0000b', query: '🛒 chair 𝄞', properties: { '😀': '\u0000' } }],
    ['properties as deep as a body may nest', { properties: nested(31) }],
    ['raw holding a body nested 32 levels', { raw: nested(32) }],
  ])('%s', (_name, patch) => {
    expect(issuesOf(patch)).toEqual([]);
  });
});

test('valueIssues reports at most ten problems, so a hostile value costs a bounded answer', () => {
  expect(valueIssues(Array.from({ length: 1000 }, () => '\ud800'), maxEnvelopeDepth)).toHaveLength(10);
});
