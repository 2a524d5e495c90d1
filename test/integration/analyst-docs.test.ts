/**
 * docs/analysts.md against real chDB: every ```sql example runs through the analysts' ClickHouse
 * HTTP interface (read-only, as an analyst sends it) over seeded data and returns rows, and every
 * analyst view is documented.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { analystViews, serveChdbOverHttp, type ChdbHttpServer, type ClickHouse } from '@sluice/clickhouse';
import { analyticsSeedRows } from '../helpers/analytics-seed';
import { chdbPathForThisProcess, openTestClickHouse } from '../helpers/pipeline';

const guide = readFileSync(join(__dirname, '..', '..', 'docs', 'analysts.md'), 'utf8');

/** The body of every fenced block opened with ```sql, in order. */
function sqlBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```sql\n([\s\S]*?)^```$/gm)].map((match) => (match[1] ?? '').trim());
}

function parseJsonEachRow(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const examples = sqlBlocks(guide);

let clickhouse: ClickHouse;
let analysts: ChdbHttpServer;
let analystsUrl: string;

beforeAll(async () => {
  clickhouse = await openTestClickHouse();
  await clickhouse.insertRows('events', analyticsSeedRows('demo'));
  // The worker's interface on this process's chDB, beside the writer's session.
  analysts = serveChdbOverHttp(chdbPathForThisProcess(), { database: clickhouse.database, password: '' });
  await new Promise<void>((resolve) => analysts.server.listen(0, '127.0.0.1', resolve));
  analystsUrl = `http://127.0.0.1:${(analysts.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await analysts.close();
  await clickhouse.command(`DROP DATABASE IF EXISTS ${clickhouse.database}`);
  await clickhouse.close();
});

/** The statement as user analyst sends it, answered in JSONEachRow; a refusal fails with ClickHouse's message. */
async function asAnalyst(sql: string): Promise<string> {
  const response = await fetch(`${analystsUrl}/?default_format=JSONEachRow`, { method: 'POST', headers: { 'X-ClickHouse-User': 'analyst' }, body: sql });
  const text = await response.text();
  if (!response.ok) throw new Error(`${response.status} ${text}`);
  return text;
}

test('the guide has a section for every analyst view', () => {
  for (const view of analystViews) expect(guide).toMatch(new RegExp(`^#+ \`${view}\`$`, 'm'));
});

test('the guide has at least 10 sql examples, each a single statement', () => {
  expect(examples.length).toBeGreaterThanOrEqual(10);
  for (const sql of examples) expect(sql).not.toMatch(/;\s*\S/);
});

test('the seeded rows reach every analyst view', async () => {
  const empty: string[] = [];
  for (const view of analystViews) {
    const [row] = await clickhouse.queryRows<{ n: number }>(`SELECT count() AS n FROM ${view} WHERE dataset_id = 'demo'`);
    if ((row?.n ?? 0) === 0) empty.push(view);
  }
  expect(empty).toEqual([]);
});

test.each(examples.map((sql, index) => [index + 1, /\bFROM\s+(\w+)/.exec(sql)?.[1] ?? '?', sql] as const))(
  "example %i (FROM %s) runs as user analyst on the analysts' interface and returns rows",
  async (_number, _table, sql) => {
    const rows = parseJsonEachRow(await asAnalyst(sql));
    expect(rows.length).toBeGreaterThan(0);
  },
);
