import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { datasetIdProblem } from '@sluice/tenancy';
import { analystsFixture, awkwardDatasetId } from '../../../test/helpers/analysts-fixture';
import {
  addAnalyst,
  analystTables,
  datasetFilter,
  listAnalysts,
  parseAnalystsFile,
  readAnalystsFileText,
  removeAnalyst,
  renderAnalystUsers,
  setAnalystDatasets,
  sqlStringLiteral,
  writeAnalystUsers,
  writeAnalystsFile,
} from './analyst-users';
import { expectInvalidConfig } from '../../../test/helpers/expect-invalid-config';
import { runKeysCli } from '../../../test/helpers/keys-cli';

const goldenFile = join(__dirname, 'analyst-users.golden.xml');
const t0 = new Date('2025-01-31T12:00:00.000Z');
const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');
/** A random source that gives `size` copies of one byte, so the password is known. */
const fixedRandom = (byte: number) => (size: number) => Buffer.alloc(size, byte);

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-analysts-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('editing the analysts file', () => {
  test('add makes a 43-character base64url password from the random source, and stores only its SHA-256', () => {
    const added = addAnalyst(undefined, { name: 'alice', datasets: ['shop-a'] }, t0, fixedRandom(0xfb));
    expect(added.password).toBe(Buffer.alloc(32, 0xfb).toString('base64url'));
    expect(added.password).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(JSON.parse(added.contents)).toEqual({
      version: 1,
      analysts: [{ name: 'alice', password_sha256: sha256(added.password), datasets: ['shop-a'], created_at: '2025-01-31T12:00:00.000Z' }],
    });
    expect(added.contents).not.toContain(added.password);
    expect(added.analyst).toEqual({ name: 'alice', datasets: ['shop-a'], created_at: '2025-01-31T12:00:00.000Z' });
  });

  test('with the real random source, every password differs', () => {
    const first = addAnalyst(undefined, { name: 'a', datasets: ['x'] }, t0);
    const second = addAnalyst(first.contents, { name: 'b', datasets: ['x'] }, t0);
    expect(first.password).not.toBe(second.password);
    expect(listAnalysts(second.contents).map((a) => a.name)).toEqual(['a', 'b']);
  });

  test('repeated datasets are kept once, and "*" alone means every dataset', () => {
    expect(addAnalyst(undefined, { name: 'a', datasets: ['x', 'y', 'x'] }, t0).analyst.datasets).toEqual(['x', 'y']);
    expect(addAnalyst(undefined, { name: 'a', datasets: ['*', '*'] }, t0).analyst.datasets).toEqual(['*']);
  });

  test.each<[string, { name: string; datasets: string[] }, string]>([
    ['the server has a user default', { name: 'default', datasets: ['x'] }, '"default" is a user the server already has; choose another name'],
    ['analyst.xml has a user analyst', { name: 'analyst', datasets: ['x'] }, '"analyst" is a user the server already has; choose another name'],
    ['a name ClickHouse cannot hold as a user', { name: 'Alice Smith', datasets: ['x'] }, /An analyst's name is a ClickHouse user name: .*; got "Alice Smith"/],
    ['a name starting with a digit', { name: '1alice', datasets: ['x'] }, /got "1alice"/],
    ['no dataset', { name: 'a', datasets: [] }, 'Name at least one dataset, or "*" for every dataset'],
    ['an empty dataset id', { name: 'a', datasets: ['x', ''] }, 'A dataset id must not be empty'],
    ['a padded dataset id', { name: 'a', datasets: [' x'] }, 'The dataset id " x" must not start or end with whitespace'],
    ['"*" among ids', { name: 'a', datasets: ['x', '*'] }, '"*" means every dataset, so it comes alone; got "x", "*"'],
  ] as [string, { name: string; datasets: string[] }, string][])('add refuses %s', (_case, input, message) => {
    expectInvalidConfig(() => addAnalyst(undefined, input, t0), message);
  });

  test('add refuses a name already taken, and a broken random source', () => {
    const { contents } = addAnalyst(undefined, { name: 'alice', datasets: ['x'] }, t0);
    expectInvalidConfig(() => addAnalyst(contents, { name: 'alice', datasets: ['y'] }, t0, undefined, 'a.json'), 'a.json already has an analyst named "alice"');
    expectInvalidConfig(() => addAnalyst(undefined, { name: 'b', datasets: ['y'] }, t0, () => Buffer.alloc(4)), 'The random source did not give 32 bytes for the password');
  });

  test('datasets replaces the list and keeps the password; remove drops the analyst; both refuse an unknown name', () => {
    const alice = addAnalyst(undefined, { name: 'alice', datasets: ['x'] }, t0);
    const bob = addAnalyst(alice.contents, { name: 'bob', datasets: ['y'] }, t0);
    const changed = setAnalystDatasets(bob.contents, 'alice', ['z', 'w'], 'a.json');
    expect(changed.analyst.datasets).toEqual(['z', 'w']);
    expect(parseAnalystsFile(changed.contents).analysts[0]).toMatchObject({ name: 'alice', password_sha256: sha256(alice.password), datasets: ['z', 'w'] });
    const removed = removeAnalyst(changed.contents, 'alice', 'a.json');
    expect(listAnalysts(removed.contents)).toEqual([{ name: 'bob', datasets: ['y'], created_at: t0.toISOString() }]);
    expectInvalidConfig(() => removeAnalyst(removed.contents, 'alice', 'a.json'), 'No analyst named "alice" in a.json');
    expectInvalidConfig(() => setAnalystDatasets(removed.contents, 'carol', ['x'], 'a.json'), 'No analyst named "carol" in a.json');
    expectInvalidConfig(() => setAnalystDatasets(removed.contents, 'bob', [], 'a.json'), 'Name at least one dataset, or "*" for every dataset');
  });

  test('list shows name, datasets and created, never the hash', () => {
    const { contents, password } = addAnalyst(undefined, { name: 'alice', datasets: ['x'] }, t0);
    const listed = JSON.stringify(listAnalysts(contents));
    expect(listed).not.toContain(sha256(password));
    expect(listAnalysts(undefined)).toEqual([]);
  });
});

describe('checking the analysts file (schemas/analysts.v1.json)', () => {
  const valid = { name: 'alice', password_sha256: 'a'.repeat(64), datasets: ['x'], created_at: '2025-01-31T12:00:00.000Z' };
  const withAnalyst = (fields: Record<string, unknown>): string => JSON.stringify({ version: 1, analysts: [{ ...valid, ...fields }] });

  test.each<[string, string, RegExp]>([
    ['not JSON', '{', /^a\.json: is not valid JSON \(/],
    ['another version', JSON.stringify({ version: 2, analysts: [] }), /^a\.json: \/version must be 1$/],
    ['no analysts', JSON.stringify({ version: 1 }), /^a\.json: \/analysts is required$/],
    ['an unknown field', withAnalyst({ password: 'x' }), /^a\.json: \/analysts\/0\/password is not an allowed property$/],
    ['a hash that is not 64 lowercase hex', withAnalyst({ password_sha256: 'A'.repeat(64) }), /^a\.json: \/analysts\/0\/password_sha256 must match pattern/],
    ['a reserved name', withAnalyst({ name: 'default' }), /^a\.json: \/analysts\/0\/name must NOT be valid$/],
    ['no datasets', withAnalyst({ datasets: [] }), /^a\.json: \/analysts\/0\/datasets must NOT have fewer than 1 items$/],
    ['"*" among ids', withAnalyst({ datasets: ['*', 'x'] }), /^a\.json: \/analysts\/0\/datasets must NOT have more than 1 items$/],
    ['a padded id', withAnalyst({ datasets: ['x '] }), /^a\.json: \/analysts\/0\/datasets\/0 must match pattern "[^"]*"$/],
    ['a repeated id', withAnalyst({ datasets: ['x', 'x'] }), /^a\.json: \/analysts\/0\/datasets must NOT have duplicate items \(items ## 0 and 1 are identical\)$/],
    ['a time that is not one', withAnalyst({ created_at: 'yesterday' }), /^a\.json: \/analysts\/0\/created_at must match format "date-time"$/],
    ['two analysts of one name', JSON.stringify({ version: 1, analysts: [valid, valid] }), /^a\.json: \/analysts\/1\/name "alice" is also the name of \/analysts\/0; names must be unique$/],
  ])('refuses %s, naming the field', (_case, text, message) => {
    expectInvalidConfig(() => parseAnalystsFile(text, 'a.json'), message);
  });

  test('accepts what the edits write, and the fixture', () => {
    expect(parseAnalystsFile(JSON.stringify(analystsFixture))).toEqual(analystsFixture);
  });

  test("the schema's dataset id is the key file's (datasetIdProblem)", () => {
    const accepts = (datasetId: string): boolean => {
      try {
        parseAnalystsFile(withAnalyst({ datasets: [datasetId] }));
        return true;
      } catch {
        return false;
      }
    };
    const whitespace = fc.constantFrom(' ', '\t', '\n', '\r', '\u00a0', '\u2028', '\ufeff', '\u3000');
    const ids = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.tuple(fc.option(whitespace), fc.string(), fc.option(whitespace)).map(([a, s, b]) => `${a ?? ''}${s}${b ?? ''}`));
    fc.assert(fc.property(ids, (datasetId) => accepts(datasetId) === (datasetIdProblem(datasetId) === undefined)), { numRuns: 2000 });
  });
});

describe('rendering the users.d file', () => {
  test('the fixture renders to the committed golden file', () => {
    const fresh = renderAnalystUsers(analystsFixture, 'sluice');
    const golden = readFileSync(goldenFile, 'utf8');
    if (fresh !== golden) {
      const freshLines = fresh.split('\n');
      const line = golden.split('\n').findIndex((text, i) => text !== freshLines[i]);
      throw new Error(`${goldenFile} differs from a fresh render at line ${line + 1}: ${JSON.stringify(freshLines[line] ?? '')}; if the change is meant, write the fresh render there and review the diff`);
    }
  });

  test('an XML comment holds no "--" (the parser refuses it) and every user is one element', () => {
    const xml = renderAnalystUsers(analystsFixture, 'sluice');
    for (const [comment] of xml.matchAll(/<!--([\s\S]*?)-->/g)) expect(comment.slice(4, -3)).not.toContain('--');
    for (const { name } of analystsFixture.analysts) expect(xml.split(`<${name}>`)).toHaveLength(2);
  });

  test('each user gets SELECT on exactly the analyst tables, each filtered to its datasets', () => {
    const xml = renderAnalystUsers({ version: 1, analysts: [analystsFixture.analysts[0]!] }, 'analytics');
    expect([...xml.matchAll(/<query>(.*)<\/query>/g)].map((m) => m[1])).toEqual(analystTables.map((t) => `GRANT SELECT ON analytics.${t}`));
    expect([...xml.matchAll(/<(\w+)><filter>(.*)<\/filter><\/\1>/g)].map((m) => [m[1], m[2]])).toEqual(analystTables.map((t) => [t, "dataset_id IN ('shop-a')"]));
    expect(xml).toContain('<default_database>analytics</default_database>');
    expect(xml).toContain('<profile>analyst</profile>');
  });

  test('no analysts is an empty users section; a database name that is not one is refused', () => {
    expect(renderAnalystUsers({ version: 1, analysts: [] }, 'sluice')).toContain('<clickhouse>\n    <users/>\n</clickhouse>\n');
    expectInvalidConfig(() => renderAnalystUsers(analystsFixture, 'sluice.events'), 'ClickHouse database name "sluice.events" must match [A-Za-z_][A-Za-z0-9_]*');
  });

  test.each<[string, string]>([
    ['shop-a', "'shop-a'"],
    ["it's", "'it\\'s'"],
    ['a\\b', "'a\\\\b'"],
    ['<&>', "'<&>'"],
    ['a\nb\u0000', "'a\\x0Ab\\x00'"],
    ['é', "'\\xC3\\xA9'"],
    ['\u007f', "'\\x7F'"],
  ])('the literal of %j is %s', (value, literal) => {
    expect(sqlStringLiteral(value)).toBe(literal);
  });

  test('a literal holds only printable ASCII, and no quote that is not escaped', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.oneof(fc.constantFrom("'", '\\', '\n', '\u0000', '\u007f', 'é', '\u{1f600}'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })) }), (value) => {
        const body = sqlStringLiteral(value).slice(1, -1);
        expect(body).toMatch(/^[\x20-\x7e]*$/);
        expect(body.replace(/\\./g, '')).not.toMatch(/['\\]/);
      }),
      { numRuns: 1000 },
    );
  });

  test('the filter of every dataset is 1, of some an IN list', () => {
    expect(datasetFilter(['*'])).toBe('1');
    expect(datasetFilter(['a', awkwardDatasetId])).toBe(`dataset_id IN ('a', ${sqlStringLiteral(awkwardDatasetId)})`);
  });
});

