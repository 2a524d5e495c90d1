import { errorCatalogue, type ErrorCode } from '@sluice/core';
import { loadSchema } from '@sluice/envelope';
import { defaultMaxBodyBytes } from './json-body';
import { defaultBatchLimits } from './ingest/batch';
import { maxBeaconBytes } from './ingest/beacon';
import { ingestionDoors } from './ingest/core';

/**
 * The schema files the document is generated from, by the component name each becomes. A schema's
 * $defs are hoisted next to it as `<Name>_<Def>`.
 */
export const schemaFiles = {
  Envelope: 'envelope.v1.json',
  BatchItem: 'batch-item.v1.json',
  BatchResponse: 'batch-response.v1.json',
  Beacon: 'beacon.v1.json',
  TrieveEvent: 'dialects/trieve-event.json',
  TrieveCtr: 'dialects/trieve-ctr.json',
  NeuralensEvent: 'dialects/neuralens-event.json',
  GreenflashEvent: 'dialects/greenflash-event.json',
} as const;

export type SchemaName = keyof typeof schemaFiles;


type JsonObject = Record<string, unknown>;

const componentNamePattern = /^[A-Za-z0-9._-]+$/;
/** Any absolute base will do: it only turns $id and relative $refs into comparable URLs. */
const idBase = 'https://sluice.invalid/';
/** Keywords whose values are data, not schemas: copied verbatim, never rewritten. */
const dataKeywords = new Set(['const', 'enum', 'default', 'examples', 'example']);
/** Keywords whose values map names to schemas. */
const schemaMapKeywords = new Set(['properties', 'patternProperties', 'dependentSchemas']);

const schemaRef = (name: string): JsonObject => ({ $ref: `#/components/schemas/${name}` });

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function mapValues(value: JsonObject, f: (v: unknown) => unknown): JsonObject {
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, f(v)]));
}

function omit(value: JsonObject, keys: readonly string[]): JsonObject {
  return Object.fromEntries(Object.entries(value).filter(([k]) => !keys.includes(k)));
}

interface LoadedSchema {
  name: SchemaName;
  schema: JsonObject;
  /** The schema's $id (or its file) as an absolute URL without fragment. */
  url: string;
  defs: JsonObject;
}

function loadSchemas(): LoadedSchema[] {
  return (Object.entries(schemaFiles) as [SchemaName, string][]).map(([name, file]) => {
    const schema = loadSchema(file);
    const id = typeof schema.$id === 'string' ? schema.$id : file;
    const defs = schema.$defs ?? {};
    if (!isObject(defs)) throw new Error(`schemas/${file}: $defs must be an object`);
    return { name, schema, url: new URL(id, idBase).href, defs };
  });
}

/**
 * Turns the loaded schemas into components: `#/$defs/X` (or another file's `$id#/$defs/X`)
 * becomes `#/components/schemas/<Name>_X`, a reference to a whole file becomes
 * `#/components/schemas/<Name>`, $defs are hoisted and $schema/$id dropped. A reference it
 * cannot express throws, so the document never carries a dangling $ref.
 */
