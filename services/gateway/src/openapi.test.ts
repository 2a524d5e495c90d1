import { randomUUID } from 'node:crypto';
import { errorCatalogue } from '@sluice/core';
import { loadSchema } from '@sluice/envelope';
import { buildOpenApiDocument, schemaFiles, type SchemaName } from './openapi';
import { defaultBatchLimits } from './ingest/batch';

import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value at a path of keys, failing the test when a step is missing. */
function at(value: unknown, ...keys: string[]): unknown {
  let current = value;
  for (const key of keys) {
    const container: unknown = current;
    current = Array.isArray(container) ? (container as unknown[])[Number(key)] : isObject(container) && key in container ? container[key] : undefined;
    if (current === undefined) throw new Error(`No ${JSON.stringify(key)} in ${keys.join(' > ')}`);
  }
  return current;
}

function objectAt(value: unknown, ...keys: string[]): JsonObject {
  const found = at(value, ...keys);
  if (!isObject(found)) throw new Error(`${keys.join(' > ')} is not an object`);
  return found;
}

/** Every `$ref` string in a value, with where it was found. */
function refsIn(value: unknown, where = ''): { where: string; ref: string }[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => refsIn(v, `${where}/${i}`));
  if (!isObject(value)) return [];
  return Object.entries(value).flatMap(([key, v]) => (key === '$ref' && typeof v === 'string' ? [{ where, ref: v }] : refsIn(v, `${where}/${key}`)));
}

/** Every key anywhere in a value. */
function keysIn(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(keysIn);
  if (!isObject(value)) return [];
  return Object.entries(value).flatMap(([key, v]) => [key, ...keysIn(v)]);
}

/** What the generator should make of a schema file, computed independently: the refs as text. */
function expectedComponent(name: SchemaName, schema: unknown): JsonObject {
  const rewritten = JSON.parse(JSON.stringify(schema).split('"#/$defs/').join(`"#/components/schemas/${name}_`)) as JsonObject;
  delete rewritten.$schema;
  delete rewritten.$id;
  delete rewritten.$defs;
  return rewritten;
}

const httpMethods = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);

const dialectOperations: { method: string; path: string; schema: SchemaName; errorSchema: string }[] = [
  { method: 'put', path: '/api/analytics/events', schema: 'TrieveEvent', errorSchema: 'TrieveError' },
  { method: 'put', path: '/api/analytics/ctr', schema: 'TrieveCtr', errorSchema: 'TrieveError' },
  { method: 'post', path: '/analytics/event', schema: 'NeuralensEvent', errorSchema: 'NeuralensError' },
  { method: 'post', path: '/api/v1/events', schema: 'GreenflashEvent', errorSchema: 'GreenflashError' },
];

const documentId = 'https://sluice.invalid/openapi.json';

/** An ajv that knows the document's components, so `#/components/schemas/X` resolves. */
function componentsAjv(document: JsonObject): Ajv2020 {
  const ajv = new Ajv2020({ strict: false, allErrors: true, discriminator: true });
  addFormats(ajv);
  ajv.addSchema({ $id: documentId, components: { schemas: objectAt(document, 'components', 'schemas') } });
  return ajv;
}

