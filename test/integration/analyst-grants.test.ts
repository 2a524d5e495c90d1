/**
 * Per-dataset access (docs/analysts.md, "Per-dataset access (server mode)"), checked by ClickHouse
 * itself, since no ClickHouse server runs here: chDB is ClickHouse's engine, with the same users
 * loader and the same access checks.
 *
 * - The rendered users.d file goes into chDB's users configuration beside the repository's
 *   analyst.xml, as into a server's users.d, and system.users, system.row_policies and
 *   system.grants say what ClickHouse made of it.
 * - chDB runs every query as `default`, so to see an analyst's grants and row filters at work, the
 *   test makes that analyst's rendered definition chDB's `default` user (renamed, and with no
 *   password: chDB connects with none). Everything else in it is as rendered.
 *
 * What chDB cannot show is a login: the password check and choosing the user at connect time.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { analystTables, analystViews, datasetFilter, renderAnalystUsers, sqlStringLiteral } from '@sluice/clickhouse';
import { analystProfileAsChdbLoadsIt } from '../helpers/analyst-profile';
import { analystsFixture, fixtureDatasets, fixtureGrants } from '../helpers/analysts-fixture';
import type { ProbeAnswer, ProbeRequest, StatementResult } from '../helpers/chdb-access-probe';

const repositoryRoot = join(__dirname, '..', '..');
const analystXml = analystProfileAsChdbLoadsIt();
const database = 'sluice';
const analystNames = analystsFixture.analysts.map((a) => a.name);
const rendered = renderAnalystUsers(analystsFixture, database);

/** A default user that may read everything and see the access entities, as an administrator would. */
const administrator = `<clickhouse>
    <profiles><default/></profiles>
    <quotas><default/></quotas>
    <users>
        <default>
            <password></password>
            <networks><ip>::/0</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
            <access_management>1</access_management>
        </default>
    </users>
</clickhouse>
`;

let work: string;
let dataPath: string;

function probe(request: ProbeRequest): StatementResult[] {
  const probeFile = join(repositoryRoot, 'test', 'helpers', 'chdb-access-probe.ts');
  // tsx by its path: the probe does not run in the repository, where `--import tsx` would find it.
  const result = spawnSync(process.execPath, ['--import', pathToFileURL(require.resolve('tsx')).href, probeFile, JSON.stringify(request)], {
    // Not the repository: chDB reads a config.xml from its working directory when given none.
    cwd: work,
    env: { ...process.env, CLICKHOUSE_ANALYST_PASSWORD: 'shared-analyst-password' },
    encoding: 'utf8',
    timeout: 120_000,
  });
  const line = result.stdout.trim().split('\n').pop() ?? '';
  if (!line.startsWith('{')) throw new Error(`the probe printed no answer (exit ${result.status}): ${result.stderr}`);
  const answer = JSON.parse(line) as ProbeAnswer;
  if (!answer.ok) throw new Error(`the probe failed: ${answer.error}`);
  return answer.results;
}

/** A users configuration as a server has one: users.xml, and users.d/ merged into it. */
function usersConfiguration(name: string, usersXml: string, usersD: Record<string, string>): string {
  const directory = join(work, name);
  mkdirSync(join(directory, 'users.d'), { recursive: true });
  writeFileSync(join(directory, 'users.xml'), usersXml);
  for (const [file, text] of Object.entries(usersD)) writeFileSync(join(directory, 'users.d', file), text);
  const configFile = join(directory, 'config.xml');
  // An absolute path: chDB resolves users_config against its working directory, not the config's.
  writeFileSync(configFile, `<clickhouse><users_config>${join(directory, 'users.xml')}</users_config></clickhouse>\n`);
  return configFile;
}

/** Runs statements under a users configuration; each must answer rows. */
function rowsOf(configFile: string, statements: readonly string[]): Record<string, unknown>[][] {
  return probe({ kind: 'query', dataPath, configFile, statements }).map((result, i) => {
    if ('error' in result) throw new Error(`${statements[i]}: ${result.error.message}`);
    return result.rows;
  });
}