export function schemaComponents(): Record<string, JsonObject> {
  const loaded = loadSchemas();
  const byUrl = new Map(loaded.map((l) => [l.url, l]));
  const components: Record<string, JsonObject> = {};
  const add = (name: string, schema: JsonObject): void => {
    if (!componentNamePattern.test(name)) throw new Error(`Component name ${JSON.stringify(name)} is not allowed by OpenAPI`);
    if (name in components) throw new Error(`Two schemas would both become component ${name}`);
    components[name] = schema;
  };

  for (const current of loaded) {
    const file = schemaFiles[current.name];
    const resolve = (ref: string): string => {
      const target = new URL(ref, current.url);
      const fragment = decodeURIComponent(target.hash);
      target.hash = '';
      const owner = byUrl.get(target.href);
      if (!owner) throw new Error(`schemas/${file}: $ref ${JSON.stringify(ref)} names a schema that is not part of the OpenAPI document`);
      if (fragment === '' || fragment === '#') return `#/components/schemas/${owner.name}`;
      const def = /^#\/\$defs\/([^/]+)$/.exec(fragment)?.[1]?.replace(/~1/g, '/').replace(/~0/g, '~');
      if (def === undefined || !(def in owner.defs)) throw new Error(`schemas/${file}: $ref ${JSON.stringify(ref)} must point at a whole schema or one of its $defs`);
      return `#/components/schemas/${owner.name}_${def}`;
    };
    const rewrite = (value: unknown, where: string): unknown => {
      if (Array.isArray(value)) return value.map((v, i) => rewrite(v, `${where}/${i}`));
      if (!isObject(value)) return value;
      const out: JsonObject = {};
      for (const [key, v] of Object.entries(value)) {
        if (key === '$ref' && typeof v === 'string') out[key] = resolve(v);
        else if (key === '$defs' || key === 'definitions') throw new Error(`schemas/${file}: nested ${key} at ${where} are not supported; put them at the top level`);
        else if (dataKeywords.has(key)) out[key] = structuredClone(v);
        else if (schemaMapKeywords.has(key) && isObject(v)) out[key] = Object.fromEntries(Object.entries(v).map(([k, s]) => [k, rewrite(s, `${where}/${key}/${k}`)]));
        else if (key === 'discriminator' && isObject(v) && isObject(v.mapping)) {
          out[key] = { ...v, mapping: mapValues(v.mapping, (target) => (typeof target === 'string' && target.includes('#') ? resolve(target) : target)) };
        } else out[key] = rewrite(v, `${where}/${key}`);
      }
      return out;
    };

    add(current.name, rewrite(omit(current.schema, ['$schema', '$id', '$defs']), '') as JsonObject);
    for (const [def, schema] of Object.entries(current.defs)) {
      if (!isObject(schema)) throw new Error(`schemas/${file}: $defs/${def} must be an object`);
      add(`${current.name}_${def}`, rewrite(omit(schema, ['$schema', '$id']), `/$defs/${def}`) as JsonObject);
    }
  }
  return components;
}

/** The gateway's catalogue codes that each HTTP status can carry. */
const codesByStatus = {
  400: ['INVALID_JSON', 'INVALID_EVENT', 'MISSING_HEADER'],
  401: ['UNAUTHORIZED'],
  403: ['FORBIDDEN', 'ORIGIN_NOT_ALLOWED'],
  413: ['PAYLOAD_TOO_LARGE'],
  415: ['UNSUPPORTED_MEDIA_TYPE'],
  429: ['RATE_LIMITED'],
  503: ['KAFKA_UNAVAILABLE', 'PUBLISH_BUFFER_FULL', 'OVERLOADED', 'SHUTTING_DOWN'],
} as const satisfies Record<number, readonly ErrorCode[]>;

type ErrorStatus = keyof typeof codesByStatus;

const retryAfterHeader = {
  description: 'Seconds to wait before retrying; nothing was acknowledged.',
  required: true,
  schema: { type: 'integer', minimum: 0 },
};

function describeStatus(status: ErrorStatus, codes: readonly ErrorCode[] = codesByStatus[status]): string {
  return codes.map((code) => `${code}: ${errorCatalogue[code].summary}`).join(' ');
}

/** One error answer per status; `descriptions` replaces the default (every code the status can carry). */
function errorResponses(statuses: readonly ErrorStatus[], schema: JsonObject, descriptions: Partial<Record<ErrorStatus, string>> = {}): JsonObject {
  return Object.fromEntries(
    statuses.map((status) => [
      String(status),
      {
        description: descriptions[status] ?? describeStatus(status),
        ...(status === 429 || status === 503 ? { headers: { 'Retry-After': retryAfterHeader } } : {}),
        content: { 'application/json': { schema } },
      },
    ]),
  );
}

const headerParameter = (name: string, required: boolean, description: string): JsonObject => ({
  name,
  in: 'header',
  required,
  description,
  schema: { type: 'string', minLength: 1, maxLength: 256 },
});

const idempotencyKey = (description: string): JsonObject => headerParameter('Idempotency-Key', false, description);

