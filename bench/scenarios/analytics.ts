/**
 * The analyst views against the raw events table: a 30-day dashboard for one big dataset, timed
 * right after a bulk load and again after the aggregate tables are merged, each query next to a
 * baseline that computes the same answer from `events`, in the same run and on the same data.
 *
 * "After load" is kinder than live ingestion: each 2M-row INSERT writes ~1M-row blocks, and an
 * AggregatingMergeTree block already folds a request's rows together, whereas the worker's small
 * batches leave a request and its clicks in separate parts until a merge.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyMigrations, openClickHouse, serveChdbOverHttp, type ClickHouse } from '@sluice/clickhouse';
import { createLogger } from '@sluice/core';
import type { Measurement, Scenario, ScenarioContext, ScenarioResult } from '../run';

const dashboardDataset = 'bench-0';
const goalMs = 1000;
const runs = 5;
const chunkRows = 2_000_000;
/** The aggregate tables the materialized views fill; events and event_keys are not merged. */
const aggregateTables = ['search_requests', 'item_ctr_totals', 'conversion_totals', 'outcome_totals'];

// Query vocabulary: 50 x 100 = 5,000 queries.
const brands = [
  'red', 'blue', 'black', 'white', 'green', 'wireless', 'leather', 'cotton', 'wooden', 'steel', 'kids', 'mens', 'womens', 'vintage', 'organic',
  'cheap', 'premium', 'small', 'large', 'portable', 'waterproof', 'smart', 'classic', 'slim', 'heavy', 'soft', 'gaming', 'office', 'outdoor', 'travel',
  'winter', 'summer', 'running', 'yoga', 'baby', 'kitchen', 'garden', 'bathroom', 'led', 'usb', 'bluetooth', 'ceramic', 'glass', 'silk', 'wool',
  'bamboo', 'carbon', 'gold', 'silver', 'pink',
];
const products = [
  'shoes', 'headphones', 'jacket', 'table', 'chair', 'lamp', 'watch', 'bag', 'backpack', 'bottle', 'mug', 'kettle', 'phone case', 'charger', 'cable',
  'keyboard', 'mouse', 'monitor', 'desk', 'sofa', 'pillow', 'blanket', 'towel', 'mat', 'tent', 'bike', 'helmet', 'gloves', 'scarf', 'hat',
  'socks', 'shirt', 'dress', 'jeans', 'shorts', 'skirt', 'sweater', 'hoodie', 'boots', 'sandals', 'speaker', 'camera', 'tripod', 'drone', 'tablet',
  'laptop', 'printer', 'router', 'fan', 'heater', 'blender', 'toaster', 'pan', 'pot', 'knife', 'fork', 'plate', 'bowl', 'glasses', 'sunglasses',
  'ring', 'necklace', 'earrings', 'bracelet', 'wallet', 'belt', 'umbrella', 'suitcase', 'mirror', 'clock', 'vase', 'rug', 'curtain', 'shelf', 'bed',
  'mattress', 'crib', 'stroller', 'toy', 'puzzle', 'book', 'pen', 'notebook', 'paint', 'brush', 'drill', 'hammer', 'saw', 'ladder', 'hose',
  'grill', 'cooler', 'candle', 'soap', 'shampoo', 'perfume', 'razor', 'toothbrush', 'vitamins', 'protein',
];
const sqlArray = (values: readonly string[]): string => `[${values.map((v) => `'${v}'`).join(', ')}]`;

/** A uniform number in [0, 1) drawn from the row (or request) number; a fixed key per decision. */
const u = (key: string, of = 'n'): string => `(cityHash64(${of}, '${key}') % 1000000) / 1000000`;

/**
 * One chunk of synthetic events, as INSERT ... SELECT over numbers(), so the materialized views
 * fill exactly as they do from the worker's inserts. Every row is a pure function of its number,
 * so a rerun produces the same data (bar event_id). Rows come in blocks of 20 that hold 5
 * requests, 5 clicks, 1 conversion, 6 Neuralens events, 2 Greenflash outcomes and 1 Trieve view;
 * 64 blocks form a group that belongs to one dataset, and clicks, conversions and views name a
 * request of their own group up to 7 blocks (a few minutes) earlier. Time grows with the row
 * number, as it does when events arrive live.
 */
