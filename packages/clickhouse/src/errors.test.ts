import { clickHouseErrorCode, isRefusalOfRows, refusedRow } from './errors';

const chdb = (code: number, message: string): Error => Object.assign(new Error(`Query failed: Code: ${code}. DB::Exception: ${message}`), { clickhouseCode: code, code: 'CHDB_QUERY' });

test("ClickHouse's code is read from chDB's error, the HTTP client's and the message", () => {
  expect(clickHouseErrorCode(chdb(69, 'Decimal value is too big'))).toBe(69);
  expect(clickHouseErrorCode(Object.assign(new Error('Constraint violated'), { code: '469', type: 'VIOLATED_CONSTRAINT' }))).toBe(469);
  expect(clickHouseErrorCode(new Error('Code: 27. DB::Exception: Cannot parse input'))).toBe(27);
  expect(clickHouseErrorCode(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBeUndefined();
});

test.each([
  ['a value a column cannot hold', chdb(69, 'Decimal value is too big'), true],
  ['text it cannot parse', chdb(26, 'Cannot parse escape sequence: missing second part of surrogate pair'), true],
  ['a constraint', chdb(469, 'Constraint `c` is violated at row 1'), true],
  ['too many partitions for one insert', chdb(252, 'Too many partitions for single INSERT block (more than 100).'), true],
  ['too many parts (a merge backlog)', chdb(252, 'Too many parts (300). Merges are processing significantly slower than inserts'), false],
  ['memory', chdb(241, 'Memory limit (total) exceeded'), false],
  ['a missing table', chdb(60, 'Table sluice.events does not exist'), false],
  ['no answer at all', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), false],
  ['an error without a ClickHouse code', new Error('something else'), false],
])('%s: a refusal of the rows is %s', (_name, error, expected) => {
  expect(isRefusalOfRows(error)).toBe(expected);
});

test('the row ClickHouse names in a refusal, counted from 1', () => {
  expect(refusedRow(chdb(469, 'Constraint `c` for table sluice.events is violated at row 91. Expression: (r < 5)'))).toBe(91);
  expect(refusedRow(chdb(69, "Decimal value is too big: (while reading the value of key revenue): (at row 3)\n: Row 3:"))).toBe(3);
  expect(refusedRow(chdb(252, 'Too many partitions for single INSERT block (more than 100).'))).toBeUndefined();
});
