/**
 * The envelope a dialect makes from a body its schema accepted is valid by construction, except
 * for what validateDialectEnvelope checks again (the column limits, the defaults): for every such
 * body, validateDialectEnvelope gives exactly validateEnvelope's answer, so the gateway validates
 * an event once. Bodies are generated from each dialect's schema in schemas/, with the edges of
 * every bound (a revenue of 1e12, a time past 2149, a 257-character id), and kept when the
 * dialect's own checks accept them, as the gateway keeps them.
 */
import fc from 'fast-check';
import { maxNestingDepth, latestEventTime, valueIssues } from '../column-domains';
import { validateDialectEnvelope, validateEnvelope, type Envelope } from '../envelope';
import { loadSchema, type ValidationResult } from '../validation';
import type { RequestContext } from './common';
import { greenflashEventSchemaFile, normaliseGreenflashEvent, validateGreenflashEvent } from './greenflash';
import { neuralensEventSchemaFile, normaliseNeuralensEvent, validateNeuralensEvent } from './neuralens';
import { normaliseTrieveCtr, trieveCtrSchemaFile, validateTrieveCtr } from './trieve-ctr';
import { normaliseTrieveEvent, trieveEventSchemaFile, validateTrieveEvent } from './trieve-events';

type Schema = Record<string, unknown>;

const isSchema = (value: unknown): value is Schema => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Numbers at and around the bounds the schemas and the columns set, besides any double. */
const edgeNumbers = [0, -1, 1, 0.5, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1, 1e12, 1e12 - 0.5, -1e12, 5e11, 9007199254740991, 1e308, latestEventTime, latestEventTime + 1, 5662310399];

function numbers(schema: Schema, integer: boolean): fc.Arbitrary<number> {
  const bounds = [schema.minimum, schema.maximum, schema.exclusiveMinimum, schema.exclusiveMaximum].filter((b): b is number => typeof b === 'number');
  const edges = fc.constantFrom(...edgeNumbers, ...bounds, ...bounds.map((b) => b + 1), ...bounds.map((b) => b - 1));
  const any = integer ? fc.integer({ min: -(2 ** 40), max: 2 ** 40 }) : fc.double({ noNaN: true, noDefaultInfinity: true });
  const inside = typeof schema.minimum === 'number' && typeof schema.maximum === 'number' ? (integer ? fc.integer({ min: Math.max(schema.minimum, -(2 ** 52)), max: Math.min(schema.maximum, 2 ** 52) }) : fc.double({ min: schema.minimum, max: schema.maximum, noNaN: true })) : any;
  return fc.oneof(edges, any, inside).filter((n) => !integer || Number.isInteger(n));
}

/** Times from 1970 to past 2149, with and without an offset. */
const dateTimes = fc
  .tuple(fc.integer({ min: 0, max: latestEventTime + 1000 * 86_400_000 }), fc.constantFrom('Z', '+00:00', '+01:00', '-05:30'))
  .map(([ms, zone]) => new Date(ms).toISOString().replace('Z', zone));

function strings(schema: Schema): fc.Arbitrary<string> {
  if (schema.format === 'uuid') return fc.uuid();
  if (schema.format === 'date-time') return dateTimes;
  const minLength = typeof schema.minLength === 'number' ? schema.minLength : 0;
  const maxLength = typeof schema.maxLength === 'number' ? schema.maxLength : undefined;
  const atLimit = maxLength === undefined ? [] : [fc.constant('k'.repeat(maxLength)), fc.constant('k'.repeat(maxLength + 1))];
  return fc.oneof(fc.string({ minLength, maxLength: Math.min(maxLength ?? 12, 12) }), fc.string({ unit: 'binary', maxLength: 6 }), fc.constantFrom('', ' ', '12.5', '1e400', '-3', 'ab/c'), ...atLimit);
}

