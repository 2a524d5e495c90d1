import { buildEnvelope } from '@sluice/producer';
import type { Envelope } from '@sluice/envelope';

const day = Date.UTC(2024, 4, 14);

/**
 * A seeded stream of one dataset for one day: searches, clicks and purchases naming them, and
 * plain views. The same seed gives the same events.
 */
export function searchStream(datasetId: string, total: number): Envelope[] {
  let state = 42;
  const next = (): number => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const events: Envelope[] = [];
  let request = 0;
  while (events.length < total) {
    const requestId = `req-${++request}`;
    const at = day + (request % 86_400) * 1000;
    const common = { dataset_id: datasetId, occurred_at: at, received_at: at };
    events.push(buildEnvelope({ ...common, event_type: 'search', insert_id: `s-${request}`, request_id: requestId, request_type: 'search', query: `q${request % 50}` }));
    const clicks = Math.floor(next() * 3);
    for (let c = 0; c < clicks; c++) {
      events.push(buildEnvelope({ ...common, event_type: 'click', insert_id: `c-${request}-${c}`, request_id: requestId, request_type: 'search', position: c }));
    }
    if (next() < 0.1) {
      events.push(buildEnvelope({ ...common, event_type: 'purchase', insert_id: `p-${request}`, request_id: requestId, request_type: 'search', revenue: 25, user_id: `u-${request % 100}` }));
    }
    if (next() < 0.3) events.push(buildEnvelope({ ...common, event_type: 'view', insert_id: `v-${request}` }));
  }
  return events.slice(0, total);
}

/** The stream as it is sent: every 25th event twice, as a producer retrying after a timeout would. */
export function withRetriedCopies(events: readonly Envelope[]): Envelope[] {
  return events.flatMap((envelope, i) => (i % 25 === 0 ? [envelope, envelope] : [envelope]));
}

type Sql = <T>(query: string) => Promise<T[]>;

/**
 * Checks that the events table, dedup_keys and the CTR and conversion views hold exactly the
 * stream, each event once, with the expected view numbers computed here from the events alone.
 */
export async function expectStoredExactlyOnce(sql: Sql, datasetId: string, events: readonly Envelope[]): Promise<void> {
  const where = `dataset_id = '${datasetId}'`;
  const [stored] = await sql<{ rows: number; ids: number }>(`SELECT count() AS rows, uniqExact(insert_id) AS ids FROM events WHERE ${where}`);
  expect(stored).toEqual({ rows: events.length, ids: events.length });

  const searches = events.filter((e) => e.event_type === 'search');
  const clicksByRequest = new Map<string, number>();
  for (const e of events) if (e.event_type === 'click' && e.request_id) clicksByRequest.set(e.request_id, (clicksByRequest.get(e.request_id) ?? 0) + 1);
  const searchesWithClick = searches.filter((s) => (clicksByRequest.get(s.request_id ?? '') ?? 0) > 0).length;
  const clicks = [...clicksByRequest.values()].reduce((a, b) => a + b, 0);
  expect(await sql(`SELECT searches, searches_with_click, clicks FROM ctr_daily WHERE ${where}`)).toEqual([
    { searches: searches.length, searches_with_click: searchesWithClick, clicks },
  ]);

  const purchases = events.filter((e) => e.event_type === 'purchase');
  expect(await sql(`SELECT conversions, purchases, revenue, converting_users FROM conversion_daily WHERE ${where}`)).toEqual([
    { conversions: purchases.length, purchases: purchases.length, revenue: 25 * purchases.length, converting_users: new Set(purchases.map((p) => p.user_id)).size },
  ]);
  const [keys] = await sql<{ n: number }>(`SELECT count() AS n FROM dedup_keys WHERE ${where}`);
  expect(keys?.n).toBe(events.length);
}

/**
 * Runs SQL as user analyst through ClickHouse's HTTP interface at `url` (a worker's in embedded
 * mode, the chDB front in server mode), on the worker's database, and parses the JSONEachRow answer.
 */
export function analystSql(url: string): Sql {
  return async <T>(query: string): Promise<T[]> => {
    const response = await fetch(`${url}/?database=sluice&default_format=JSONEachRow`, { method: 'POST', headers: { 'X-ClickHouse-User': 'analyst' }, body: query });
    const text = await response.text();
    if (!response.ok) throw new Error(`${response.status} ${text}`);
    return text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as T);
  };
}
