/**
 * Run as a separate process by the ClickHouse integration tests: opens chDB at the given path
 * and reports, as one JSON line, how a known instant reads back under this process's TZ.
 */
import { errorMessage, silentLogger } from '@sluice/core';
import { openClickHouse } from '@sluice/clickhouse';

async function main(): Promise<void> {
  const [dataPath, database] = process.argv.slice(2);
  if (!dataPath || !database) throw new Error('usage: chdb-probe <dataPath> <database>');
  try {
    const clickhouse = await openClickHouse({ dataPath, database, logger: silentLogger });
    await clickhouse.command(`CREATE TABLE IF NOT EXISTS tz_probe (at DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY at`);
    await clickhouse.insertRows('tz_probe', [{ at: Date.UTC(2024, 4, 13, 23, 30, 0, 250) }]);
    const [row] = await clickhouse.queryRows<Record<string, string | number>>(
      'SELECT toString(at) AS text, toDate(at) AS day, toHour(at) AS hour, toString(toDateTime(0)) AS epoch, toUnixTimestamp64Milli(at) AS ms FROM tz_probe',
    );
    await clickhouse.close();
    process.stdout.write(JSON.stringify({ ok: true, row }) + '\n');
  } catch (error) {
    process.stdout.write(JSON.stringify({ ok: false, error: errorMessage(error) }) + '\n');
  }
}

void main();
