/** The ClickHouse module against real chDB: migrations and time zones (analysts read through the HTTP interface: analyst-readonly.test.ts). */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyMigrations, loadMigrations, openClickHouse, type ClickHouse } from '@sluice/clickhouse';
import { repositoryRoot } from '@sluice/dev';
import { createBlockLog } from '@sluice/worker';
import { chdbPathForThisProcess, lastOffsetOf, openTestClickHouse, removeTestDirectory, testLogger, uniqueName } from '../helpers/pipeline';

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

  test('an existing database keeps its recorded blocks when the block log moves to insert_block_log (migration 7), and a run cut off after its last statement runs again', async () => {
    const upgraded = await openClickHouse({ database: uniqueName('upgrade'), dataPath: chdbPathForThisProcess(), logger: testLogger });
    const blockLog = createBlockLog(upgraded);
    try {
      const all = loadMigrations();
      const [seventh] = all.filter((m) => m.version === 7);
      if (seventh === undefined) throw new Error('no migration 7');
      await applyMigrations(upgraded, testLogger, all.filter((m) => m.version < 7));
      // Recorded twice, as after a crash: the later record is the block.
      await upgraded.command("INSERT INTO insert_blocks (kafka_topic, kafka_partition, first_offset, last_offset, recorded_at) VALUES ('events', 2, 100, 180, now64(3) - 2)");
      await upgraded.command("INSERT INTO insert_blocks (kafka_topic, kafka_partition, first_offset, last_offset, recorded_at) VALUES ('events', 2, 100, 199, now64(3) - 1), ('events', 3, 0, 9, now64(3))");
      await applyMigrations(upgraded, testLogger, all);
      expect([await lastOffsetOf(blockLog, 'events', 2, '100'), await lastOffsetOf(blockLog, 'events', 3, '0'), await lastOffsetOf(blockLog, 'events', 3, '10')]).toEqual(['199', '9', undefined]);
      expect(await upgraded.queryRows("SELECT name FROM system.tables WHERE database = currentDatabase() AND name = 'insert_blocks'")).toEqual([]);

      // A worker records and finds blocks in the new table.
      await blockLog.record({ topic: 'events', partition: 3, firstOffset: '10', lastOffset: '20' });
      expect(await lastOffsetOf(blockLog, 'events', 3, '10')).toBe('20');
      // Its statements run again as if the migration had been cut off before it was recorded.
      for (const statement of seventh.statements) await upgraded.command(statement);
      expect(await upgraded.queryRows('SELECT kafka_partition, toString(first_offset) AS first, toString(last_offset) AS last FROM insert_block_log ORDER BY kafka_partition, first_offset')).toEqual([
        { kafka_partition: 2, first: '100', last: '199' },
        { kafka_partition: 3, first: '0', last: '9' },
        { kafka_partition: 3, first: '10', last: '20' },
      ]);
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

test("an embedded block insert stores its rows by column name, whatever order each row's keys come in", async () => {
  await clickhouse.command('CREATE TABLE key_order (id String, n UInt32) ENGINE = MergeTree ORDER BY id');
  await clickhouse.insertBlock('key_order', [{ id: 'a', n: 1 }, { n: 2, id: 'b' }, { id: 'c', n: 3 }], 'key-order');
  expect(await clickhouse.queryRows('SELECT id, n FROM key_order ORDER BY id')).toEqual([
    { id: 'a', n: 1 },
    { id: 'b', n: 2 },
    { id: 'c', n: 3 },
  ]);
});

test('an embedded block insert is encoded before it waits for the one before it, so the session goes from one to the next', async () => {
  await clickhouse.command('CREATE TABLE encoded_early (id String, n UInt32) ENGINE = MergeTree ORDER BY id');
  const seen: string[] = [];
  // JSON.stringify calls toJSON as it encodes the row.
  const noting = (id: string) => ({ toJSON: () => (seen.push(`${id} encoded`), id) });
  const first = clickhouse.insertBlock('encoded_early', Array.from({ length: 50_000 }, (_, n) => ({ id: `a-${n}`, n })), 'encoded-early-a');
  const firstStored = first.then(() => seen.push('first stored'));
  const second = clickhouse.insertBlock('encoded_early', [{ id: noting('b'), n: 1 }], 'encoded-early-b');
  seen.push('second queued');
  await Promise.all([firstStored, second]);
  expect(seen).toEqual(['b encoded', 'second queued', 'first stored']);
  expect(await clickhouse.queryRows('SELECT count() AS rows FROM encoded_early')).toEqual([{ rows: 50_001 }]);
});

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