/** The analyst's rendered definition, made chDB's one user. */
function asOnlyUser(name: string): string {
  const definition = new RegExp(`^ {8}<${name}>\\n([\\s\\S]*?)^ {8}</${name}>$`, 'm').exec(rendered)?.[1];
  if (definition === undefined) throw new Error(`no user ${name} in the rendered file`);
  const passwordLine = /^ *<password_sha256_hex>[0-9a-f]{64}<\/password_sha256_hex>\n/m;
  if (!passwordLine.test(definition)) throw new Error(`user ${name} has no password_sha256_hex line`);
  const withoutPassword = definition.replace(passwordLine, '            <password></password>\n');
  const usersXml = `<clickhouse>\n    <profiles><default/></profiles>\n    <quotas><default/></quotas>\n    <users>\n        <default>\n${withoutPassword}        </default>\n    </users>\n</clickhouse>\n`;
  return usersConfiguration(`as-${name}`, usersXml, { 'analyst.xml': analystXml });
}

let asAdministrator: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'sluice-grants-'));
  dataPath = join(work, 'data');
  probe({ kind: 'seed', dataPath, database, datasets: fixtureDatasets });
  asAdministrator = usersConfiguration('server', administrator, { 'analyst.xml': analystXml, 'sluice-analysts.xml': rendered });
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

const sorted = <T>(values: readonly T[]): T[] => [...values].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
const inList = (datasets: readonly string[]): string => datasets.map(sqlStringLiteral).join(', ');

describe("ClickHouse's users loader takes the rendered file", () => {
  test('each analyst is a user with a SHA-256 password, the analyst profile and the Sluice database', () => {
    const [users, profiles] = rowsOf(asAdministrator, [
      `SELECT name, storage, auth_type, default_database FROM system.users WHERE name IN (${inList(analystNames)}) ORDER BY name`,
      `SELECT user_name, inherit_profile FROM system.settings_profile_elements WHERE user_name IN (${inList(analystNames)}) ORDER BY user_name`,
    ]);
    expect(users).toEqual(sorted(analystNames).map((name) => ({ name, storage: 'users_xml', auth_type: ['sha256_password'], default_database: database })));
    expect(profiles).toEqual(sorted(analystNames).map((name) => ({ user_name: name, inherit_profile: 'analyst' })));
  });

  test('each analyst has a row policy on every analyst table, with the filter of its datasets', () => {
    const [policies] = rowsOf(asAdministrator, [
      `SELECT short_name, database, table, select_filter, is_restrictive, apply_to_list FROM system.row_policies WHERE short_name IN (${inList(analystNames)})`,
    ]);
    const expected = analystsFixture.analysts.flatMap((analyst) =>
      analystTables.map((table) => ({ short_name: analyst.name, database, table, select_filter: datasetFilter(analyst.datasets), is_restrictive: 0, apply_to_list: [analyst.name] })),
    );
    expect(sorted(policies ?? [])).toEqual(sorted(expected));
  });

  test('each analyst is granted SELECT on the analyst tables and nothing else', () => {
    const [grants] = rowsOf(asAdministrator, [`SELECT user_name, access_type, database, table, column, is_partial_revoke FROM system.grants WHERE user_name IN (${inList(analystNames)})`]);
    const expected = analystNames.flatMap((user_name) => analystTables.map((table) => ({ user_name, access_type: 'SELECT', database, table, column: null, is_partial_revoke: 0 })));
    expect(sorted(grants ?? [])).toEqual(sorted(expected));
  });

  test("users without a filter of their own still read every row: the worker's default and the shared analyst", () => {
    const [counts, policies] = rowsOf(asAdministrator, [
      `SELECT dataset_id, count() AS n FROM ${database}.events GROUP BY dataset_id ORDER BY dataset_id`,
      `SELECT short_name, select_filter FROM system.row_policies WHERE short_name IN ('default', 'analyst') AND table = 'events' ORDER BY short_name`,
    ]);
    expect(counts?.map((row) => row.dataset_id)).toEqual(sorted(fixtureDatasets));
    // ClickHouse gives every users.xml user without a filter on a filtered table a policy of 1.
    expect(policies).toEqual([
      { short_name: 'analyst', select_filter: '1' },
      { short_name: 'default', select_filter: '1' },
    ]);
  });

  test('every analyst table has a dataset_id column, and every view of the schema is an analyst view', () => {
    const [withDatasetId, views] = rowsOf(asAdministrator, [
      `SELECT table FROM system.columns WHERE database = '${database}' AND name = 'dataset_id' ORDER BY table`,
      `SELECT name FROM system.tables WHERE database = '${database}' AND engine = 'View' ORDER BY name`,
    ]);
    expect(withDatasetId?.map((row) => row.table)).toEqual(expect.arrayContaining([...analystTables]));
    // A new view is a decision: grant it (with its tables) in analyst-users.ts, or say why not.
    expect(views?.map((row) => row.name)).toEqual(sorted(analystViews));
  });

  test('a dataset literal reads back as the bytes it stands for, and every filter parses', () => {
    const values = [...fixtureDatasets, ...fc.sample(fc.string({ unit: fc.oneof(fc.constantFrom("'", '\\', '\n', '\u0000', 'é', '\u{1f600}', '<', '&'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })) }), { numRuns: 200, seed: 13 })];
    const filters = analystsFixture.analysts.map((a) => datasetFilter(a.datasets));
    const answers = rowsOf(asAdministrator, [
      ...values.map((value) => `SELECT hex(${sqlStringLiteral(value)}) AS hex`),
      ...filters.map((filter) => `SELECT formatQuerySingleLine(${sqlStringLiteral(`SELECT 1 FROM events WHERE ${filter}`)}) AS formatted`),
    ]);
    expect(answers.slice(0, values.length).map((rows) => rows[0]?.hex)).toEqual(values.map((value) => Buffer.from(value, 'utf8').toString('hex').toUpperCase()));
    for (const rows of answers.slice(values.length)) expect(rows[0]?.formatted).toEqual(expect.stringMatching(/^SELECT 1 FROM events WHERE /));
  });
});

