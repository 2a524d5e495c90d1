import type { ClickHouse } from '@sluice/clickhouse';
import { openTestClickHouse } from './pipeline';

/**
 * ClickHouse's own parser for a test file: formatQuery in chDB, on a database opened before the
 * file's tests and dropped after them. The returned function gives a statement as the parser
 * formats it, and rejects one it cannot parse.
 */
export function clickhouseParser(): (statement: string) => Promise<string> {
  let clickhouse: ClickHouse | undefined;
  beforeAll(async () => {
    clickhouse = await openTestClickHouse();
  });
  afterAll(async () => {
    await clickhouse?.command(`DROP DATABASE IF EXISTS ${clickhouse.database}`);
    await clickhouse?.close();
  });
  return async (statement) => {
    if (clickhouse === undefined) throw new Error('clickhouseParser() is used outside a test');
    const [row] = await clickhouse.queryRows<{ formatted: string }>('SELECT formatQuery({statement:String}) AS formatted', { statement });
    return row?.formatted ?? '';
  };
}