function generationSql(from: number, count: number, total: number, startMs: number, spanMs: number): string {
  const msPerRow = spanMs / total;
  const query = (rank: string): string => `concat(${sqlArray(brands)}[${rank} % 50 + 1], ' ', ${sqlArray(products)}[intDiv(${rank}, 50) + 1])`;
  const base = `
    SELECT
      number AS n,
      n % 20 AS slot,
      intDiv(n, 1280) AS grp,
      intDiv(n % 1280, 20) AS blk,
      cityHash64(grp, 'dataset') % 100 AS dsh,
      if(dsh < 50, '${dashboardDataset}', concat('bench-', toString(1 + dsh % 19))) AS dataset,
      fromUnixTimestamp64Milli(toInt64(${startMs} + floor(n * ${msPerRow})), 'UTC') AS at,
      -- earlier requests of the block are picked more often, so clicks pile up on some requests
      if(slot < 5, n, toUInt64(grp * 1280 + (blk - cityHash64(n, 'lag') % (least(blk, 7) + 1)) * 20 + floor(5 * pow(${u('pick')}, 2)))) AS req
    FROM numbers(${from}, ${count})`;
  const derived = `
    SELECT *,
      cityHash64(req, 'type') % 100 AS rt,
      multiIf(rt < 85, 'search', rt < 95, 'rag', 'recommendation') AS req_type,
      concat(lower(hex(cityHash64(req, 'id'))), '-', toString(req)) AS req_id,
      if(cityHash64(req, 'sample') % 10 = 0, 0.1, 1.) AS req_rate,
      concat('user-', toString(cityHash64(req, 'user') % 200000)) AS req_user,
      -- pow(5000, u) - 1 is log-uniform over 0..4998: a Zipf-like skew of the query ranks
      toUInt32(floor(pow(5000, ${u('query', 'req')}))) - 1 AS qrank,
      ${query('qrank')} AS req_query,
      slot <= 10 OR (slot = 19 AND ${u('viewreq')} < 0.5) AS has_req,
      multiIf(slot < 5 OR slot = 10 OR slot = 19, 'trieve', slot < 10, if(${u('ctr')} < 0.3, 'trieve_ctr', 'trieve'),
              slot < 17, 'neuralens', 'greenflash') AS src,
      multiIf(slot < 5, req_type, slot < 10, 'click', slot = 10, if(${u('conv')} < 0.65, 'add_to_cart', 'purchase'),
              slot < 17, if(${u('nlclick')} < 0.12, 'click', 'view'), slot < 19, 'outcome', 'view') AS etype,
      multiIf(${u('page')} < 0.15, 'AUTOCOMPLETE', ${u('page')} < 0.65, 'SEARCH_RESULT_PAGE', ${u('page')} < 0.9, 'CATEGORY_PAGE', 'PRODUCT_PAGE') AS nl_page,
      multiIf(${u('vtype')} < 0.4, 'currency', ${u('vtype')} < 0.9, 'numeric', 'text') AS gf_vtype,
      multiIf(gf_vtype = 'currency', toString(round(1 + ${u('amount')} * 499, 2)),
              gf_vtype = 'numeric', toString(1 + cityHash64(n, 'num') % 10), 'premium_plan') AS gf_value,
      if(${u('scored')} < 0.7, toFloat32(round(${u('score')} * 2 - 1, 2)), NULL) AS gf_score,
      src = 'neuralens' AND ${u('geo')} < 0.3 AS has_geo
    FROM (${base})`;
  const columns: [string, string][] = [
    ['event_id', 'generateUUIDv4(n)'],
    ['insert_id', 'toString(event_id)'],
    ['dataset_id', 'dataset'],
    ['source', 'src'],
    ['event_type', 'etype'],
    [
      'event_name',
      `multiIf(slot < 5, req_type, src = 'trieve_ctr', 'ctr_click', src = 'neuralens',
               concat(if(etype = 'click', 'CLICK_', 'VIEW_'), if(nl_page = 'AUTOCOMPLETE', 'SUGGESTION', 'PRODUCT')),
               src = 'greenflash', ['purchase_completed', 'plan_upgraded', 'ticket_resolved', 'answer_rated', 'signup'][cityHash64(n, 'gfname') % 5 + 1],
               etype)`,
    ],
    ['occurred_at', 'at'],
    ['received_at', `at + toIntervalMillisecond(cityHash64(n, 'delay') % 2000)`],
    [
      'user_id',
      `multiIf(src IN ('trieve', 'trieve_ctr'), req_user,
               src = 'neuralens', if(${u('anon')} < 0.2, NULL, concat('user-', toString(cityHash64(n, 'nluser') % 200000))),
               concat('gf-user-', toString(cityHash64(n, 'gfuser') % 50000)))`,
    ],
    ['organization_id', `if(src = 'greenflash' AND ${u('noorg')} >= 0.05, concat('org-', toString(toUInt32(floor(pow(200, ${u('org')}))) - 1)), NULL)`],
    ['request_id', 'if(has_req, req_id, NULL)'],
    ['request_type', 'if(has_req, req_type, NULL)'],
    [
      'position',
      `multiIf(etype = 'click' AND src IN ('trieve', 'trieve_ctr') AND (src = 'trieve_ctr' OR ${u('nopos')} >= 0.05), toInt32(floor(10 * pow(${u('pos')}, 2))),
               src = 'neuralens', toInt32(floor(24 * pow(${u('pos')}, if(etype = 'click', 2, 1)))),
               NULL)`,
    ],
    [
      'query',
      `multiIf(slot < 5 AND req_type = 'search', req_query, slot < 5 AND req_type = 'rag', concat('which ', req_query, ' should i buy'),
               src = 'neuralens' AND nl_page IN ('SEARCH_RESULT_PAGE', 'AUTOCOMPLETE'), ${query(`(toUInt32(floor(pow(5000, ${u('nlquery')}))) - 1)`)},
               NULL)`,
    ],
    ['page', `multiIf(src = 'neuralens', nl_page, src = 'trieve' AND slot >= 5, multiIf(etype = 'click', '/search', slot = 10, '/cart', '/product'), NULL)`],
    [
      'items',
      `multiIf(src = 'greenflash' OR (slot < 5 AND req_type != 'recommendation'), [],
               slot = 10, arrayMap(i -> concat('item-', toString(cityHash64(n, i) % 100000)), range(1 + cityHash64(n, 'nitems') % 3)),
               [concat('item-', toString(cityHash64(n, 'item') % 100000))])`,
    ],
    ['is_conversion', `if(slot = 10 AND ${u('isconv')} < 0.25, true, NULL)`],
    [
      'revenue',
      `multiIf(etype = 'purchase', toDecimal64(round(5 + ${u('revenue')} * 195, 2), 6),
               src = 'greenflash' AND gf_vtype = 'currency', toDecimal64OrNull(gf_value, 6), NULL)`,
    ],
    ['value', `if(src = 'greenflash', gf_value, NULL)`],
    ['value_type', `if(src = 'greenflash', gf_vtype, NULL)`],
    ['influence', `if(src = 'greenflash', multiIf(gf_score > 0.2, 'positive', gf_score < -0.2, 'negative', gf_score IS NOT NULL, 'neutral', NULL), NULL)`],
    ['quality_score', `if(src = 'greenflash', gf_score, NULL)`],
    ['geo_lat', `if(has_geo, round(12 + ${u('lat')} * 16, 4), NULL)`],
    ['geo_long', `if(has_geo, round(72 + ${u('long')} * 16, 4), NULL)`],
    ['geo_region', `if(has_geo, ['MG Road', 'Indiranagar', 'Koramangala', 'Bandra', 'Connaught Place'][cityHash64(n, 'region') % 5 + 1], NULL)`],
    // Request-grouped, as the worker samples: a request and the events naming it share a rate.
    [
      'sample_rate',
      `multiIf(src IN ('trieve', 'trieve_ctr'), req_rate, src = 'neuralens', if(cityHash64(n, 'nlrate') % 10 = 0, 0.1, 1.),
               if(cityHash64(n, 'gfrate') % 5 = 0, 0.1, 1.))`,
    ],
    ['force_sample', `src = 'greenflash' AND cityHash64(n, 'force') % 50 = 0`],
    ['properties', `'{}'`],
    ['raw', `'{}'`],
    ['schema_version', '1'],
    ['kafka_topic', `'events'`],
    ['kafka_partition', 'toUInt32(n % 6)'],
    ['kafka_offset', 'intDiv(n, 6)'],
  ];
  return `INSERT INTO events (${columns.map(([name]) => name).join(', ')})
SELECT ${columns.map(([name, expr]) => `${expr} AS ${name}`).join(',\n       ')}
FROM (${derived})`;
}