const jsonBody = (name: SchemaName, description: string): JsonObject => ({
  required: true,
  description,
  content: { 'application/json': { schema: schemaRef(name) } },
});

const dialectErrorStatuses = [400, 401, 403, 413, 415, 429, 503] as const;
const singleEventDescriptions: Partial<Record<ErrorStatus, string>> = {
  413: `PAYLOAD_TOO_LARGE: the body is larger than MAX_BODY_BYTES (default ${defaultMaxBodyBytes} bytes, counted after gzip is undone).`,
};

function trieveOperation(operationId: string, summary: string, body: SchemaName): JsonObject {
  return {
    operationId,
    tags: ['Trieve'],
    summary,
    description: `Trieve-compatible: the body is validated against schemas/${schemaFiles[body]}. The 204 is sent only after Kafka acknowledged the event.`,
    security: [{ TrieveApiKey: [] }],
    parameters: [
      headerParameter('TR-Dataset', true, 'The dataset the event belongs to: a Trieve dataset id or tracking_id.'),
      idempotencyKey("Becomes the event's insert_id: events with the same dataset and insert_id are stored once."),
    ],
    requestBody: jsonBody(body, 'A JSON body (Content-Type application/json); Content-Encoding gzip is accepted.'),
    responses: {
      '204': { description: 'Kafka acknowledged the event.' },
      ...errorResponses(dialectErrorStatuses, schemaRef('TrieveError'), singleEventDescriptions),
    },
  };
}

/**
 * Each ingestion door's operation, by the door's dialect label. Its path and method come from the
 * core's table of doors (ingestionDoors), so the document names exactly the doors the gateway serves.
 */
