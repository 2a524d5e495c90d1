import { silentLogger } from '@sluice/core';
import type { EventRow } from './event-row';
import { createBlockStore, partitionRuns } from './store-block';

const inMonth = (year: number, month: number): { row: Pick<EventRow, 'occurred_at'> } => ({ row: { occurred_at: Date.UTC(year, month - 1, 15) } });

test('rows spanning more months than one insert may write to are cut into runs, in order, each as long as it can be', () => {
  const rows = Array.from({ length: 250 }, (_, i) => inMonth(1990 + Math.floor(i / 12), (i % 12) + 1));
  expect(partitionRuns(rows, 100).map((run) => run.length)).toEqual([100, 100, 50]);
  const repeated = [inMonth(2024, 1), inMonth(2024, 2), inMonth(2024, 1), inMonth(2024, 3), inMonth(2024, 2)];
  expect(partitionRuns(repeated, 2).map((run) => run.length)).toEqual([3, 2]);
});

test('the month is the UTC one, as toYYYYMM(occurred_at) computes it in a UTC column', () => {
  const lastMillisecondOfJanuary = { row: { occurred_at: Date.UTC(2024, 0, 31, 23, 59, 59, 999) } };
  const firstOfFebruary = { row: { occurred_at: Date.UTC(2024, 1, 1) } };
  expect(partitionRuns([lastMillisecondOfJanuary, firstOfFebruary], 1)).toHaveLength(2);
});

test('a block within the limit goes in as one insert under its own token; more months go in as numbered runs', async () => {
  const tokens: string[] = [];
  const store = createBlockStore({ insert: async (_rows, token) => void tokens.push(token), logger: silentLogger });
  const row = (year: number, month: number) => ({ row: { ...inMonth(year, month).row } as EventRow, origin: `${year}-${month}` });
  await store([row(2024, 1), row(2024, 2)], 'events/0/1-2');
  const manyMonths = Array.from({ length: 120 }, (_, i) => row(2000 + Math.floor(i / 12), (i % 12) + 1));
  expect(await store(manyMonths, 'events/0/3-122')).toEqual({ stored: 120, refused: [] });
  expect(tokens).toEqual(['events/0/1-2', 'events/0/3-122#0', 'events/0/3-122#1']);
});

test('an error that is not a refusal of rows (ClickHouse unreachable) is the caller\'s, not dead letters', async () => {
  const store = createBlockStore({
    insert: async () => {
      throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    },
    logger: silentLogger,
  });
  await expect(store([{ row: inMonth(2024, 1).row as EventRow, origin: 1 }], 't')).rejects.toThrow('ECONNREFUSED');
});

test('isolating refused rows heartbeats after each refusal, so no long run of inserts goes without one', async () => {
  const calls: string[] = [];
  const store = createBlockStore({
    insert: async (rows) => {
      calls.push('insert');
      const poison = rows.findIndex((row) => row.insert_id.startsWith('poison'));
      if (poison >= 0) throw new Error(`Query failed: Code: 469. DB::Exception: Constraint \`no_poison\` for table sluice.events is violated at row ${poison + 1}. (VIOLATED_CONSTRAINT)`);
    },
    heartbeat: async () => void calls.push('heartbeat'),
    logger: silentLogger,
  });
  const rows = Array.from({ length: 40 }, (_, i) => ({ row: { ...inMonth(2024, 1).row, insert_id: i % 4 === 3 ? `poison-${i}` : `ok-${i}` } as EventRow, origin: i }));
  const { stored, refused } = await store(rows, 'events/0/0-39');
  expect([stored, refused.length]).toEqual([30, 10]);
  // One heartbeat per refused insert of several rows: ten here, one per poison row.
  expect(calls.filter((c) => c === 'heartbeat')).toHaveLength(10);
  // Between two heartbeats, at most the three parts of one cut are inserted.
  const longestRun = Math.max(...calls.join(' ').split('heartbeat').map((run) => run.split('insert').length - 1));
  expect(longestRun).toBeLessThanOrEqual(3);
});