interface DashboardQuery {
  name: string;
  view: string;
  baseline: string;
}

const ds = `'${dashboardDataset}'`;
const requestTypes = `('search', 'rag', 'recommendation')`;
const isConversion = `(ifNull(e.is_conversion, false) OR e.event_type IN ('add_to_cart', 'purchase')
  OR (e.source = 'greenflash' AND ifNull(e.value_type, '') = 'currency'))`;

/**
 * One row per request of the dashboard's dataset, straight from events: what search_requests and
 * search_request_summary hold. Events of a request are never older than the request, so keeping
 * only the last 30 days of events (which the primary key prunes) leaves every in-window request whole.
 */
function requestsFromEvents(eventTypes: string | null): string {
  return `
    SELECT
      e.request_id AS request_id,
      ifNull(maxIf(e.request_type, e.event_type IN ${requestTypes}), '') AS rtype,
      toDate(minIf(e.occurred_at, e.event_type IN ${requestTypes})) AS rday,
      ifNull(maxIf(e.query, e.event_type IN ${requestTypes}), '') AS rquery,
      countIf(e.event_type IN ${requestTypes}) AS requests,
      countIf(e.event_type = 'click') AS clicks,
      groupArrayIf(assumeNotNull(e.position), e.event_type = 'click' AND e.position IS NOT NULL) AS click_positions,
      countIf(${isConversion}) AS conversions,
      countIf(e.event_type = 'add_to_cart') AS add_to_carts,
      countIf(e.event_type = 'purchase') AS purchases,
      sum(toDecimal128(ifNull(e.revenue, 0), 6)) AS revenue
    FROM events AS e
    WHERE e.dataset_id = ${ds} AND toDate(e.occurred_at) >= today() - 30 AND ifNull(e.request_id, '') != ''
      ${eventTypes === null ? '' : `AND e.event_type IN ${eventTypes}`}
    GROUP BY e.request_id
    HAVING requests > 0`;
}