describe.each(analystNames)('as %s, ClickHouse enforces the grant', (name) => {
  const granted = fixtureGrants[name] ?? [];
  let configFile: string;
  beforeAll(() => {
    configFile = asOnlyUser(name);
  });

  test('it reads only its datasets from events and from every view and table it is granted', () => {
    const answers = rowsOf(configFile, analystTables.map((table) => `SELECT DISTINCT toString(dataset_id) AS dataset_id FROM ${database}.${table} ORDER BY dataset_id`));
    expect(answers.map((rows) => rows.map((row) => row.dataset_id))).toEqual(analystTables.map(() => sorted(granted)));
  });

  test("its numbers are exactly its datasets' numbers", () => {
    const queries = ['events', ...analystViews].map((table) => `SELECT * FROM ${database}.${table} ORDER BY ALL`);
    const own = rowsOf(configFile, queries);
    const administrators = rowsOf(
      asAdministrator,
      ['events', ...analystViews].map((table) => `SELECT * FROM ${database}.${table} WHERE dataset_id IN (${inList(granted)}) ORDER BY ALL`),
    );
    expect(own.map((rows) => rows.length)).toEqual(administrators.map((rows) => rows.length));
    expect(own).toEqual(administrators);
  });

  test('its grants are SELECT on the analyst tables, read-only', () => {
    const [grants, readonly] = rowsOf(configFile, ['SHOW GRANTS', "SELECT getSetting('readonly') AS readonly"]);
    expect(sorted((grants ?? []).map((row) => Object.values(row)[0]))).toEqual(sorted(analystTables.map((table) => `GRANT SELECT ON ${database}.${table} TO default`)));
    expect(readonly).toEqual([{ readonly: 1 }]);
  });
});