const doorOperations = (): Record<string, JsonObject> => ({
  trieve: trieveOperation('putTrieveEvent', 'Send a Trieve user event (view, add_to_cart, click, purchase, filter_clicked, search, rag, recommendation)', 'TrieveEvent'),
  trieve_ctr: trieveOperation('putTrieveCtr', 'Send Trieve click-through-rate data', 'TrieveCtr'),
  neuralens: {
    operationId: 'postNeuralensEvent',
    tags: ['Neuralens'],
    summary: 'Send a Neuralens event',
    description: `Neuralens-compatible: the body is validated against schemas/${schemaFiles.NeuralensEvent}; the application id names the dataset. The answer is sent only after Kafka acknowledged the event.`,
    security: [{ NeuralensApiKey: [] }],
    parameters: [
      headerParameter('X-Neuralens-Application-ID', true, 'The Neuralens application the event belongs to (the dataset).'),
      idempotencyKey("Becomes the event's insert_id."),
    ],
    requestBody: jsonBody('NeuralensEvent', 'A JSON body (Content-Type application/json).'),
    responses: {
      '200': { description: 'Kafka acknowledged the event.', content: { 'application/json': { schema: schemaRef('NeuralensSuccess') } } },
      ...errorResponses(dialectErrorStatuses, schemaRef('NeuralensError'), singleEventDescriptions),
    },
  },
  greenflash: {
    operationId: 'postGreenflashEvent',
    tags: ['Greenflash'],
    summary: 'Send a Greenflash event',
    description: `Greenflash-compatible: the body is validated against schemas/${schemaFiles.GreenflashEvent}; productId names the dataset and insertId is the idempotency key. The answer is sent only after Kafka acknowledged the event.`,
    security: [{ BearerAuth: [] }],
    parameters: [idempotencyKey("Becomes the event's insert_id when the body has no insertId.")],
    requestBody: jsonBody('GreenflashEvent', 'A JSON body (Content-Type application/json).'),
    responses: {
      '200': { description: 'Kafka acknowledged the event.', content: { 'application/json': { schema: schemaRef('GreenflashSuccess') } } },
      ...errorResponses(dialectErrorStatuses, schemaRef('GreenflashError'), { ...singleEventDescriptions, 400: describeStatus(400, ['INVALID_JSON', 'INVALID_EVENT']) }),
    },
  },
  batch: {
    operationId: 'postBatch',
    tags: ['Batch'],
    summary: 'Send many events in one request',
    description:
      `Up to ${defaultBatchLimits.maxEvents} events and ${defaultBatchLimits.maxBytes} bytes (8 MiB, counted after gzip is undone). ` +
      'Each event is a canonical envelope or a dialect event wrapped with its dataset (BatchItem) and gets its own result; the accepted ones are acknowledged by Kafka, in one send, before the answer. ' +
      'Within one request, an event whose dataset and insert_id repeat an earlier one is a duplicate.',
    security: [{ BearerAuth: [] }],
    parameters: [
      idempotencyKey('Event i of the batch that has no insert id of its own gets the insert_id "<Idempotency-Key>/<i>" (i from 0), so a retried batch is stored once.'),
      {
        name: 'Content-Encoding',
        in: 'header',
        required: false,
        description: `gzip-compress the body to send more events per request; the ${defaultBatchLimits.maxBytes}-byte limit applies to the decompressed body.`,
        schema: { type: 'string', enum: ['gzip', 'identity'] },
      },
    ],
    requestBody: {
      required: true,
      description: 'NDJSON (one BatchItem per line; application/ndjson and application/jsonl are accepted too) or a JSON array of BatchItem.',
      content: {
        'application/x-ndjson': {
          schema: {
            type: 'string',
            description: `Newline-delimited JSON: each non-empty line is one BatchItem (#/components/schemas/BatchItem), at most ${defaultBatchLimits.maxEvents} lines.`,
            'x-item-schema': schemaRef('BatchItem'),
          },
        },
        'application/json': {
          schema: { type: 'array', minItems: 1, maxItems: defaultBatchLimits.maxEvents, items: schemaRef('BatchItem') },
        },
      },
    },
    responses: {
      '200': { description: 'Every event was accepted (or was a duplicate within the batch).', content: { 'application/json': { schema: schemaRef('BatchResponse') } } },
      '207': { description: 'Some events were accepted, some refused; each result says which.', content: { 'application/json': { schema: schemaRef('BatchResponse') } } },
      '400': {
        description:
          'No event was accepted: per-event results (BatchResponse), or, when the body as a whole cannot be read as a batch (malformed JSON, not an array, no events), {code, message}. ' +
          describeStatus(400, ['INVALID_JSON', 'INVALID_EVENT']),
        content: { 'application/json': { schema: { oneOf: [schemaRef('BatchResponse'), schemaRef('ErrorResponse')] } } },
      },
      '403': {
        description:
          'Every event names a dataset this API key may not write to; each result says which (status "forbidden"). Or, before the body is read, {code, message}: ' +
          describeStatus(403, ['ORIGIN_NOT_ALLOWED']),
        content: { 'application/json': { schema: { oneOf: [schemaRef('BatchResponse'), schemaRef('ErrorResponse')] } } },
      },
      ...errorResponses([401, 413, 415, 429, 503], schemaRef('ErrorResponse'), {
        413: `PAYLOAD_TOO_LARGE: more than ${defaultBatchLimits.maxEvents} events, or a body over ${defaultBatchLimits.maxBytes} bytes after gzip is undone.`,
      }),
    },
  },
  beacon: {
    operationId: 'postBeacon',
    tags: ['Beacon'],
    summary: 'Send events from a page with navigator.sendBeacon or fetch keepalive',
    description:
      `For pages: a text/plain (or application/json) body of one event or a batch (Beacon), up to ${maxBeaconBytes} bytes (what a browser lets a beacon carry). ` +
      'The key is a publishable key (pk_...) that allows the request\'s Origin, given as ?key= or in the body; a secret key is refused, since URLs and bodies get logged. ' +
      'The dataset (?dataset_id= or the body\'s dataset_id) applies to the trieve, trieve_ctr and neuralens events that name none. ' +
      'Events are checked and acknowledged as in POST /v1/batch. Every answer carries Vary: Origin, and Access-Control-Allow-Origin when a key allows the Origin.',
    security: [{ BeaconKey: [] }, {}],
    parameters: [
      { name: 'key', in: 'query', required: false, description: 'The publishable key, unless the body gives it.', schema: { type: 'string', minLength: 1, maxLength: 256 } },
      { name: 'dataset_id', in: 'query', required: false, description: 'The dataset of the events that name none, unless the body gives it.', schema: { type: 'string', minLength: 1, maxLength: 256 } },
    ],
    requestBody: {
      required: true,
      description: 'JSON, sent as text/plain (what sendBeacon sends for a string) or application/json (which makes a page send a CORS preflight first).',
      content: { 'text/plain': { schema: schemaRef('Beacon') }, 'application/json': { schema: schemaRef('Beacon') } },
    },
    responses: {
      '204': { description: 'Kafka acknowledged every event (or it was a duplicate within the beacon).' },
      '207': { description: 'Some events were accepted, some refused; each result says which.', content: { 'application/json': { schema: schemaRef('BatchResponse') } } },
      '400': {
        description: 'No event was accepted: per-event results (BatchResponse), or, when the body is not a beacon, {code, message}. ' + describeStatus(400, ['INVALID_JSON', 'INVALID_EVENT']),
        content: { 'application/json': { schema: { oneOf: [schemaRef('BatchResponse'), schemaRef('ErrorResponse')] } } },
      },
      '403': {
        description:
          'Every event names a dataset this key may not write to (BatchResponse, each result "forbidden"), or the key may not be used here ({code, message}). ' +
          describeStatus(403, ['PUBLISHABLE_KEY_REQUIRED', 'ORIGIN_NOT_ALLOWED']),
        content: { 'application/json': { schema: { oneOf: [schemaRef('BatchResponse'), schemaRef('ErrorResponse')] } } },
      },
      ...errorResponses([401, 413, 415, 429, 503], schemaRef('ErrorResponse'), {
        413: `PAYLOAD_TOO_LARGE: a body over ${maxBeaconBytes} bytes, or more than ${defaultBatchLimits.maxEvents} events.`,
      }),
    },
  },
});