const searchAndClick = `('search', 'rag', 'recommendation', 'click')`;

const dashboard: DashboardQuery[] = [
  {
    name: '(a) ctr_daily',
    view: `
      SELECT day, request_type, searches, searches_with_click, ctr FROM ctr_daily
      WHERE dataset_id = ${ds} AND day >= today() - 30 ORDER BY day, request_type`,
    baseline: `
      SELECT rday AS day, rtype AS request_type, count() AS searches, countIf(clicks > 0) AS searches_with_click, searches_with_click / searches AS ctr
      FROM (${requestsFromEvents(searchAndClick)}) WHERE rday >= today() - 30 GROUP BY day, request_type ORDER BY day, request_type`,
  },
  {
    name: '(b) ctr_by_query top 20',
    view: `
      SELECT query, sum(searches) AS total_searches, sum(searches_with_click) AS total_with_click, total_with_click / total_searches AS ctr
      FROM ctr_by_query WHERE dataset_id = ${ds} AND day >= today() - 30 AND request_type = 'search'
      GROUP BY query ORDER BY total_searches DESC, query LIMIT 20`,
    baseline: `
      SELECT rquery AS query, count() AS total_searches, countIf(clicks > 0) AS total_with_click, total_with_click / total_searches AS ctr
      FROM (${requestsFromEvents(searchAndClick)}) WHERE rday >= today() - 30 AND rtype = 'search'
      GROUP BY query ORDER BY total_searches DESC, query LIMIT 20`,
  },
  {
    name: '(c) ctr_by_position',
    view: `
      SELECT day, request_type, position, clicks, searches_clicked, searches, ctr FROM ctr_by_position
      WHERE dataset_id = ${ds} AND day >= today() - 30 AND position BETWEEN 0 AND 9 ORDER BY day, request_type, position`,
    // Not the view's sumMap: one row per click, so the two answers are reached independently.
    baseline: `
      SELECT day, request_type, position, count() AS clicks, uniqExact(request_id) AS searches_clicked, any(day_searches) AS searches,
             searches_clicked / searches AS ctr
      FROM (
        SELECT request_id, rday AS day, rtype AS request_type, click_positions, count() OVER (PARTITION BY rday, rtype) AS day_searches
        FROM (${requestsFromEvents(searchAndClick)}) WHERE rday >= today() - 30
      )
      ARRAY JOIN click_positions AS position
      WHERE position BETWEEN 0 AND 9
      GROUP BY day, request_type, position ORDER BY day, request_type, position`,
  },
  {
    name: '(d) search_conversion_daily',
    view: `
      SELECT day, request_type, searches, searches_with_click, searches_with_conversion, searches_with_click_and_conversion, conversion_rate,
             add_to_carts, purchases, revenue
      FROM search_conversion_daily WHERE dataset_id = ${ds} AND day >= today() - 30 ORDER BY day, request_type`,
    // Any event naming a request may be a conversion (is_conversion), so no event_type filter here.
    baseline: `
      SELECT rday AS day, rtype AS request_type, count() AS searches, countIf(clicks > 0) AS searches_with_click,
             countIf(conversions > 0) AS searches_with_conversion, countIf(clicks > 0 AND conversions > 0) AS searches_with_click_and_conversion,
             searches_with_conversion / searches AS conversion_rate, sum(add_to_carts) AS add_to_carts, sum(purchases) AS purchases, sum(revenue) AS revenue
      FROM (${requestsFromEvents(null)}) WHERE rday >= today() - 30 GROUP BY day, request_type ORDER BY day, request_type`,
  },
  {
    name: '(e) conversion_daily',
    view: `
      SELECT day, conversions, add_to_carts, purchases, revenue, converting_users FROM conversion_daily
      WHERE dataset_id = ${ds} AND day >= today() - 30 ORDER BY day`,
    baseline: `
      SELECT toDate(e.occurred_at) AS day, count() AS conversions, countIf(e.event_type = 'add_to_cart') AS add_to_carts,
             countIf(e.event_type = 'purchase') AS purchases,
             sum(toDecimal128(ifNull(e.revenue, 0), 6)) AS revenue, uniqExact(e.user_id) AS converting_users
      FROM events AS e WHERE e.dataset_id = ${ds} AND toDate(e.occurred_at) >= today() - 30 AND ${isConversion}
      GROUP BY day ORDER BY day`,
  },
  {
    name: '(f) outcomes_daily by org',
    view: `
      SELECT organization_id, sum(events) AS total_events, sum(numeric_value_sum) AS numeric_total, sum(currency_value_sum) AS currency_total,
             sum(quality_scored) AS scored, if(scored = 0, NULL, sum(avg_quality_score * quality_scored) / scored) AS avg_quality
      FROM outcomes_daily WHERE dataset_id = ${ds} AND day >= today() - 30
      GROUP BY organization_id ORDER BY total_events DESC, organization_id`,
    baseline: `
      SELECT ifNull(e.organization_id, '') AS organization_id, count() AS total_events,
             sum(if(ifNull(e.value_type, '') = 'numeric', ifNull(toDecimal128OrNull(e.value, 6), 0), 0)) AS numeric_total,
             sum(if(ifNull(e.value_type, '') = 'currency', toDecimal128(ifNull(e.revenue, 0), 6), 0)) AS currency_total,
             count(e.quality_score) AS scored, if(scored = 0, NULL, toFloat64(sum(toDecimal128(ifNull(e.quality_score, 0), 6))) / scored) AS avg_quality
      FROM events AS e WHERE e.dataset_id = ${ds} AND e.source = 'greenflash' AND toDate(e.occurred_at) >= today() - 30
      GROUP BY organization_id ORDER BY total_events DESC, organization_id`,
  },
  {
    name: '(g) item_ctr_by_position',
    view: `
      SELECT page, position, sum(impressions) AS total_impressions, sum(clicks) AS total_clicks,
             if(total_impressions = 0, NULL, total_clicks / total_impressions) AS ctr
      FROM item_ctr_by_position WHERE dataset_id = ${ds} AND day >= today() - 30 GROUP BY page, position ORDER BY page, position`,
    baseline: `
      SELECT ifNull(e.page, '') AS page, assumeNotNull(e.position) AS position, countIf(e.event_type = 'view') AS total_impressions,
             countIf(e.event_type = 'click') AS total_clicks, if(total_impressions = 0, NULL, total_clicks / total_impressions) AS ctr
      FROM events AS e
      WHERE e.dataset_id = ${ds} AND e.source = 'neuralens' AND e.event_name IN ('VIEW_PRODUCT', 'VIEW_SUGGESTION', 'CLICK_PRODUCT', 'CLICK_SUGGESTION')
        AND e.position IS NOT NULL AND toDate(e.occurred_at) >= today() - 30
      GROUP BY page, position ORDER BY page, position`,
  },
];

