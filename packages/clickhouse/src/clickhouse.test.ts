import { silentLogger } from '@sluice/core';
import { maxBlockInserts, openClickHouse } from './clickhouse';

test.each([0, maxBlockInserts + 1, 1.5])('blockInserts %p is refused before chDB is opened, naming the range', async (blockInserts) => {
  // No data directory exists: the option is checked first.
  const opening = openClickHouse({ database: 'sluice', dataPath: '/nonexistent/sluice-chdb', blockInserts, logger: silentLogger });
  await expect(opening).rejects.toMatchObject({ code: 'INVALID_CONFIG', message: `ClickHouse option blockInserts must be a whole number from 1 to ${maxBlockInserts}, got ${blockInserts}` });
});