function doorPaths(): JsonObject {
  const operations = doorOperations();
  return Object.fromEntries(
    ingestionDoors.map((door) => {
      const operation = operations[door.dialect];
      if (operation === undefined) throw new Error(`The OpenAPI document describes no operation for the ${door.dialect} door`);
      return [door.route.path, { [door.route.method.toLowerCase()]: operation }];
    }),
  );
}

const paths = (): JsonObject => ({
  ...doorPaths(),
  '/healthz': {
    get: {
      operationId: 'getHealthz',
      tags: ['Operations'],
      summary: 'Liveness: the process answers',
      security: [],
      responses: { '200': { description: 'Alive.', content: { 'application/json': { schema: schemaRef('Health') } } } },
    },
  },
  '/readyz': {
    get: {
      operationId: 'getReadyz',
      tags: ['Operations'],
      summary: 'Readiness: Kafka is reachable',
      security: [],
      responses: {
        '200': { description: 'Ready to accept events.', content: { 'application/json': { schema: schemaRef('Ready') } } },
        '503': {
          description: 'Kafka is unreachable; events would be refused.',
          headers: { 'Retry-After': retryAfterHeader },
          content: { 'application/json': { schema: schemaRef('NotReady') } },
        },
      },
    },
  },
  '/metrics': {
    get: {
      operationId: 'getMetrics',
      tags: ['Operations'],
      summary: 'Prometheus metrics',
      security: [],
      responses: { '200': { description: 'The Prometheus text exposition format (version 0.0.4).', content: { 'text/plain': { schema: { type: 'string' } } } } },
    },
  },
  '/openapi.json': {
    get: {
      operationId: 'getOpenApi',
      tags: ['Operations'],
      summary: 'This document',
      security: [],
      responses: { '200': { description: 'The OpenAPI 3.1 document.', content: { 'application/json': { schema: { type: 'object' } } } } },
    },
  },
});