type Row = Record<string, unknown>;

function parseRows(text: string): Row[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Row);
}

/** Exact for everything but floats summed in a different order, which may differ in the last bits. */
function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') return a === b || Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
  return a === b;
}

/** Undefined when equal, else the first difference. */
function difference(view: Row[], baseline: Row[]): string | undefined {
  if (view.length !== baseline.length) return `${view.length} rows from the view, ${baseline.length} from the baseline`;
  for (let i = 0; i < view.length; i++) {
    const v = view[i] ?? {};
    const b = baseline[i] ?? {};
    const keys = Object.keys(v);
    if (keys.join() !== Object.keys(b).join()) return `columns differ: ${keys.join()} vs ${Object.keys(b).join()}`;
    for (const key of keys) {
      if (!sameValue(v[key], b[key])) {
        return `row ${i} ${key}: view ${JSON.stringify(v[key])}, baseline ${JSON.stringify(b[key])} (view row ${JSON.stringify(v)})`;
      }
    }
  }
  return undefined;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
};

async function timed<T>(action: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await action();
  return { ms: performance.now() - started, value };
}

/** One warm-up run, then `runs` timed runs. */
async function measure(action: () => Promise<unknown>): Promise<{ medianMs: number; maxMs: number; times: number[] }> {
  await action();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) times.push((await timed(action)).ms);
  return { medianMs: median(times), maxMs: Math.max(...times), times };
}

