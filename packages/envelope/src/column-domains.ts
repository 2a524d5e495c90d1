import type { ValidationIssue } from './validation';

/**
 * What the events table can store, in one place. An envelope that passes its schema but not these
 * limits would be acknowledged and then refused by ClickHouse, so the gateway, the worker (for
 * Kafka-native producers) and @sluice/producer check them through validateEnvelope.
 *
 * Strings and arrays need no limit of their own: ClickHouse stores any size, and a whole message
 * is at most 1 MiB (maxEnvelopeBytes). Two kinds of limit:
 * - per column type, merged into the envelope schema when it is loaded (withColumnLimits), so
 *   ajv checks them and its messages name the field;
 * - for every value of the event, checked by walking it without recursion (valueIssues): nesting
 *   depth and well-formed Unicode, which JSON Schema cannot say about free-form properties.
 */

/** The limits of the column types that bound what a field may hold. */
export const columnTypeLimits = {
  Int32: { minimum: -2_147_483_648, maximum: 2_147_483_647 },
  // 18 digits, 6 of them after the point: ClickHouse refuses 10^12 ("Decimal value is too big").
  'Decimal(18, 6)': { exclusiveMinimum: -1e12, exclusiveMaximum: 1e12 },
  // The views group by toDate(occurred_at), and a Date ends on 2149-06-06: ClickHouse wraps a later
  // day without a word (2299-12-31 becomes 2120-07-26), so that is where an event's time ends.
  "DateTime64(3, 'UTC')": { minimum: 0, maximum: Date.UTC(2149, 5, 6, 23, 59, 59, 999) },
} as const satisfies Record<string, Record<string, number>>;

export type LimitedColumnType = keyof typeof columnTypeLimits;

/** The envelope fields whose column type limits them, as packages/clickhouse/migrations declares each (Nullable aside). */
export const limitedEnvelopeColumns = {
  occurred_at: "DateTime64(3, 'UTC')",
  received_at: "DateTime64(3, 'UTC')",
  position: 'Int32',
  revenue: 'Decimal(18, 6)',
} as const satisfies Record<string, LimitedColumnType>;

/** The latest time an event may carry, UTC epoch milliseconds. */
export const latestEventTime = columnTypeLimits["DateTime64(3, 'UTC')"].maximum;

/**
 * How deep a producer's JSON may nest: a request body, Trieve metadata, Greenflash properties. No
 * dialect needs more than a few levels; a bound keeps every walk over a value short and safe.
 */
export const maxNestingDepth = 32;

/**
 * An envelope nests one level more than the body it keeps whole as `raw`.
 */
export const maxEnvelopeDepth = maxNestingDepth + 1;

type JsonObject = Record<string, unknown>;

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The envelope schema with each limited field's column limits merged into its definition. */
export function withColumnLimits(envelopeSchema: JsonObject): JsonObject {
  const properties = envelopeSchema.properties;
  if (!isObject(properties)) throw new Error('the envelope schema has no properties');
  const limited = { ...properties };
  for (const [field, columnType] of Object.entries(limitedEnvelopeColumns)) {
    const definition = limited[field];
    if (!isObject(definition)) throw new Error(`the envelope schema has no field ${field}, which limitedEnvelopeColumns names`);
    limited[field] = { ...definition, ...columnTypeLimits[columnType] };
  }
  return { ...envelopeSchema, properties: limited };
}

interface Visit {
  value: unknown;
  depth: number;
  parent: Visit | undefined;
  key: string;
}

function pointer(visit: Visit): string {
  const segments: string[] = [];
  for (let at: Visit | undefined = visit; at?.parent !== undefined; at = at.parent) segments.push(at.key.replace(/~/g, '~0').replace(/\//g, '~1'));
  return segments.length === 0 ? '' : `/${segments.reverse().join('/')}`;
}

/** How many issues one value reports at most: enough to fix a body, bounded for a hostile one. */
const maxIssues = 10;

/**
 * Issues no JSON Schema can find, in any value: nesting deeper than maxDepth (the value itself is
 * level 1, as it is for an object) and strings or keys that are not well-formed Unicode (a lone
 * surrogate, which ClickHouse refuses or stores as invalid UTF-8). Walks with a stack of its own,
 * so a value nested 100,000 deep is reported, not a stack overflow.
 */
export function valueIssues(value: unknown, maxDepth: number): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const stack: Visit[] = [{ value, depth: 1, parent: undefined, key: '' }];
  while (stack.length > 0 && issues.length < maxIssues) {
    const visit = stack.pop() as Visit;
    const current = visit.value;
    if (typeof current === 'string') {
      if (!current.isWellFormed()) issues.push({ path: pointer(visit), message: `is ${notWellFormed}` });
      continue;
    }
    if (typeof current !== 'object' || current === null) continue;
    if (visit.depth > maxDepth) {
      issues.push({ path: pointer(visit), message: `is nested deeper than ${maxDepth} levels` });
      continue;
    }
    // Strings are checked where they are met and numbers skipped: only containers, and strings to
    // name, take a place on the stack.
    if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) {
        const item: unknown = current[i];
        if (typeof item === 'object' ? item !== null : typeof item === 'string' && !item.isWellFormed()) stack.push({ value: item, depth: visit.depth + 1, parent: visit, key: String(i) });
      }
      continue;
    }
    for (const key in current) {
      const item: unknown = (current as JsonObject)[key];
      if (!key.isWellFormed()) issues.push({ path: pointer({ value: item, depth: visit.depth + 1, parent: visit, key }), message: `has a name that is ${notWellFormed}` });
      else if (typeof item === 'object' ? item !== null : typeof item === 'string' && !item.isWellFormed()) stack.push({ value: item, depth: visit.depth + 1, parent: visit, key });
    }
  }
  return issues.length > maxIssues ? issues.slice(0, maxIssues) : issues;
}

const notWellFormed = 'not well-formed Unicode: it holds a lone surrogate (\\ud800-\\udfff without its pair)';