describe('reading and writing the files', () => {
  test('the analysts file is written 0600 even under umask 000; a missing one reads as undefined', () => {
    const file = join(dir, 'nested', 'analysts.json');
    expect(readAnalystsFileText(file)).toBeUndefined();
    const umask = process.umask(0);
    try {
      writeAnalystsFile(file, '{"version": 1, "analysts": []}\n');
    } finally {
      process.umask(umask);
    }
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readAnalystsFileText(file)).toBe('{"version": 1, "analysts": []}\n');
  });

  test('a world-writable analysts file is refused', () => {
    const file = join(dir, 'analysts.json');
    writeFileSync(file, '{"version": 1, "analysts": []}\n');
    chmodSync(file, 0o666);
    expectInvalidConfig(() => readAnalystsFileText(file), `${file}: the analysts file is world-writable (mode 0666), so anyone on this machine could have changed who reads which dataset; check it, then run \`chmod o-w ${file}\``);
  });

  test('the users.d file is written 0644 even under umask 077, so the server can read it, in a directory it can enter', () => {
    const file = join(dir, 'users.d', 'sluice-analysts.xml');
    const umask = process.umask(0o077);
    try {
      writeAnalystUsers(file, '<clickhouse/>\n');
    } finally {
      process.umask(umask);
    }
    expect(statSync(file).mode & 0o777).toBe(0o644);
    expect(statSync(join(dir, 'users.d')).mode & 0o005).toBe(0o005);
  });
});