interface TableStats {
  table: string;
  parts: number;
  rows: number;
  bytes: number;
}

async function tableStats(clickhouse: ClickHouse): Promise<TableStats[]> {
  return clickhouse.queryRows<TableStats>(
    `SELECT table, count() AS parts, sum(rows) AS rows, sum(bytes_on_disk) AS bytes FROM system.parts
     WHERE database = currentDatabase() AND active AND table IN ('events', ${aggregateTables.map((t) => `'${t}'`).join(', ')})
     GROUP BY table ORDER BY table`,
  );
}

/** Background merges compete with the queries for the CPU; the reader should know how many ran. */
async function runningMerges(clickhouse: ClickHouse): Promise<string> {
  const rows = await clickhouse.queryRows<{ table: string; merges: number }>(
    'SELECT table, count() AS merges FROM system.merges WHERE database = currentDatabase() GROUP BY table ORDER BY table',
  );
  return rows.length === 0 ? 'none' : rows.map((r) => `${r.table} ${r.merges}`).join(', ');
}

const describeStats = (stats: TableStats[]): string =>
  stats.map((s) => `${s.table} ${s.rows.toLocaleString('en-US')} rows/${s.parts} parts/${(s.bytes / 2 ** 20).toFixed(0)} MiB`).join('; ');

interface PhaseResult {
  measurements: Measurement[];
  failures: string[];
  details: Row;
}