describe('outside its grant an analyst reads nothing, and gets specific refusals', () => {
  const name = 'alice';
  const own = fixtureGrants[name] ?? [];
  const other = fixtureDatasets.find((d) => !own.includes(d)) ?? '';
  let results: StatementResult[];
  let statements: Record<string, string>;
  let notGranted: string[];

  beforeAll(() => {
    const [tables] = rowsOf(asAdministrator, [`SELECT name FROM system.tables WHERE database = '${database}' ORDER BY name`]);
    notGranted = (tables ?? []).map((row) => String(row.name)).filter((table) => !analystTables.includes(table));
    statements = {
      otherDataset: `SELECT count() AS n FROM ${database}.events WHERE dataset_id = ${sqlStringLiteral(other)}`,
      // A condition that throws on any row of another dataset: the row filter runs first, so it never sees one.
      peekEvents: `SELECT count() AS n FROM ${database}.events WHERE throwIf(dataset_id NOT IN (${inList(own)}), 'saw another dataset') = 0`,
      peekView: `SELECT count() AS n FROM ${database}.ctr_daily WHERE throwIf(dataset_id NOT IN (${inList(own)}), 'saw another dataset') = 0`,
      showTables: `SHOW TABLES FROM ${database}`,
      insert: `INSERT INTO ${database}.events (dataset_id, insert_id) VALUES (${sqlStringLiteral(other)}, 'x')`,
      liftReadonly: 'SET readonly = 0',
      file: "SELECT * FROM file('/etc/hostname', 'RawBLOB')",
      tableSize: `SELECT name, total_rows FROM system.tables WHERE database = '${database}' AND name IN ('events', 'dedup_keys')`,
      partRows: `SELECT sum(rows) AS rows FROM system.parts WHERE database = '${database}' AND table = 'events' AND active`,
      ...Object.fromEntries(notGranted.map((table) => [`table ${table}`, `SELECT count() FROM ${database}.${table}`])),
    };
    results = probe({ kind: 'query', dataPath, configFile: asOnlyUser(name), statements: Object.values(statements) });
  });

  const resultOf = (key: string): StatementResult => results[Object.keys(statements).indexOf(key)] ?? { error: { code: undefined, message: 'no result' } };

  test('another dataset reads as no rows, even through a condition that throws', () => {
    expect(resultOf('otherDataset')).toEqual({ rows: [{ n: 0 }] });
    expect(resultOf('peekEvents')).toEqual({ rows: [{ n: expect.any(Number) as number }] });
    expect(resultOf('peekView')).toEqual({ rows: [{ n: expect.any(Number) as number }] });
    expect((resultOf('peekEvents') as { rows: { n: number }[] }).rows[0]?.n).toBeGreaterThan(0);
  });

  test('it sees only the analyst tables', () => {
    expect(resultOf('showTables')).toEqual({ rows: sorted(analystTables).map((table) => ({ name: table })) });
  });

  test('every other table is ACCESS_DENIED (497)', () => {
    expect(notGranted).toEqual(expect.arrayContaining(['dedup_keys', 'events_rejected', 'schema_migrations']));
    for (const table of notGranted) expect([table, resultOf(`table ${table}`)]).toEqual([table, { error: expect.objectContaining({ code: 497 }) as unknown }]);
  });

  test('what the row filters do not hide, as docs/analysts.md says: the size of a granted table, every dataset counted', () => {
    const [[total]] = rowsOf(asAdministrator, [`SELECT count() AS n FROM ${database}.events`]) as [[{ n: number }]];
    expect(resultOf('tableSize')).toEqual({ rows: [{ name: 'events', total_rows: total.n }] });
    expect(resultOf('partRows')).toEqual({ rows: [{ rows: total.n }] });
  });

  test('a write is ACCESS_DENIED (497: no INSERT grant), a setting READONLY (164), a file ACCESS_DENIED', () => {
    expect(resultOf('insert')).toEqual({ error: expect.objectContaining({ code: 497 }) as unknown });
    expect(resultOf('liftReadonly')).toEqual({ error: expect.objectContaining({ code: 164 }) as unknown });
    expect(resultOf('file')).toEqual({ error: expect.objectContaining({ code: 497 }) as unknown });
  });
});