/** Values a schema may accept, most of them valid: the validator decides, as it does for a client. */
function arbitraryOf(schema: unknown, root: Schema, depth = 0): fc.Arbitrary<unknown> {
  if (!isSchema(schema) || depth > 8) return fc.jsonValue({ maxDepth: 2 });
  if (typeof schema.$ref === 'string') {
    const { $ref, ...rest } = schema;
    const name = $ref.replace('#/$defs/', '');
    const defs = root.$defs as Record<string, unknown>;
    return arbitraryOf({ ...rest, ...(defs[name] as Schema) }, root, depth + 1);
  }
  if ('const' in schema) return fc.constant(schema.const);
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
  for (const union of ['oneOf', 'anyOf'] as const) {
    const branches = schema[union];
    if (Array.isArray(branches)) {
      const rest = Object.fromEntries(Object.entries(schema).filter(([keyword]) => keyword !== union));
      return fc.oneof(...branches.map((branch: unknown) => arbitraryOf({ ...rest, ...(isSchema(branch) ? branch : {}) }, root, depth + 1)));
    }
  }
  if (Array.isArray(schema.type)) return fc.oneof(...(schema.type as unknown[]).map((type) => arbitraryOf({ ...schema, type }, root, depth + 1)));
  switch (schema.type) {
    case 'null':
      return fc.constant(null);
    case 'boolean':
      return fc.boolean();
    case 'integer':
      return numbers(schema, true);
    case 'number':
      return numbers(schema, false);
    case 'string':
      return strings(schema);
    case 'array': {
      const minLength = typeof schema.minItems === 'number' ? schema.minItems : 0;
      return fc.array(arbitraryOf(schema.items, root, depth + 1), { minLength, maxLength: Math.max(minLength, 3) });
    }
    case 'object': {
      const properties = isSchema(schema.properties) ? schema.properties : {};
      if (Object.keys(properties).length === 0) return fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 });
      const model = Object.fromEntries(Object.entries(properties).map(([name, definition]) => [name, arbitraryOf(definition, root, depth + 1)]));
      const required = Array.isArray(schema.required) ? (schema.required as string[]) : [];
      return fc.record(model, { requiredKeys: required.filter((name) => name in model) });
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

interface Dialect {
  schemaFile: string;
  validate(value: unknown): ValidationResult<unknown>;
  normalise(body: unknown, context: RequestContext): Envelope;
}

/** Each dialect's validate produces exactly the body its normalise takes. */
const dialect = <Body>(schemaFile: string, validate: (value: unknown) => ValidationResult<Body>, normalise: (body: Body, context: RequestContext) => Envelope): Dialect => ({
  schemaFile,
  validate,
  normalise: (body, context) => normalise(body as Body, context),
});

const dialects: Record<string, Dialect> = {
  trieve: dialect(trieveEventSchemaFile, validateTrieveEvent, normaliseTrieveEvent),
  trieve_ctr: dialect(trieveCtrSchemaFile, validateTrieveCtr, normaliseTrieveCtr),
  neuralens: dialect(neuralensEventSchemaFile, validateNeuralensEvent, normaliseNeuralensEvent),
  greenflash: dialect(greenflashEventSchemaFile, validateGreenflashEvent, normaliseGreenflashEvent),
};

/** What the gateway knows of a request: a dataset and an idempotency key of 1-256 characters (header or batch item), a v4 event id, a receive time. */
const contexts: fc.Arbitrary<RequestContext> = fc.record({
  datasetId: fc.oneof(fc.string({ minLength: 1, maxLength: 12 }), fc.constant('d'.repeat(256))),
  eventId: fc.uuid({ version: 4 }),
  receivedAt: fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2100, 0, 1) }),
  idempotencyKey: fc.option(fc.oneof(fc.string({ minLength: 1, maxLength: 12 }), fc.constant('i'.repeat(256))), { nil: undefined }),
});

describe.each(Object.entries(dialects))('the envelope of a %s body the dialect accepts', (_name, { schemaFile, validate, normalise }) => {
  const schema = loadSchema(schemaFile);
  const bodies = arbitraryOf(schema, schema);

  test('is checked by validateDialectEnvelope exactly as validateEnvelope checks it: same verdict, same issues, same defaults filled in', () => {
    let accepted = 0;
    let refused = 0;
    fc.assert(
      fc.property(bodies, contexts, (body, context) => {
        const parsed = validate(body);
        fc.pre(parsed.ok && valueIssues(body, maxNestingDepth).length === 0);
        if (!parsed.ok) return;
        const envelope = normalise(parsed.value, context);
        const once = structuredClone(envelope);
        const whole = validateEnvelope(envelope);
        expect(validateDialectEnvelope(once)).toEqual(whole);
        if (whole.ok) accepted++;
        else refused++;
      }),
      { numRuns: 1500, maxSkipsPerRun: 20 },
    );
    expect(accepted).toBeGreaterThan(0);
    // A Trieve purchase's revenue is a sum, which can pass the column's limit when no item does:
    // refusals were reached and compared too. The other dialects' schemas bound every field already.
    if (schemaFile === trieveEventSchemaFile) expect(refused).toBeGreaterThan(0);
  });
});