async function measurePhase(clickhouse: ClickHouse, analyst: AnalystQuery, phase: string, context: ScenarioContext): Promise<PhaseResult> {
  const stats = await tableStats(clickhouse);
  const mergesAtStart = await runningMerges(clickhouse);
  context.log(`${phase}: ${describeStats(stats)}; merges running: ${mergesAtStart}`);
  const measurements: Measurement[] = [];
  const failures: string[] = [];
  const checks: Row = {};
  for (const query of dashboard) {
    const viewRows = parseRows(await analyst(query.view));
    const baselineRows = parseRows(await analyst(query.baseline));
    const diff = viewRows.length === 0 ? 'the view returned no rows' : difference(viewRows, baselineRows);
    if (diff !== undefined) {
      failures.push(`${phase} ${query.name}: MISMATCH between the view and the baseline: ${diff}`);
      context.log(`  !!! MISMATCH ${query.name}: ${diff}`);
    }
    const view = await measure(() => analyst(query.view));
    const baseline = await measure(() => analyst(query.baseline));
    const check = diff === undefined ? 'MATCH' : 'MISMATCH';
    context.log(`  ${query.name}: ${viewRows.length} rows, view ${view.medianMs.toFixed(0)} ms, baseline ${baseline.medianMs.toFixed(0)} ms, ${check}`);
    checks[query.name] = { rows: viewRows.length, viewTimesMs: view.times, baselineTimesMs: baseline.times, ...(diff === undefined ? {} : { mismatch: diff }) };
    measurements.push({
      phase,
      name: query.name,
      value: view.medianMs,
      unit: 'ms',
      better: 'lower',
      baseline: { value: baseline.medianMs, what: 'the same answer from raw events' },
      goal: { atMost: goalMs },
      check,
      note: `median of ${runs}; max ${view.maxMs.toFixed(0)} ms`,
    });
  }
  const runAll = (pick: (q: DashboardQuery) => string) => async (): Promise<void> => {
    for (const query of dashboard) await analyst(pick(query));
  };
  const whole = await measure(runAll((q) => q.view));
  const wholeBaseline = await measure(runAll((q) => q.baseline));
  const mergesAtEnd = await runningMerges(clickhouse);
  context.log(`  whole dashboard: view ${whole.medianMs.toFixed(0)} ms, baseline ${wholeBaseline.medianMs.toFixed(0)} ms; merges running now: ${mergesAtEnd}`);
  measurements.push({
    phase,
    name: 'whole dashboard (a)-(g)',
    value: whole.medianMs,
    unit: 'ms',
    better: 'lower',
    baseline: { value: wholeBaseline.medianMs, what: 'the same answers from raw events' },
    goal: { atMost: goalMs },
    check: null,
    note: `median of ${runs}; max ${whole.maxMs.toFixed(0)} ms`,
  });
  const details = {
    tables: stats,
    mergesRunning: { atStart: mergesAtStart, atEnd: mergesAtEnd },
    queries: checks,
    wholeDashboard: { viewTimesMs: whole.times, baselineTimesMs: wholeBaseline.times },
  };
  return { measurements, failures, details };
}

/** Every statement first checks for Ctrl-C, so the run stops between statements (see ScenarioContext.signal). */
function interruptible(clickhouse: ClickHouse, signal: AbortSignal): ClickHouse {
  return {
    ...clickhouse,
    command: (sql) => (signal.throwIfAborted(), clickhouse.command(sql)),
    queryRows: <T>(sql: string, params?: Record<string, unknown>) => (signal.throwIfAborted(), clickhouse.queryRows<T>(sql, params)),
  };
}

/** One dashboard query as an analyst sends it, answered in JSONEachRow. */
type AnalystQuery = (sql: string) => Promise<string>;

/**
 * The analysts' ClickHouse HTTP interface on the data directory, as the worker serves it: the
 * dashboard is measured as analysts run it, on its read-only session with its checks and limits.
 */
async function serveAnalysts(dataPath: string, database: string, signal: AbortSignal): Promise<{ query: AnalystQuery; close(): Promise<void> }> {
  const front = serveChdbOverHttp(dataPath, { database, password: '' });
  await new Promise<void>((resolve) => front.server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(front.server.address() as AddressInfo).port}/?user=analyst&default_format=JSONEachRow`;
  return {
    async query(sql) {
      signal.throwIfAborted();
      const response = await fetch(url, { method: 'POST', body: sql, signal });
      const text = await response.text();
      if (!response.ok) throw new Error(`The analysts' interface answered ${response.status}: ${text}`);
      return text;
    },
    close: () => front.close(),
  };
}