describe('the analyst commands of the keys CLI (scripts/keys.ts)', () => {
  const cli = runKeysCli;
  const passwordLine = /^ {4}([A-Za-z0-9_-]{43})$/m;

  test('add prints the password once; list, datasets, render and remove act on the file', () => {
    const file = join(dir, 'analysts.json');
    const added = cli(['analyst', 'add', 'alice', '--datasets', 'shop-a,shop-b', '--file', file]);
    expect(added).toMatchObject({ status: 0, stderr: '' });
    const password = passwordLine.exec(added.stdout)?.[1] ?? '';
    expect(added.stdout).toContain(`Added analyst alice to ${file}\nThey may read: shop-a, shop-b\n`);
    expect(added.stdout).toContain('it cannot be shown again');
    expect(added.stdout).toContain('npm run keys -- analyst render --out PATH');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).not.toContain(password);
    expect(parseAnalystsFile(readFileSync(file, 'utf8')).analysts[0]?.password_sha256).toBe(sha256(password));

    const listed = cli(['analyst', 'list', '--file', file]);
    expect(listed.stdout).toMatch(/^alice {2}created \S+\n {4}datasets: shop-a, shop-b\n$/);
    expect(listed.stdout).not.toContain(sha256(password));
    expect(JSON.parse(cli(['analyst', 'list', '--json', '--file', file]).stdout)).toEqual([expect.objectContaining({ name: 'alice', datasets: ['shop-a', 'shop-b'] })]);

    expect(cli(['analyst', 'datasets', 'alice', '*', '--file', file]).stdout).toContain('Analyst alice may now read: every dataset (*)\n');
    const rendered = cli(['analyst', 'render', '--file', file], { CLICKHOUSE_DATABASE: 'analytics' });
    expect(rendered.stdout).toBe(renderAnalystUsers(parseAnalystsFile(readFileSync(file, 'utf8')), 'analytics'));
    const out = join(dir, 'users.d', 'sluice-analysts.xml');
    expect(cli(['analyst', 'render', '--file', file, '--database', 'sluice', '--out', out]).stdout).toBe(`Wrote ${out} (1 analyst, database sluice)\n`);
    expect(readFileSync(out, 'utf8')).toBe(renderAnalystUsers(parseAnalystsFile(readFileSync(file, 'utf8')), 'sluice'));
    expect(statSync(out).mode & 0o777).toBe(0o644);

    expect(cli(['analyst', 'remove', 'alice', '--file', file]).stdout).toContain(`Removed analyst alice from ${file}\n`);
    expect(cli(['analyst', 'list', '--file', file]).stdout).toBe(`No analysts in ${file}\n`);
  });

  test.each<[string[], string]>([
    [['analyst'], 'keys: analyst needs a command: add, list, remove, datasets, render'],
    [['analyst', 'grant', 'a'], 'keys: unknown command "analyst grant"; known: add, list, remove, datasets, render'],
    [['analyst', 'add', 'alice'], 'keys: analyst add needs --datasets ID[,ID]... (or "*" for every dataset)'],
    [['analyst', 'add', '--datasets', 'x'], "keys: analyst add needs the analyst's NAME"],
    [['analyst', 'add', 'a', '--datasets', 'x', '--datasets', 'y'], 'keys: --datasets may be given only once'],
    [['analyst', 'datasets', 'alice'], 'keys: analyst datasets needs the datasets (ID[,ID]..., or "*")'],
    [['analyst', 'remove', 'a', 'b'], 'keys: unexpected argument "b" for analyst remove'],
    [['analyst', 'render', '--name', 'x'], 'keys: unknown flag "--name" for analyst render; known: --file, --database, --out'],
  ])('%j is a usage error: exit 2, naming the problem', (args, message) => {
    const result = cli([...args, '--file', join(dir, 'analysts.json')]);
    expect(result.status).toBe(2);
    expect(result.stderr.split('\n')[0]).toBe(message);
    expect(existsSync(join(dir, 'analysts.json'))).toBe(false);
  });

  test('a refused change or a world-writable file exits 1 with one line, and leaves the file as it was', () => {
    const file = join(dir, 'analysts.json');
    expect(cli(['analyst', 'add', 'alice', '--datasets', 'a', '--file', file]).status).toBe(0);
    const before = readFileSync(file, 'utf8');
    expect(cli(['analyst', 'add', 'alice', '--datasets', 'b', '--file', file])).toEqual({ status: 1, stdout: '', stderr: `keys: ${file} already has an analyst named "alice"\n` });
    expect(cli(['analyst', 'datasets', 'alice', 'a,*', '--file', file]).stderr).toBe('keys: "*" means every dataset, so it comes alone; got "a", "*"\n');
    chmodSync(file, 0o666);
    const refused = cli(['analyst', 'render', '--file', file]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('the analysts file is world-writable (mode 0666)');
    expect(readFileSync(file, 'utf8')).toBe(before);
    expect(cli(['analyst', 'render', '--file', join(dir, 'none.json')]).stderr).toContain('there is no analysts file yet');
  });
});
