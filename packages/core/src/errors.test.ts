import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorCatalogue, errorMessage, isSluiceError, SluiceError, type ErrorCode } from './errors';

const docPath = join(__dirname, '..', '..', '..', 'docs', 'errors.md');
const doc = readFileSync(docPath, 'utf8');

interface DocRow {
  code: string;
  status: number;
  retriable: boolean;
  summary: string;
  line: number;
}

/** Table lines whose first cell is an UPPER_SNAKE code (the header and separator rows are not). */
const codeLines = doc
  .split('\n')
  .map((text, index) => ({ text: text.trim(), line: index + 1 }))
  .filter(({ text }) => /^\|\s*`?[A-Z][A-Z0-9_]*`?\s*\|/.test(text));

/** `| CODE | status | yes/no | summary |`, the code optionally in backticks. */
const rowPattern = /^\|\s*`?([A-Z][A-Z0-9_]*)`?\s*\|\s*(\d{3})\s*\|\s*(yes|no)\s*\|\s*(.*?)\s*\|$/;

const rows: DocRow[] = codeLines.flatMap(({ text, line }) => {
  const match = rowPattern.exec(text);
  if (match === null) return [];
  const [, code = '', status = '', retriable = '', summary = ''] = match;
  return [{ code, status: Number(status), retriable: retriable === 'yes', summary, line }];
});

const catalogueCodes = Object.keys(errorCatalogue) as ErrorCode[];

describe('docs/errors.md and the error catalogue', () => {
  test('every code row has the form | CODE | status | yes/no | summary |', () => {
    const malformed = codeLines.filter(({ text }) => !rowPattern.test(text)).map(({ text, line }) => `line ${line}: ${text}`);
    expect(malformed).toEqual([]);
    expect(rows.length).toBeGreaterThan(0);
  });

  test.each(catalogueCodes)('%s is documented with its exact status and retriable value', (code) => {
    const documented = rows.filter((row) => row.code === code);
    expect(documented).toHaveLength(1);
    const [row] = documented;
    expect({ status: row?.status, retriable: row?.retriable }).toEqual({ status: errorCatalogue[code].status, retriable: errorCatalogue[code].retriable });
    expect(row?.summary).not.toBe('');
  });

  test('the doc lists no code the catalogue lacks', () => {
    const unknown = rows.filter((row) => !(row.code in errorCatalogue)).map((row) => `line ${row.line}: ${row.code}`);
    expect(unknown).toEqual([]);
  });

  test('the doc says that 503s come with Retry-After', () => {
    expect(doc).toMatch(/503/);
    expect(doc).toMatch(/Retry-After/);
  });
});

describe('the error catalogue', () => {
  test.each(catalogueCodes)('%s is retriable exactly when it is a 429 or a 503 (both carry Retry-After)', (code) => {
    expect(errorCatalogue[code].retriable).toBe([429, 503].includes(errorCatalogue[code].status));
  });

  test.each(catalogueCodes)('%s has an HTTP error status and a summary', (code) => {
    const { status, summary } = errorCatalogue[code];
    expect(status).toBeGreaterThanOrEqual(400);
    expect(status).toBeLessThan(600);
    expect(summary.trim()).not.toBe('');
  });
});

describe('SluiceError', () => {
  test('takes its status and retriable flag from the catalogue', () => {
    const error = new SluiceError('KAFKA_UNAVAILABLE', 'Kafka did not acknowledge the event');
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ name: 'SluiceError', code: 'KAFKA_UNAVAILABLE', status: 503, retriable: true, field: undefined, message: 'Kafka did not acknowledge the event' });
    expect(new SluiceError('INVALID_EVENT', 'bad', { field: '/items' })).toMatchObject({ status: 400, retriable: false, field: '/items' });
  });

  test('keeps a cause only when one is given', () => {
    const cause = new Error('socket hang up');
    expect(new SluiceError('INTERNAL', 'x', { cause }).cause).toBe(cause);
    expect('cause' in new SluiceError('INTERNAL', 'x')).toBe(false);
  });

  test('withInsertIds names the insert ids on a new error and leaves the original, which other requests may share, alone', () => {
    const shared = new SluiceError('KAFKA_UNAVAILABLE', 'Kafka did not acknowledge the event', { retryAfterSeconds: 2 });
    const named = shared.withInsertIds([{ index: 0, insert_id: 'a' }]);
    expect(named).toMatchObject({ code: 'KAFKA_UNAVAILABLE', status: 503, message: 'Kafka did not acknowledge the event', retryAfterSeconds: 2, insertIds: [{ index: 0, insert_id: 'a' }] });
    expect(named.cause).toBe(shared);
    expect(shared.insertIds).toBeUndefined();
  });

  test('isSluiceError and errorMessage', () => {
    expect(isSluiceError(new SluiceError('NOT_FOUND', 'x'))).toBe(true);
    expect(isSluiceError(new Error('x'))).toBe(false);
    expect(isSluiceError({ code: 'NOT_FOUND' })).toBe(false);
    expect(errorMessage(new SluiceError('NOT_FOUND', 'No route'))).toBe('No route');
    expect(errorMessage('plain')).toBe('plain');
    expect(errorMessage(42)).toBe('42');
  });
});
