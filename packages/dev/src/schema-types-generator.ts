import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { compile, type Options } from 'json-schema-to-typescript';
import ts from 'typescript';
import { loadSchema, schemaDirectory } from '@sluice/envelope';
import { repositoryRoot } from './local-broker';

/** The file scripts/generate-types.ts writes and schema-types-generator.test.ts compares with a fresh run. */
export const schemaTypesFile = join(repositoryRoot, 'packages', 'envelope', 'src', 'generated', 'schema-types.ts');

const generatedBanner = '// Generated from schemas/ by scripts/generate-types.ts; do not edit.\n// Run `npm run generate:types` after changing a schema.';

interface SchemaSource {
  /** Path under schemas/. */
  file: string;
  /** The name of the schema's own type. */
  name: string;
  /** Put before the names of the types the schema declares inside it (its oneOf branches, its $defs), so that they cannot clash across schemas. */
  prefix: string;
}

/** Every schema that becomes a type, in the order they appear in the generated file. */
const schemaSources: readonly SchemaSource[] = [
  { file: 'envelope.v1.json', name: 'Envelope', prefix: 'Envelope' },
  { file: 'batch-item.v1.json', name: 'BatchItem', prefix: 'BatchItem' },
  { file: 'beacon.v1.json', name: 'BeaconBody', prefix: 'Beacon' },
  { file: 'dialects/trieve-event.json', name: 'TrieveEvent', prefix: 'Trieve' },
  { file: 'dialects/trieve-ctr.json', name: 'TrieveCtrBody', prefix: 'Trieve' },
  { file: 'dialects/neuralens-event.json', name: 'NeuralensEvent', prefix: 'Neuralens' },
  { file: 'dialects/greenflash-event.json', name: 'GreenflashEvent', prefix: 'Greenflash' },
  { file: 'analysts.v1.json', name: 'AnalystsFile', prefix: 'Analysts' },
];

/**
 * Schemas left out on purpose. batch-response.v1.json describes what the gateway answers, not
 * something it reads; the gateway builds that answer with its own types.
 */
const schemasWithoutTypes: readonly string[] = ['batch-response.v1.json'];

/**
 * json-schema-to-typescript's options, chosen so that the output is deterministic and readable:
 *
 * - additionalProperties: false. A schema that does not say otherwise gets no
 *   `[k: string]: unknown` index signature. The dialect schemas ignore unknown properties
 *   (validation lets them through, they are kept in the envelope's raw), but code must not read
 *   them: an index signature would make every misspelt property read type-check as unknown,
 *   and make the declared ones hard to use. Objects that declare no properties at all are
 *   free-form maps and get an explicit index signature (see freeFormObjectsAreMaps below).
 * - strictIndexSignatures: false. noUncheckedIndexedAccess already adds undefined to index
 *   reads; adding it to the signature too would also put undefined in Object.entries/values.
 * - unknownAny: true. "Any value" is unknown, never any.
 * - ignoreMinAndMaxItems: true. minItems/maxItems are validation, not shape: with them the
 *   generator writes tuple unions (Neuralens' `items: [Item, ...Item[]]`) that repeat the item type.
 * - format + style: prettier in the repository's style, so that diffs stay small.
 */
const compileOptions: Partial<Options> = {
  bannerComment: '',
  additionalProperties: false,
  strictIndexSignatures: false,
  unknownAny: true,
  ignoreMinAndMaxItems: true,
  declareExternallyReferenced: true,
  unreachableDefinitions: false,
  enableConstEnums: false,
  format: true,
  style: { singleQuote: true, printWidth: 160, trailingComma: 'all', semi: true },
  cwd: schemaDirectory,
};

