/** The ClickHouse module against real chDB: migrations, the read-only analyst path, time zones. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analystLimits, applyMigrations, loadMigrations, openClickHouse, type ClickHouse } from '@sluice/clickhouse';
import { repositoryRoot } from '@sluice/kafka';
import { chdbPathForThisProcess, openTestClickHouse, removeTestDirectory, testLogger, uniqueName } from '../helpers/pipeline';

let clickhouse: ClickHouse;

beforeAll(async () => {
  clickhouse = await openTestClickHouse();
});

afterAll(async () => {
  await clickhouse.command(`DROP DATABASE IF EXISTS ${clickhouse.database}`);
  await clickhouse.close();
});

describe('migrations', () => {
  test('are recorded in order and a second run applies nothing', async () => {
    const recorded = await clickhouse.queryRows<{ version: number; name: string }>('SELECT version, name FROM schema_migrations FINAL ORDER BY version');
    expect(recorded).toEqual(loadMigrations().map((m) => ({ version: m.version, name: m.name })));
    expect(await applyMigrations(clickhouse, testLogger)).toEqual([]);
    expect(await clickhouse.queryRows('SELECT version FROM schema_migrations FINAL')).toHaveLength(recorded.length);
  });

  test('create the events table with the envelope columns and UTC times', async () => {
    const columns = await clickhouse.queryRows<{ name: string; type: string }>(
      'SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = {t:String}',
      { t: 'events' },
    );
    const types = Object.fromEntries(columns.map((c) => [c.name, c.type]));
    expect(types).toMatchObject({
      event_id: 'UUID',
      insert_id: 'String',
      dataset_id: 'LowCardinality(String)',
      source: 'LowCardinality(String)',
      event_type: 'LowCardinality(String)',
      occurred_at: "DateTime64(3, 'UTC')",
      received_at: "DateTime64(3, 'UTC')",
    });
  });

  test('a migration edited after it was applied is refused with its name', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'sluice-migrations-'));
    try {
      const [first] = loadMigrations();
      if (!first) throw new Error('no migrations');
      writeFileSync(join(directory, `0001_${first.name}.sql`), `${first.statements.join(';\n')};\n-- edited\n`);
      await expect(applyMigrations(clickhouse, testLogger, loadMigrations(directory))).rejects.toThrow(
        `Migration 1 (${first.name}) was changed after it was applied`,
      );
    } finally {
      removeTestDirectory(directory);
    }
  });

  test('an existing database keeps its dedup keys when they move to dedup_keys (migration 5)', async () => {
    const upgraded = await openClickHouse({ database: uniqueName('upgrade'), dataPath: chdbPathForThisProcess(), logger: testLogger });
    try {
      const all = loadMigrations();
      await applyMigrations(upgraded, testLogger, all.filter((m) => m.version < 5));
      await upgraded.command(
        "INSERT INTO events (dataset_id, insert_id, received_at, kafka_partition, kafka_offset) VALUES ('shop', 'order-1', now64(3), 2, 40), ('shop', 'order-2', now64(3), 3, 41)",
      );
      await applyMigrations(upgraded, testLogger, all);
      expect(await upgraded.queryRows('SELECT dataset_id, insert_id, kafka_partition, kafka_offset FROM dedup_keys ORDER BY insert_id')).toEqual([
        { dataset_id: 'shop', insert_id: 'order-1', kafka_partition: 2, kafka_offset: 40 },
        { dataset_id: 'shop', insert_id: 'order-2', kafka_partition: 3, kafka_offset: 41 },
      ]);
      expect(await upgraded.queryRows("SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE 'event_keys%'")).toEqual([]);
      // Run again: the backfill's guard keeps it from copying anything twice, and it is recorded once.
      expect(await applyMigrations(upgraded, testLogger, all)).toEqual([]);
    } finally {
      await upgraded.command(`DROP DATABASE IF EXISTS ${upgraded.database}`);
      await upgraded.close();
    }
  });

  test("dedup keys take ClickHouse's clock, not the client's received_at, and keys in the future start their window now (migration 6)", async () => {
    const upgraded = await openClickHouse({ database: uniqueName('upgrade'), dataPath: chdbPathForThisProcess(), logger: testLogger });
    const clock = async (): Promise<string> => (await upgraded.queryRows<{ now: string }>('SELECT now64(3) AS now'))[0]?.now ?? '';
    const keys = (): Promise<Array<{ insert_id: string; received_at: string }>> => upgraded.queryRows('SELECT insert_id, received_at FROM dedup_keys ORDER BY insert_id');
    try {
      const all = loadMigrations();
      await applyMigrations(upgraded, testLogger, all.filter((m) => m.version < 6));
      await upgraded.command(
        "INSERT INTO events (dataset_id, insert_id, received_at, kafka_partition, kafka_offset) VALUES ('shop', 'from-2100', '2100-01-01 00:00:00.000', 0, 1), ('shop', 'from-1970', 0, 0, 2)",
      );
      expect(await keys()).toEqual([
        { insert_id: 'from-1970', received_at: '1970-01-01 00:00:00.000' },
        { insert_id: 'from-2100', received_at: '2100-01-01 00:00:00.000' },
      ]);

      const before = await clock();
      await applyMigrations(upgraded, testLogger, all);
      const after = await clock();
      const [untouched, fixed] = await keys();
      // Times as 'YYYY-MM-DD hh:mm:ss.sss' text compare in time order.
      expect([fixed?.insert_id, (fixed?.received_at ?? '') >= before && (fixed?.received_at ?? '') <= after]).toEqual(['from-2100', true]);
      // A key in the past only makes a copy count as new, as before; its window is not reopened.
      expect(untouched).toEqual({ insert_id: 'from-1970', received_at: '1970-01-01 00:00:00.000' });

      // From now on a key's time is the moment its event was stored, whatever the client said.
      await upgraded.command(
        "INSERT INTO events (dataset_id, insert_id, received_at, kafka_partition, kafka_offset) VALUES ('shop', 'new-1970', 0, 0, 3), ('shop', 'new-2100', '2100-01-01 00:00:00.000', 0, 4)",
      );
      expect(
        await upgraded.queryRows(
          `SELECT e.insert_id AS insert_id, k.received_at = e.stored_at AS at_stored_at FROM events AS e INNER JOIN dedup_keys AS k ON k.dataset_id = e.dataset_id AND k.insert_id = e.insert_id
           WHERE e.insert_id LIKE 'new-%' ORDER BY insert_id`,
        ),
      ).toEqual([
        { insert_id: 'new-1970', at_stored_at: 1 },
        { insert_id: 'new-2100', at_stored_at: 1 },
      ]);
      expect(await applyMigrations(upgraded, testLogger, all)).toEqual([]);
    } finally {
      await upgraded.command(`DROP DATABASE IF EXISTS ${upgraded.database}`);
      await upgraded.close();
    }
  });

  test('a gap in the numbering is refused', () => {
    const directory = mkdtempSync(join(tmpdir(), 'sluice-migrations-'));
    try {
      writeFileSync(join(directory, '0001_a.sql'), 'SELECT 1;\n');
      writeFileSync(join(directory, '0003_c.sql'), 'SELECT 1;\n');
      expect(() => loadMigrations(directory)).toThrow('found 0003 in position 2');
    } finally {
      removeTestDirectory(directory);
    }
  });
});

describe('the analysts read-only connection', () => {
  /** Where a planted INTO OUTFILE would write; checked on disk after each refusal. */
  const outfile = join(tmpdir(), `sluice-planted-${process.pid}.txt`);

  test('answers queries in JSONEachRow', async () => {
    expect(await clickhouse.readOnlyQuery('SELECT 1 AS one, currentDatabase() AS db')).toBe(`{"one":1,"db":"${clickhouse.database}"}\n`);
  });

  test.each([
    ['an INSERT', 'INSERT INTO schema_migrations (version, name, checksum) VALUES (999, \'x\', \'x\')'],
    ['a DROP', 'DROP TABLE events'],
    ['lifting readonly with SETTINGS', 'SELECT 1 SETTINGS readonly = 0'],
    ['lifting a limit with SETTINGS', 'SELECT 1 SETTINGS max_execution_time = 0'],
    ['a CREATE', 'CREATE TABLE sneaky (a UInt8) ENGINE = Memory'],
    ['the file table function', "SELECT * FROM file('/etc/hostname', 'LineAsString')"],
    ['the url table function', "SELECT * FROM url('http://127.0.0.1:1/', 'LineAsString')"],
    ['the executable table function', "SELECT * FROM executable('true', 'TSV', 'a String')"],
    ['the remote table function', "SELECT * FROM remote('127.0.0.1', system.one)"],
  ])('refuses %s', async (_name, sql) => {
    await expect(clickhouse.readOnlyQuery(sql)).rejects.toThrow(/readonly|read-only|Cannot modify/i);
    expect(await clickhouse.queryRows('SELECT version FROM schema_migrations FINAL WHERE version = 999')).toEqual([]);
    expect(await clickhouse.queryRows("SELECT name FROM system.tables WHERE database = currentDatabase() AND name = 'events'")).toHaveLength(1);
  });

  test.each([
    ['a write hidden after a read', 'SELECT 1; DROP TABLE events', /one statement per request/],
    ['a SET hidden before a read', 'SET readonly = 0; SELECT 1', /one statement per request/],
    // The client appends the answer's FORMAT, so a statement without its own would write the file.
    ['INTO OUTFILE', `SELECT 'planted' INTO OUTFILE '${outfile}' TRUNCATE`, /INTO OUTFILE is not allowed/],
    ['INTO OUTFILE after a read', `SELECT 1; SELECT 'planted' INTO OUTFILE '${outfile}' FORMAT RawBLOB`, /one statement per request/],
    ['INTO OUTFILE in lower case, after a comment', `/* x */ select 'planted' into outfile '${outfile}' truncate`, /INTO OUTFILE is not allowed/],
    ['USE, which would change the database of every later analyst', 'USE system', /USE is not allowed/],
    ["KILL, which read-only chDB allows on any query of the process, the worker's too", 'kill query where 1 async', /KILL is not allowed/],
  ])('refuses %s, naming why', async (_name, sql, why) => {
    await expect(clickhouse.readOnlyQuery(sql)).rejects.toThrow(why);
    expect(existsSync(outfile)).toBe(false);
    expect(await clickhouse.readOnlyQuery('SELECT currentDatabase() AS db')).toBe(`{"db":"${clickhouse.database}"}\n`);
  });

  test('a literal that merely mentions the words is answered', async () => {
    expect(await clickhouse.readOnlyQuery("SELECT 'use into outfile' AS words")).toBe('{"words":"use into outfile"}\n');
  });

  test('a SET lifting readonly or a limit is refused and changes nothing', async () => {
    await expect(clickhouse.readOnlyQuery('SET readonly = 0')).rejects.toThrow();
    await expect(clickhouse.readOnlyQuery('SET max_memory_usage = 0')).rejects.toThrow();
    expect(await clickhouse.readOnlyQuery("SELECT value FROM system.settings WHERE name = 'readonly'")).toBe('{"value":"1"}\n');
  });

  test('limits are set before the session turns read-only', async () => {
    const rows = await clickhouse.readOnlyQuery(`SELECT name, value FROM system.settings WHERE name IN ('max_execution_time', 'max_memory_usage', 'max_result_rows', 'max_result_bytes', 'readonly') ORDER BY name`);
    expect(rows.trim().split('\n').map((line) => JSON.parse(line) as { name: string; value: string })).toEqual([
      { name: 'max_execution_time', value: String(analystLimits.max_execution_time) },
      { name: 'max_memory_usage', value: String(analystLimits.max_memory_usage) },
      { name: 'max_result_bytes', value: String(analystLimits.max_result_bytes) },
      { name: 'max_result_rows', value: String(analystLimits.max_result_rows) },
      { name: 'readonly', value: '1' },
    ]);
  });

  test('does not make the writer read-only (chDB keeps settings per connection)', async () => {
    await expect(clickhouse.readOnlyQuery('INSERT INTO schema_migrations (version, name, checksum) VALUES (998, \'x\', \'x\')')).rejects.toThrow();
    await clickhouse.command("INSERT INTO schema_migrations (version, name, checksum) VALUES (998, 'writer', 'x')");
    await clickhouse.command('ALTER TABLE schema_migrations DELETE WHERE version = 998');
  });
});