function replySchemas(): Record<string, JsonObject> {
  const message = { type: 'string', description: 'What went wrong; a schema failure names every bad field by its JSON pointer.' };
  const insertId = {
    type: 'string',
    description:
      'Only on a 503 KAFKA_UNAVAILABLE whose request named no insert id (no Idempotency-Key, no insertId in the body): the insert_id the gateway gave the event. ' +
      'The event may still reach Kafka; retry with this value as Idempotency-Key and it is stored once.',
  };
  return {
    ErrorCode: {
      type: 'string',
      enum: Object.keys(errorCatalogue),
      description: 'The error catalogue (docs/errors.md). ' + Object.entries(errorCatalogue).map(([code, e]) => `${code} (${e.status}${e.retriable ? ', retriable' : ''}): ${e.summary}`).join(' '),
    },
    ErrorResponse: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: schemaRef('ErrorCode'),
        message,
        insert_ids: {
          type: 'array',
          description:
            'Only on a 503 KAFKA_UNAVAILABLE from POST /v1/batch: the insert_id of every event that was being published, by its index in the request. ' +
            'They may still reach Kafka; a retry that gives each event the same insert_id (in the event, or the same Idempotency-Key) is stored once.',
          items: {
            type: 'object',
            required: ['index', 'insert_id'],
            properties: { index: { type: 'integer', minimum: 0 }, insert_id: { type: 'string' } },
          },
        },
      },
    },
    TrieveError: { type: 'object', required: ['message'], properties: { message, insert_id: insertId } },
    NeuralensSuccess: {
      type: 'object',
      required: ['status', 'message'],
      properties: { status: { const: 'success' }, message: { type: 'string', const: '' } },
      examples: [{ status: 'success', message: '' }],
    },
    NeuralensError: { type: 'object', required: ['status', 'message'], properties: { status: { const: 'failure' }, message, insert_id: insertId } },
    GreenflashSuccess: {
      type: 'object',
      required: ['eventId', 'success'],
      properties: { eventId: { type: 'string', format: 'uuid', description: 'The id the gateway gave the event.' }, success: { const: true } },
    },
    GreenflashError: { type: 'object', required: ['success', 'code', 'message'], properties: { success: { const: false }, code: schemaRef('ErrorCode'), message, insert_id: insertId } },
    Health: { type: 'object', required: ['status'], properties: { status: { const: 'ok' } } },
    Ready: { type: 'object', required: ['status'], properties: { status: { const: 'ready' } } },
    NotReady: { type: 'object', required: ['status', 'reason'], properties: { status: { const: 'not ready' }, reason: { type: 'string', description: 'Why Kafka is considered unreachable.' } } },
  };
}

/** The gateway's OpenAPI 3.1 document, generated from schemas/ and the error catalogue. */
export function buildOpenApiDocument(): Record<string, unknown> {
  const schemas = schemaComponents();
  for (const [name, schema] of Object.entries(replySchemas())) {
    if (name in schemas) throw new Error(`Component ${name} is defined twice`);
    schemas[name] = schema;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Sluice gateway',
      version: '0.1.0',
      description:
        'Event ingestion over HTTP in the dialects of Trieve, Neuralens and Greenflash, plus a batch endpoint of our own. ' +
        'A 2xx is sent only after Kafka acknowledged the event; 429 and 503 carry Retry-After and mean nothing was acknowledged.',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    tags: [{ name: 'Trieve' }, { name: 'Neuralens' }, { name: 'Greenflash' }, { name: 'Batch' }, { name: 'Beacon' }, { name: 'Operations' }],
    paths: paths(),
    components: {
      schemas,
      securitySchemes: {
        TrieveApiKey: {
          type: 'apiKey',
          in: 'header',
          name: 'Authorization',
          description: 'The API key, bare ("KEY") as on Trieve\'s API page, or "Bearer KEY" as its SDK sends it.',
        },
        NeuralensApiKey: { type: 'apiKey', in: 'header', name: 'X-Neuralens-API-Key', description: '"Bearer KEY" (a bare key is accepted too).' },
        BearerAuth: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer KEY (a bare key is accepted too).' },
        BeaconKey: { type: 'apiKey', in: 'query', name: 'key', description: 'A publishable key (pk_...), in the query string or as the body\'s "key".' },
      },
    },
  };
}