/** Compiles every schema in schemaSources into the text of schema-types.ts. */
export async function generateSchemaTypes(): Promise<string> {
  checkEverySchemaIsListed();
  const declared = new Map<string, { text: string; file: string }>();
  const sections: string[] = [];
  for (const source of schemaSources) {
    const schema = prepareSchema(loadSchema(source.file), source);
    const output = await compile(schema, source.name, { ...compileOptions, customName: nameFor(source) });
    const declarations = splitDeclarations(output, source.file);
    if (!declarations.some((d) => d.name === source.name)) throw new Error(`schemas/${source.file} did not produce a type named ${source.name}`);
    const texts: string[] = [];
    for (const declaration of declarations) {
      const earlier = declared.get(declaration.name);
      if (earlier === undefined) {
        declared.set(declaration.name, { text: declaration.text, file: source.file });
        texts.push(declaration.text);
      } else if (earlier.text !== declaration.text) {
        throw new Error(`schemas/${source.file} and schemas/${earlier.file} both declare ${declaration.name}, differently; give one of them another prefix`);
      }
    }
    sections.push([`// schemas/${source.file}`, ...texts].join('\n\n'));
  }
  return `${generatedBanner}\n\n${sections.join('\n\n')}\n`;
}

function checkEverySchemaIsListed(): void {
  const listed = new Set([...schemaSources.map((s) => s.file), ...schemasWithoutTypes]);
  const onDisk = [
    ...readdirSync(schemaDirectory).filter((f) => f.endsWith('.json') && f !== 'package.json'),
    ...readdirSync(join(schemaDirectory, 'dialects'))
      .filter((f) => f.endsWith('.json'))
      .map((f) => `dialects/${f}`),
  ];
  const missing = onDisk.filter((f) => !listed.has(f));
  if (missing.length > 0) throw new Error(`schemas/${missing.join(', schemas/')}: add to schemaSources (or schemasWithoutTypes) in ${__filename}`);
}

/**
 * The name of the schema's own type is source.name; types it declares inside it are
 * prefixed (Trieve's "View" branch becomes TrieveView, its CTRType definition TrieveCTRType).
 * Schemas without a title or a $defs key stay inline.
 */