function runProbe(dataPath: string, database: string, timeZone: string): { ok: boolean; row?: Record<string, unknown>; error?: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', join(repositoryRoot, 'test', 'helpers', 'chdb-probe.ts'), dataPath, database], {
    cwd: repositoryRoot,
    env: { ...process.env, TZ: timeZone },
    encoding: 'utf8',
    timeout: 60_000,
  });
  const line = result.stdout.trim().split('\n').pop() ?? '';
  if (!line.startsWith('{')) throw new Error(`probe printed no result: ${result.stderr}`);
  return JSON.parse(line) as { ok: boolean; row?: Record<string, unknown>; error?: string };
}

test.each(['America/New_York', 'Asia/Kolkata'])('times are UTC whatever the host time zone (TZ=%s)', (timeZone) => {
  const dataPath = mkdtempSync(join(tmpdir(), 'sluice-tz-'));
  try {
    const result = runProbe(dataPath, 'tz', timeZone);
    expect(result).toEqual({
      ok: true,
      row: { text: '2024-05-13 23:30:00.250', day: '2024-05-13', hour: 23, epoch: '1970-01-01 00:00:00', ms: Date.UTC(2024, 4, 13, 23, 30, 0, 250) },
    });
  } finally {
    removeTestDirectory(dataPath);
  }
});

test('a second process cannot open a data directory this one holds, and says why', () => {
  const result = runProbe(chdbPathForThisProcess(), uniqueName('other'), 'UTC');
  expect(result.ok).toBe(false);
  expect(result.error).toContain('Only one process may open a chDB data directory');
});
