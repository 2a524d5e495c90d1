import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { withColumnLimits } from './column-domains';

/** schemas/, the single source of every schema we validate against: found as the installed @sluice/schemas package, in a checkout and in an image alike. */
export const schemaDirectory = dirname(require.resolve('@sluice/schemas/package.json'));

export interface ValidationIssue {
  /** JSON pointer into the validated value, '' for the value itself. */
  path: string;
  message: string;
}

export type ValidationResult<T> = { ok: true; value: T } | { ok: false; issues: ValidationIssue[] };

export type Validator<T> = (value: unknown) => ValidationResult<T>;

function newAjv(useDefaults: boolean): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, discriminator: true, strict: true, strictTypes: false, useDefaults });
  addFormats(ajv, ['uuid', 'date-time', 'uri']);
  return ajv;
}
/** Fills the schema's defaults into what it validates, which goes on with them (the gateway, the worker). */
const fillingAjv = newAjv(true);
/** Leaves what it validates as it was: for checking objects that stay the caller's (the native producer's envelopes). */
const checkingAjv = newAjv(false);

export interface ValidatorOptions {
  /** Whether validation fills the schema's defaults into the value; true unless said otherwise. */
  fillDefaults?: boolean;
}

/** The envelope's schema file; loaded, it carries the events table's column limits too. */
export const envelopeSchemaFile = 'envelope.v1.json';

/** A schema from schemas/, as everything that validates or publishes it sees it. */
export function loadSchema(relativePath: string): Record<string, unknown> {
  const schema = JSON.parse(readFileSync(join(schemaDirectory, relativePath), 'utf8')) as Record<string, unknown>;
  return relativePath === envelopeSchemaFile ? withColumnLimits(schema) : schema;
}

/** Compiles a schema from schemas/ once and returns a typed validator with field-naming issues. */
export function createValidator<T>(relativePath: string, options: ValidatorOptions = {}): Validator<T> {
  const schema = loadSchema(relativePath);
  return compileValidator<T>(schema, typeof schema.$id === 'string' ? schema.$id : relativePath, options);
}

/** A typed validator with field-naming issues for a schema derived from one in schemas/, compiled once per `id`. */
export function compileValidator<T>(schema: Record<string, unknown>, id: string, { fillDefaults = true }: ValidatorOptions = {}): Validator<T> {
  const ajv = fillDefaults ? fillingAjv : checkingAjv;
  const validate: ValidateFunction = ajv.getSchema(id) ?? ajv.compile({ ...schema, $id: id });
  return (value) => (validate(value) ? { ok: true, value: value as T } : { ok: false, issues: describeIssues(validate.errors ?? []) });
}

/**
 * Turns ajv's errors into one issue per field. A nullable object is a union (object or null),
 * and ajv reports a failure for every branch; when the object branch failed on a field inside
 * it we report that field, not "must be null" on the parent. A discriminator's complaint about
 * its tag is dropped when the tag already has a clearer issue (its enum, or "is required").
 */
export function describeIssues(errors: readonly ErrorObject[]): ValidationIssue[] {
  const unionPaths = new Set(errors.filter((e) => e.keyword === 'anyOf' || e.keyword === 'oneOf').map((e) => e.instancePath));
  const located = errors.filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'oneOf' && e.keyword !== 'if').map((error) => ({ error, issue: toIssue(error) }));
  const hasIssueInside = (path: string): boolean => located.some(({ issue }) => issue.path.startsWith(path + '/'));
  const relevant = located.filter(({ error }) => !(error.keyword === 'type' && unionPaths.has(error.instancePath) && hasIssueInside(error.instancePath)));

  const issues = new Map<string, ValidationIssue>();
  const expectedTypes = new Map<string, string[]>();
  for (const { error, issue } of relevant) {
    if (error.keyword === 'type') {
      const types = expectedTypes.get(issue.path) ?? [];
      types.push(String((error.params as { type: unknown }).type));
      expectedTypes.set(issue.path, types);
    } else if (error.keyword !== 'discriminator') {
      issues.set(`${issue.path}\u0000${issue.message}`, issue);
    }
  }
  for (const [path, types] of expectedTypes) {
    const message = `must be ${[...new Set(types.flatMap((t) => t.split(',')))].join(' or ')}`;
    issues.set(`${path}\u0000${message}`, { path, message });
  }
  const pathsWithIssues = new Set([...issues.values()].map((i) => i.path));
  for (const { error, issue } of relevant) {
    if (error.keyword === 'discriminator' && !pathsWithIssues.has(issue.path)) issues.set(`${issue.path}\u0000${issue.message}`, issue);
  }
  return issues.size > 0 ? [...issues.values()] : [{ path: '', message: 'is not valid' }];
}

function toIssue(error: ErrorObject): ValidationIssue {
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'required':
      return { path: `${error.instancePath}/${escapePointer(String(params.missingProperty))}`, message: 'is required' };
    case 'additionalProperties':
      return { path: `${error.instancePath}/${escapePointer(String(params.additionalProperty))}`, message: 'is not an allowed property' };
    case 'discriminator':
      return params.error === 'tag'
        ? { path: `${error.instancePath}/${escapePointer(String(params.tag))}`, message: 'is required and must be a string' }
        : { path: `${error.instancePath}/${escapePointer(String(params.tag))}`, message: `has an unknown value ${JSON.stringify(params.tagValue)}` };
    case 'enum':
      return { path: error.instancePath, message: `must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
    case 'const':
      return { path: error.instancePath, message: `must be ${JSON.stringify(params.allowedValue)}` };
    default:
      return { path: error.instancePath, message: error.message ?? 'is not valid' };
  }
}

function escapePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** "Invalid field "/clicked_items/position": must be integer" — the field first, as producers scan for it. */
export function formatIssues(issues: readonly ValidationIssue[]): string {
  return issues.map((i) => (i.path === '' ? `Invalid body: ${i.message}` : `Invalid field "${i.path}": ${i.message}`)).join('; ');
}