describe('buildOpenApiDocument', () => {
  const document = buildOpenApiDocument();
  const schemas = objectAt(document, 'components', 'schemas');
  const operation = (method: string, path: string): JsonObject => objectAt(document, 'paths', path, method);

  test('is an OpenAPI 3.1.0 document of plain JSON', () => {
    expect(document.openapi).toBe('3.1.0');
    expect(JSON.parse(JSON.stringify(document))).toEqual(document);
    expect(buildOpenApiDocument()).toEqual(document);
  });

  test('has exactly the gateway routes', () => {
    const operations = Object.entries(objectAt(document, 'paths')).flatMap(([path, item]) => Object.keys(objectAt(item)).map((method) => `${method.toUpperCase()} ${path}`));
    expect(operations.sort()).toEqual(
      [
        'PUT /api/analytics/events',
        'PUT /api/analytics/ctr',
        'POST /analytics/event',
        'POST /api/v1/events',
        'POST /v1/batch',
        'POST /v1/beacon',
        'GET /healthz',
        'GET /readyz',
        'GET /metrics',
        'GET /openapi.json',
      ].sort(),
    );
    for (const item of Object.values(objectAt(document, 'paths'))) for (const method of Object.keys(objectAt(item))) expect(httpMethods.has(method)).toBe(true);
    const ids = operations.map((o) => {
      const [method = '', path = ''] = o.split(' ');
      return operation(method.toLowerCase(), path).operationId;
    });
    expect(new Set(ids).size).toBe(ids.length);
  });

  test('every $ref in the document names an existing components.schemas entry', () => {
    const refs = refsIn(document);
    expect(refs.length).toBeGreaterThan(20);
    for (const { where, ref } of refs) {
      const name = /^#\/components\/schemas\/([A-Za-z0-9._-]+)$/.exec(ref)?.[1];
      expect({ where, ref, resolves: name !== undefined && name in schemas }).toEqual({ where, ref, resolves: true });
    }
  });

  test('components carry no $schema, $id or $defs, and every schema file and each of its $defs is a component', () => {
    expect(keysIn(schemas).filter((k) => k === '$schema' || k === '$id' || k === '$defs')).toEqual([]);
    for (const [name, file] of Object.entries(schemaFiles) as [SchemaName, string][]) {
      const loaded = loadSchema(file);
      expect(schemas[name]).toEqual(expectedComponent(name, loaded));
      for (const [def, schema] of Object.entries(isObject(loaded.$defs) ? loaded.$defs : {})) expect(schemas[`${name}_${def}`]).toEqual(expectedComponent(name, schema));
    }
    // The Trieve schema's $defs, hoisted.
    expect(Object.keys(schemas).filter((k) => k.startsWith('TrieveEvent_')).sort()).toEqual(
      ['TrieveEvent_CTRType', 'TrieveEvent_ChunkWithPosition', 'TrieveEvent_PurchaseItem', 'TrieveEvent_RequestInfo', 'TrieveEvent_SearchQueryRating'].sort(),
    );
  });

  test.each(dialectOperations)('$method $path takes the dialect schema as its body and answers errors in the dialect shape', ({ method, path, schema, errorSchema }) => {
    const op = operation(method, path);
    expect(at(op, 'requestBody', 'required')).toBe(true);
    expect(Object.keys(objectAt(op, 'requestBody', 'content'))).toEqual(['application/json']);
    const bodySchema = objectAt(op, 'requestBody', 'content', 'application/json', 'schema');
    expect(bodySchema).toEqual({ $ref: `#/components/schemas/${schema}` });
    expect(schemas[schema]).toEqual(expectedComponent(schema, loadSchema(schemaFiles[schema])));

    const responses = objectAt(op, 'responses');
    expect(Object.keys(responses).sort()).toEqual([path.startsWith('/api/analytics') ? '204' : '200', '400', '401', '403', '413', '415', '429', '503'].sort());
    for (const status of ['400', '401', '403', '413', '415', '429', '503']) {
      expect(at(responses, status, 'content', 'application/json', 'schema')).toEqual({ $ref: `#/components/schemas/${errorSchema}` });
    }
  });

  test('Trieve routes: Authorization key (bare or Bearer), TR-Dataset required, Idempotency-Key optional, 204 without a body', () => {
    expect(objectAt(document, 'components', 'securitySchemes', 'TrieveApiKey')).toMatchObject({ type: 'apiKey', in: 'header', name: 'Authorization' });
    for (const path of ['/api/analytics/events', '/api/analytics/ctr']) {
      const op = operation('put', path);
      expect(op.security).toEqual([{ TrieveApiKey: [] }]);
      expect(op.parameters).toEqual([
        expect.objectContaining({ name: 'TR-Dataset', in: 'header', required: true }),
        expect.objectContaining({ name: 'Idempotency-Key', in: 'header', required: false }),
      ]);
      expect(objectAt(op, 'responses', '204')).not.toHaveProperty('content');
    }
  });

  test('Neuralens: X-Neuralens-API-Key and X-Neuralens-Application-ID; Greenflash and batch: bearer', () => {
    expect(objectAt(document, 'components', 'securitySchemes', 'NeuralensApiKey')).toMatchObject({ type: 'apiKey', in: 'header', name: 'X-Neuralens-API-Key' });
    expect(objectAt(document, 'components', 'securitySchemes', 'BearerAuth')).toMatchObject({ type: 'http', scheme: 'bearer' });
    const neuralens = operation('post', '/analytics/event');
    expect(neuralens.security).toEqual([{ NeuralensApiKey: [] }]);
    expect(neuralens.parameters).toContainEqual(expect.objectContaining({ name: 'X-Neuralens-Application-ID', in: 'header', required: true }));
    expect(operation('post', '/api/v1/events').security).toEqual([{ BearerAuth: [] }]);
    expect(operation('post', '/v1/batch').security).toEqual([{ BearerAuth: [] }]);
    for (const path of ['/healthz', '/readyz', '/metrics', '/openapi.json']) expect(operation('get', path).security).toEqual([]);
  });

  test('POST /v1/batch: NDJSON or a JSON array of BatchItem, gzip, Idempotency-Key, and its answers', () => {
    const op = operation('post', '/v1/batch');
    const content = objectAt(op, 'requestBody', 'content');
    expect(Object.keys(content).sort()).toEqual(['application/json', 'application/x-ndjson']);
    expect(objectAt(content, 'application/json', 'schema')).toEqual({
      type: 'array',
      minItems: 1,
      maxItems: defaultBatchLimits.maxEvents,
      items: { $ref: '#/components/schemas/BatchItem' },
    });
    expect(defaultBatchLimits).toEqual({ maxEvents: 10_000, maxBytes: 8 * 1024 * 1024 });
    expect(op.parameters).toEqual([
      expect.objectContaining({ name: 'Idempotency-Key', in: 'header', required: false }),
      expect.objectContaining({ name: 'Content-Encoding', in: 'header', required: false }),
    ]);
    expect(at(op, 'parameters', '1', 'schema', 'enum')).toContain('gzip');
    const responses = objectAt(op, 'responses');
    expect(Object.keys(responses).sort()).toEqual(['200', '207', '400', '401', '403', '413', '415', '429', '503']);
    for (const status of ['200', '207']) expect(at(responses, status, 'content', 'application/json', 'schema')).toEqual({ $ref: '#/components/schemas/BatchResponse' });
    // A batch refused as a whole (malformed, or from an origin its key does not allow) gets {code, message}.
    for (const status of ['400', '403']) {
      expect(at(responses, status, 'content', 'application/json', 'schema')).toEqual({ oneOf: [{ $ref: '#/components/schemas/BatchResponse' }, { $ref: '#/components/schemas/ErrorResponse' }] });
    }
    for (const status of ['401', '413', '415', '429', '503']) expect(at(responses, status, 'content', 'application/json', 'schema')).toEqual({ $ref: '#/components/schemas/ErrorResponse' });
  });

  test('POST /v1/beacon: a Beacon body as text/plain or JSON, the key and dataset in the query string, and its answers', () => {
    const op = operation('post', '/v1/beacon');
    expect(objectAt(op, 'requestBody', 'content')).toEqual({
      'text/plain': { schema: { $ref: '#/components/schemas/Beacon' } },
      'application/json': { schema: { $ref: '#/components/schemas/Beacon' } },
    });
    expect(op.parameters).toEqual([expect.objectContaining({ name: 'key', in: 'query', required: false }), expect.objectContaining({ name: 'dataset_id', in: 'query', required: false })]);
    const responses = objectAt(op, 'responses');
    expect(Object.keys(responses).sort()).toEqual(['204', '207', '400', '401', '403', '413', '415', '429', '503']);
    expect(responses['204']).not.toHaveProperty('content');
    expect(String(objectAt(responses, '403').description)).toMatch(/PUBLISHABLE_KEY_REQUIRED.*ORIGIN_NOT_ALLOWED/);
  });

  test('every 429 and 503 answer documents Retry-After', () => {
    let checked = 0;
    for (const [path, item] of Object.entries(objectAt(document, 'paths'))) {
      for (const [method, op] of Object.entries(objectAt(item))) {
        for (const [status, response] of Object.entries(objectAt(op, 'responses'))) {
          if (status !== '429' && status !== '503') continue;
          checked++;
          expect({ path, method, status, header: objectAt(response, 'headers', 'Retry-After').schema }).toEqual({ path, method, status, header: { type: 'integer', minimum: 0 } });
        }
      }
    }
    // 429 and 503 on the four dialects, the batch and the beacon, and 503 on /readyz.
    expect(checked).toBe(13);
  });

  test('ErrorCode is the error catalogue', () => {
    expect(schemas.ErrorCode).toMatchObject({ type: 'string', enum: Object.keys(errorCatalogue) });
  });

  test('operations endpoints answer as documented', () => {
    expect(at(operation('get', '/healthz'), 'responses', '200', 'content', 'application/json', 'schema')).toEqual({ $ref: '#/components/schemas/Health' });
    expect(Object.keys(objectAt(operation('get', '/readyz'), 'responses')).sort()).toEqual(['200', '503']);
    expect(Object.keys(objectAt(operation('get', '/metrics'), 'responses', '200', 'content'))).toEqual(['text/plain']);
    expect(Object.keys(objectAt(operation('get', '/openapi.json'), 'responses', '200', 'content'))).toEqual(['application/json']);
  });

  test('every components schema is a valid JSON Schema 2020-12 and compiles with ajv', () => {
    const ajv = componentsAjv(document);
    for (const [name, schema] of Object.entries(schemas)) {
      expect({ name, valid: ajv.validateSchema(objectAt(schema)), errors: ajv.errors ?? null }).toEqual({ name, valid: true, errors: null });
      expect(() => ajv.compile({ $ref: `${documentId}#/components/schemas/${name}` })).not.toThrow();
    }
  });

  test('the rewritten schemas judge events exactly as the files do', () => {
    const ajv = componentsAjv(document);
    const original = new Ajv2020({ strict: false, allErrors: true, discriminator: true });
    addFormats(original);
    const uuid = '9b2d1c5e-7a41-4f0e-b3d2-1a6c0e8f4b7d';
    const samples: Record<SchemaName, unknown[]> = {
      Envelope: [{ schema_version: 1 }, { ...objectAt(loadSchema(schemaFiles.Envelope), 'examples', '0'), source: 'nope' }],
      BatchItem: [{ schema_version: 1 }, { source: 'trieve', dataset_id: 'd', event: {} }, { source: 'trieve', event: {}, extra: 1 }, { source: 'other', event: {} }],
      BatchResponse: [
        { accepted: 1, duplicates: 0, rejected: 0, results: [{ index: 0, status: 'accepted', event_id: uuid, insert_id: 'x' }] },
        { accepted: 0, duplicates: 0, rejected: 1, results: [{ index: 0, status: 'invalid', errors: [{ path: '/0', message: 'm', extra: 1 }] }] },
      ],
      Beacon: [
        { key: 'pk_x', dataset_id: 'd', events: [{ source: 'trieve', event: {} }] },
        { events: [] },
        { events: [{}], extra: 1 },
        { key: 'pk_x', source: 'trieve', dataset_id: 'd', event: {} },
        { key: 1, source: 'trieve', event: {} },
      ],
      TrieveEvent: [
        { event_type: 'click', event_name: 'c', clicked_items: { chunk_id: uuid, position: 1 }, request: { request_id: uuid, request_type: 'search' } },
        { event_type: 'click', event_name: 'c', clicked_items: { chunk_id: uuid, position: 1.5 } },
        { event_type: 'click', event_name: 'c', request: { request_id: uuid, request_type: 'other' } },
        { event_type: 'purchase', event_name: 'p', items: [{ tracking_id: 't', revenue: 1 }] },
        { event_type: 'purchase', event_name: 'p', items: [{ tracking_id: 't' }] },
        { event_type: 'search', query: 'q', tokens: 1, query_rating: { rating: 2 } },
        { event_type: 'search', query: 'q', tokens: 1, query_rating: { rating: 'good' } },
      ],
      TrieveCtr: [
        { request_id: uuid, ctr_type: 'search', position: 2 },
        { request_id: uuid, ctr_type: 'chunk', position: 2 },
      ],
      NeuralensEvent: [
        { event: 'PURCHASE', page: 'PRODUCT_PAGE', items: [{ id: 'a' }, { id: 'b' }], timestamp: 1715644800 },
        { event: 'CLICK_PRODUCT', page: 'PRODUCT_PAGE', items: [{ id: 'a' }, { id: 'b' }], timestamp: 1715644800 },
      ],
      GreenflashEvent: [
        { eventType: 'signup', productId: 'p', value: '1' },
        { eventType: 'signup', productId: 'p', value: 1 },
      ],
    };
    for (const [name, file] of Object.entries(schemaFiles) as [SchemaName, string][]) {
      const loaded = loadSchema(file);
      const fromFile = original.compile(loaded);
      const fromDocument = ajv.compile({ $ref: `${documentId}#/components/schemas/${name}` });
      const examples = Array.isArray(loaded.examples) ? (loaded.examples as unknown[]) : [];
      const verdicts = [...examples, ...samples[name]].map((sample) => ({ name, sample, valid: fromFile(sample) }));
      expect(verdicts.map(({ name: n, sample }) => ({ name: n, sample, valid: fromDocument(sample) }))).toEqual(verdicts);
      // Each schema's samples include both verdicts, so the comparison means something.
      expect(new Set(verdicts.map((v) => v.valid))).toEqual(new Set([true, false]));
    }
  });

  test('the reply schemas match what the dialects answer', () => {
    const ajv = componentsAjv(document);
    const validate = (name: string, value: unknown): boolean => ajv.validate(`${documentId}#/components/schemas/${name}`, value);
    expect(validate('TrieveError', { message: 'Invalid API key' })).toBe(true);
    expect(validate('NeuralensSuccess', { status: 'success', message: '' })).toBe(true);
    expect(validate('NeuralensError', { status: 'failure', message: 'Missing API key' })).toBe(true);
    expect(validate('NeuralensError', { status: 'success', message: '' })).toBe(false);
    expect(validate('GreenflashSuccess', { eventId: randomUUID(), success: true })).toBe(true);
    expect(validate('GreenflashSuccess', { eventId: 'not-a-uuid', success: true })).toBe(false);
    expect(validate('GreenflashError', { success: false, code: 'INVALID_EVENT', message: 'Invalid field "/value": must be string' })).toBe(true);
    expect(validate('GreenflashError', { success: false, code: 'NO_SUCH_CODE', message: 'x' })).toBe(false);
    expect(validate('ErrorResponse', { code: 'KAFKA_UNAVAILABLE', message: 'Kafka is unavailable' })).toBe(true);
    // After a send timed out, the insert ids a retry must reuse.
    expect(validate('TrieveError', { message: 'Kafka did not acknowledge the event', insert_id: randomUUID() })).toBe(true);
    expect(validate('NeuralensError', { status: 'failure', message: 'Kafka did not acknowledge the event', insert_id: randomUUID() })).toBe(true);
    expect(validate('GreenflashError', { success: false, code: 'KAFKA_UNAVAILABLE', message: 'm', insert_id: randomUUID() })).toBe(true);
    expect(validate('GreenflashError', { success: false, code: 'KAFKA_UNAVAILABLE', message: 'm', insert_id: 7 })).toBe(false);
    expect(validate('ErrorResponse', { code: 'KAFKA_UNAVAILABLE', message: 'm', insert_ids: [{ index: 0, insert_id: randomUUID() }, { index: 3, insert_id: 'env-1' }] })).toBe(true);
    expect(validate('ErrorResponse', { code: 'KAFKA_UNAVAILABLE', message: 'm', insert_ids: [{ insert_id: 'env-1' }] })).toBe(false);
    expect(validate('ErrorResponse', { message: 'x' })).toBe(false);
    expect(validate('Health', { status: 'ok' })).toBe(true);
    expect(validate('Ready', { status: 'ready' })).toBe(true);
    expect(validate('NotReady', { status: 'not ready', reason: 'Kafka is unreachable' })).toBe(true);
  });
});