function nameFor(source: SchemaSource): NonNullable<Options['customName']> {
  const rootId = loadSchema(source.file).$id;
  return (schema, keyNameFromDefinition) => {
    if (typeof rootId === 'string' && schema.$id === rootId) return source.name;
    const name = schema.title ?? keyNameFromDefinition;
    return name === undefined ? undefined : `${source.prefix} ${name}`;
  };
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Keywords whose value is a schema, a list of schemas, or a map of schemas: the ones that shape a type. */
const schemaKeywords = ['items', 'additionalProperties', 'contains'];
const schemaListKeywords = ['oneOf', 'anyOf', 'allOf', 'prefixItems'];
const schemaMapKeywords = ['properties', 'patternProperties', '$defs', 'definitions'];
/** Keywords that describe a schema without constraining the value. */
const annotationKeywords = new Set(['title', 'description', '$comment', 'examples', 'default', 'deprecated', 'readOnly', 'writeOnly']);

/**
 * A copy of the schema with what json-schema-to-typescript reads differently from the validator
 * spelled out. None of it changes which values the types admit; each step says why.
 */
function prepareSchema(original: Record<string, unknown>, source: SchemaSource): JsonObject {
  const schema = structuredClone(original) as JsonObject;
  const title = typeof schema.title === 'string' ? schema.title : source.name;
  const description = typeof schema.description === 'string' ? `\n\n${schema.description}` : '';
  // The title becomes the type's name, so it is kept in the comment, with the file it is from.
  schema.description = `${title}: schemas/${source.file}.${description}`;
  delete schema.examples;
  // A definition is named by its key; as a title the key gets the prefix too (see nameFor).
  const definitions = schema.$defs;
  if (isObject(definitions)) for (const [key, definition] of Object.entries(definitions)) if (isObject(definition)) definition.title ??= key;
  walk(schema);
  return schema;
}

function walk(schema: JsonObject): void {
  anyValueIsUnknown(schema);
  freeFormObjectsAreMaps(schema);
  discriminatedUnionIsPlainUnion(schema);
  for (const keyword of schemaKeywords) {
    const sub = schema[keyword];
    if (isObject(sub)) walk(sub);
  }
  for (const keyword of schemaListKeywords) {
    const list = schema[keyword];
    if (Array.isArray(list)) for (const sub of list) if (isObject(sub)) walk(sub);
  }
  for (const keyword of schemaMapKeywords) {
    const map = schema[keyword];
    if (isObject(map)) for (const sub of Object.values(map)) if (isObject(sub)) walk(sub);
  }
}

/**
 * A schema with only a description (Trieve's metadata, the envelope's raw) admits any JSON
 * value, as the empty schema does; the generator would make it an object.
 */
function anyValueIsUnknown(schema: JsonObject): void {
  const keys = Object.keys(schema);
  if (keys.length > 0 && keys.every((k) => annotationKeywords.has(k))) schema.tsType = 'unknown';
}

/**
 * An object that declares no properties (Greenflash's properties, the batch item's event) is a
 * free-form map; with additionalProperties: false as the default it would become {}, which
 * admits any non-null value and whose properties cannot be read.
 */
function freeFormObjectsAreMaps(schema: JsonObject): void {
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  const shaped = ['properties', 'patternProperties', 'additionalProperties', 'oneOf', 'anyOf', 'allOf', '$ref'].some((k) => k in schema);
  if (types.includes('object') && !shaped) schema.additionalProperties = true;
}

/**
 * A oneOf with a discriminator whose branches each fix the tag with a const: the parent's own
 * declaration of the tag (an enum of every branch's value) adds nothing to the branches, but
 * the generator would write `{ tag: 'a' | 'b' } & (A | B)`. Without it the type is `A | B`.
 */
function discriminatedUnionIsPlainUnion(schema: JsonObject): void {
  const { discriminator, oneOf, properties, required } = schema;
  if (!isObject(discriminator) || typeof discriminator.propertyName !== 'string' || !Array.isArray(oneOf)) return;
  const tag = discriminator.propertyName;
  const branchesFixTag = oneOf.every(
    (branch) => isObject(branch) && isObject(branch.properties) && isObject(branch.properties[tag]) && 'const' in branch.properties[tag] && Array.isArray(branch.required) && branch.required.includes(tag),
  );
  if (!branchesFixTag) throw new Error(`a oneOf discriminated by ${tag} has a branch that does not require ${tag} as a const`);
  const declared = isObject(properties) ? properties[tag] : undefined;
  if (isObject(declared) && Array.isArray(declared.enum)) {
    const allowed = declared.enum;
    const outside = oneOf.filter((branch) => isObject(branch) && isObject(branch.properties) && isObject(branch.properties[tag]) && !allowed.includes(branch.properties[tag].const ?? null));
    if (outside.length > 0) throw new Error(`a oneOf discriminated by ${tag} has a branch whose ${tag} is not in the parent's enum`);
  }
  if (isObject(properties)) {
    delete properties[tag];
    if (Object.keys(properties).length === 0) delete schema.properties;
  }
  if (Array.isArray(required)) {
    const rest = required.filter((r) => r !== tag);
    if (rest.length === 0) delete schema.required;
    else schema.required = rest;
  }
  if (schema.properties === undefined && schema.required === undefined && schema.type === 'object') delete schema.type;
  delete schema.discriminator;
}

/** The output's top-level declarations, by name, each with its doc comment. */
function splitDeclarations(output: string, file: string): { name: string; text: string }[] {
  const sourceFile = ts.createSourceFile(`${file}.ts`, output, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  return sourceFile.statements.map((statement) => {
    if (!ts.isInterfaceDeclaration(statement) && !ts.isTypeAliasDeclaration(statement) && !ts.isEnumDeclaration(statement)) {
      throw new Error(`schemas/${file} produced a statement that is not a type declaration: ${statement.getText(sourceFile)}`);
    }
    return { name: statement.name.text, text: statement.getFullText(sourceFile).trim() };
  });
}