async function run(context: ScenarioContext): Promise<ScenarioResult> {
  const events = context.options.events ?? 10_000_000;
  const days = context.options.days ?? 30;
  // chDB allows one process per data directory: always a fresh one of our own.
  const dataPath = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
  context.onCleanup(() => rmSync(dataPath, { recursive: true, force: true }));
  const logger = createLogger({ level: 'warn' });
  const clickhouse = interruptible(await openClickHouse({ dataPath, database: 'sluice_bench', logger }), context.signal);
  let open = true;
  context.onCleanup(async () => {
    if (open) await clickhouse.close();
    open = false;
  });
  const [{ version = '?' } = {}] = await clickhouse.queryRows<{ version: string }>('SELECT version() AS version');
  context.log(`chDB (ClickHouse ${version}) in ${dataPath}`);
  await applyMigrations(clickhouse, logger);

  const dayMs = 86_400_000;
  const startMs = Math.floor(Date.now() / dayMs) * dayMs - days * dayMs;
  const spanMs = days * dayMs;
  context.log(`generating ${events.toLocaleString('en-US')} events over ${days} days (${new Date(startMs).toISOString().slice(0, 10)} .. yesterday, UTC)`);
  const loadStarted = performance.now();
  const chunks = Math.ceil(events / chunkRows);
  for (let i = 0; i < chunks; i++) {
    const from = i * chunkRows;
    const count = Math.min(chunkRows, events - from);
    const { ms } = await timed(() => clickhouse.command(generationSql(from, count, events, startMs, spanMs)));
    const elapsed = (performance.now() - loadStarted) / 1000;
    const rate = Math.round(count / (ms / 1000)).toLocaleString('en-US');
    context.log(`  chunk ${i + 1}/${chunks}: ${count.toLocaleString('en-US')} rows in ${(ms / 1000).toFixed(1)} s (${rate} rows/s), ${elapsed.toFixed(0)} s so far`);
  }
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  const loadRate = events / loadSeconds;
  const rate = Math.round(loadRate).toLocaleString('en-US');
  context.log(`generated ${events.toLocaleString('en-US')} events in ${loadSeconds.toFixed(1)} s (${rate} events/s, materialized views included)`);

  const [mix = {}] = await clickhouse.queryRows<Row>(
    `SELECT count() AS events, countIf(dataset_id = ${ds}) AS dashboard_events, uniqExact(dataset_id) AS datasets,
            countIf(event_type IN ${requestTypes}) AS requests, countIf(event_type = 'click' AND request_id IS NOT NULL) AS request_clicks,
            countIf(event_type IN ('add_to_cart', 'purchase')) AS cart_and_purchase, countIf(source = 'neuralens') AS neuralens,
            countIf(source = 'greenflash') AS greenflash, countIf(sample_rate < 1) AS sampled, min(occurred_at) AS first, max(occurred_at) AS last
     FROM events`,
  );
  context.log(`mix: ${JSON.stringify(mix)}`);

  const analysts = await serveAnalysts(dataPath, 'sluice_bench', context.signal);
  context.onCleanup(() => analysts.close());
  const afterLoad = await measurePhase(clickhouse, analysts.query, 'after load', context);
  const merges: Row = {};
  for (const table of aggregateTables) {
    const { ms } = await timed(() => clickhouse.command(`OPTIMIZE TABLE ${table} FINAL`));
    merges[table] = Math.round(ms);
    context.log(`OPTIMIZE TABLE ${table} FINAL: ${(ms / 1000).toFixed(1)} s`);
  }
  const afterMerges = await measurePhase(clickhouse, analysts.query, 'after merges', context);

  await clickhouse.close();
  open = false;
  return {
    measurements: [...afterLoad.measurements, ...afterMerges.measurements],
    failures: [...afterLoad.failures, ...afterMerges.failures],
    details: {
      clickhouseVersion: version,
      dashboardDataset,
      load: { events, days, seconds: loadSeconds, eventsPerSecond: loadRate, chunkRows },
      mix,
      optimizeMs: merges,
      afterLoad: afterLoad.details,
      afterMerges: afterMerges.details,
    },
  };
}

export const analyticsScenario: Scenario = {
  name: 'analytics',
  description: `the analyst views answer a 30-day dashboard for one dataset (goal < ${goalMs} ms), against the same answers from raw events`,
  options: [
    { name: 'events', description: 'events to generate', default: 10_000_000, min: 10_000 },
    { name: 'days', description: 'days they span, ending yesterday (UTC)', default: 30, min: 1 },
  ],
  run,
};
