-- Analytics: codecs for the events table, the dedup key table, the aggregate tables fed by
-- materialized views, and the analyst-facing views. docs/analysts.md documents every view.
--
-- Conventions:
--  * Where a SELECT aliases a column under its own name, WHERE names the column as events.<name>:
--    a bare name would mean the alias (assumeNotNull(position) is never NULL).
--  * Aggregate tables hold raw counts and sums only; ratios are computed in the views at query time.
--  * Every aggregate table keys on sample_rate, so a view re-weights exactly: estimate = count / sample_rate.
--  * Money and Greenflash numeric values are Decimal, so sums are exact whatever the merge order.
--  * No table has a TTL: ClickHouse drops rows already past their TTL at insert time, which would
--    lose backdated events silently. Retention is the operator's choice (docs/analysts.md).
--  * Each backfill runs only into an empty table, so a migration cut off midway can run again.

ALTER TABLE events
    MODIFY COLUMN received_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    MODIFY COLUMN stored_at DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(Delta, ZSTD(1)),
    MODIFY COLUMN kafka_offset UInt64 CODEC(Delta, ZSTD(1)),
    MODIFY COLUMN occurred_at DateTime64(3, 'UTC') CODEC(ZSTD(1)),
    MODIFY COLUMN event_id UUID CODEC(ZSTD(1)),
    MODIFY COLUMN insert_id String CODEC(ZSTD(1)),
    MODIFY COLUMN user_id Nullable(String) CODEC(ZSTD(1)),
    MODIFY COLUMN request_id Nullable(String) CODEC(ZSTD(1)),
    MODIFY COLUMN query Nullable(String) CODEC(ZSTD(1)),
    MODIFY COLUMN items Array(String) CODEC(ZSTD(1)),
    -- Float64, so that 1 / sample_rate is exact for rates such as 0.1.
    MODIFY COLUMN sample_rate Float64;

ALTER TABLE events ADD INDEX IF NOT EXISTS request_id_bloom request_id TYPE bloom_filter(0.01) GRANULARITY 4;

ALTER TABLE events ADD INDEX IF NOT EXISTS user_id_bloom user_id TYPE bloom_filter(0.01) GRANULARITY 4;

-- One row per stored (dataset_id, insert_id), ordered for the worker's dedup lookups.
CREATE TABLE IF NOT EXISTS event_keys
(
    dataset_id      LowCardinality(String),
    insert_id       String,
    received_at     DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    kafka_partition UInt32,
    kafka_offset    UInt64
)
ENGINE = ReplacingMergeTree
ORDER BY (dataset_id, insert_id);

INSERT INTO event_keys
SELECT dataset_id, insert_id, received_at, kafka_partition, kafka_offset
FROM events
WHERE (SELECT count() FROM event_keys) = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS event_keys_mv TO event_keys AS
SELECT dataset_id, insert_id, received_at, kafka_partition, kafka_offset
FROM events;

-- One row per search, rag or recommendation request (merged by request_id): what the request
-- event said, and what the events that carry its request_id did afterwards.
CREATE TABLE IF NOT EXISTS search_requests
(
    dataset_id          LowCardinality(String),
    request_id          String,
    request_type        SimpleAggregateFunction(max, LowCardinality(Nullable(String))),
    requested_at        SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    query               SimpleAggregateFunction(max, Nullable(String)),
    request_sample_rate SimpleAggregateFunction(max, Float64),
    clicks              SimpleAggregateFunction(sum, UInt64),
    click_positions     SimpleAggregateFunction(groupArrayArray, Array(Int32)),
    conversions         SimpleAggregateFunction(sum, UInt64),
    add_to_carts        SimpleAggregateFunction(sum, UInt64),
    purchases           SimpleAggregateFunction(sum, UInt64),
    revenue             SimpleAggregateFunction(sum, Decimal(38, 6))
)
ENGINE = AggregatingMergeTree
ORDER BY (dataset_id, request_id);

INSERT INTO search_requests
SELECT
    dataset_id,
    assumeNotNull(request_id) AS request_id,
    if(event_type IN ('search', 'rag', 'recommendation'), request_type, NULL) AS request_type,
    if(event_type IN ('search', 'rag', 'recommendation'), occurred_at, NULL) AS requested_at,
    if(event_type IN ('search', 'rag', 'recommendation'), query, NULL) AS query,
    if(event_type IN ('search', 'rag', 'recommendation'), sample_rate, 0) AS request_sample_rate,
    toUInt64(event_type = 'click') AS clicks,
    if(event_type = 'click' AND position IS NOT NULL, [assumeNotNull(position)], []) AS click_positions,
    toUInt64(ifNull(is_conversion, false) OR event_type IN ('add_to_cart', 'purchase') OR (source = 'greenflash' AND ifNull(value_type, '') = 'currency')) AS conversions,
    toUInt64(event_type = 'add_to_cart') AS add_to_carts,
    toUInt64(event_type = 'purchase') AS purchases,
    toDecimal128(ifNull(revenue, 0), 6) AS revenue
FROM events
WHERE events.request_id IS NOT NULL AND events.request_id != '' AND (SELECT count() FROM search_requests) = 0;

CREATE MATERIALIZED VIEW IF NOT EXISTS search_requests_mv TO search_requests AS
SELECT
    dataset_id,
    assumeNotNull(request_id) AS request_id,
    if(event_type IN ('search', 'rag', 'recommendation'), request_type, NULL) AS request_type,
    if(event_type IN ('search', 'rag', 'recommendation'), occurred_at, NULL) AS requested_at,
    if(event_type IN ('search', 'rag', 'recommendation'), query, NULL) AS query,
    if(event_type IN ('search', 'rag', 'recommendation'), sample_rate, 0) AS request_sample_rate,
    toUInt64(event_type = 'click') AS clicks,
    if(event_type = 'click' AND position IS NOT NULL, [assumeNotNull(position)], []) AS click_positions,
    toUInt64(ifNull(is_conversion, false) OR event_type IN ('add_to_cart', 'purchase') OR (source = 'greenflash' AND ifNull(value_type, '') = 'currency')) AS conversions,
    toUInt64(event_type = 'add_to_cart') AS add_to_carts,
    toUInt64(event_type = 'purchase') AS purchases,
    toDecimal128(ifNull(revenue, 0), 6) AS revenue
FROM events
WHERE events.request_id IS NOT NULL AND events.request_id != '';

-- Neuralens item impressions and clicks by page and position, per day of the event.
CREATE TABLE IF NOT EXISTS item_ctr_totals
(
    dataset_id  LowCardinality(String),
    day         Date,
    page        LowCardinality(String),
    position    Int32,
    sample_rate Float64,
    impressions UInt64,
    clicks      UInt64
)
ENGINE = SummingMergeTree((impressions, clicks))
PARTITION BY toYYYYMM(day)
ORDER BY (dataset_id, day, page, position, sample_rate);

INSERT INTO item_ctr_totals
SELECT dataset_id, toDate(occurred_at) AS day, ifNull(page, '') AS page, assumeNotNull(position) AS position, sample_rate,
       countIf(event_type = 'view') AS impressions, countIf(event_type = 'click') AS clicks
FROM events
WHERE source = 'neuralens' AND event_name IN ('VIEW_PRODUCT', 'VIEW_SUGGESTION', 'CLICK_PRODUCT', 'CLICK_SUGGESTION') AND events.position IS NOT NULL
  AND (SELECT count() FROM item_ctr_totals) = 0
GROUP BY dataset_id, day, page, position, sample_rate;

CREATE MATERIALIZED VIEW IF NOT EXISTS item_ctr_totals_mv TO item_ctr_totals AS
SELECT dataset_id, toDate(occurred_at) AS day, ifNull(page, '') AS page, assumeNotNull(position) AS position, sample_rate,
       countIf(event_type = 'view') AS impressions, countIf(event_type = 'click') AS clicks
FROM events
WHERE source = 'neuralens' AND event_name IN ('VIEW_PRODUCT', 'VIEW_SUGGESTION', 'CLICK_PRODUCT', 'CLICK_SUGGESTION') AND events.position IS NOT NULL
GROUP BY dataset_id, day, page, position, sample_rate;

-- Conversion events per day of the event: is_conversion set, add_to_cart, purchase (Trieve and
-- Neuralens alike) or a Greenflash event with a currency value.
CREATE TABLE IF NOT EXISTS conversion_totals
(
    dataset_id       LowCardinality(String),
    day              Date,
    source           LowCardinality(String),
    event_type       LowCardinality(String),
    sample_rate      Float64,
    conversions      SimpleAggregateFunction(sum, UInt64),
    revenue          SimpleAggregateFunction(sum, Decimal(38, 6)),
    converting_users AggregateFunction(uniqExact, Nullable(String))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (dataset_id, day, source, event_type, sample_rate);

INSERT INTO conversion_totals
SELECT dataset_id, toDate(occurred_at) AS day, source, event_type, sample_rate,
       count() AS conversions, sum(toDecimal128(ifNull(revenue, 0), 6)) AS revenue, uniqExactState(user_id) AS converting_users
FROM events
WHERE (ifNull(is_conversion, false) OR event_type IN ('add_to_cart', 'purchase') OR (source = 'greenflash' AND ifNull(value_type, '') = 'currency'))
  AND (SELECT count() FROM conversion_totals) = 0
GROUP BY dataset_id, day, source, event_type, sample_rate;

CREATE MATERIALIZED VIEW IF NOT EXISTS conversion_totals_mv TO conversion_totals AS
SELECT dataset_id, toDate(occurred_at) AS day, source, event_type, sample_rate,
       count() AS conversions, sum(toDecimal128(ifNull(revenue, 0), 6)) AS revenue, uniqExactState(user_id) AS converting_users
FROM events
WHERE ifNull(is_conversion, false) OR event_type IN ('add_to_cart', 'purchase') OR (source = 'greenflash' AND ifNull(value_type, '') = 'currency')
GROUP BY dataset_id, day, source, event_type, sample_rate;

-- Greenflash outcomes per day, product (dataset_id), organization and eventType (event_name).
CREATE TABLE IF NOT EXISTS outcome_totals
(
    dataset_id          LowCardinality(String),
    day                 Date,
    organization_id     String,
    event_name          String,
    sample_rate         Float64,
    events              SimpleAggregateFunction(sum, UInt64),
    numeric_value_sum   SimpleAggregateFunction(sum, Decimal(38, 6)),
    currency_value_sum  SimpleAggregateFunction(sum, Decimal(38, 6)),
    quality_score_sum   SimpleAggregateFunction(sum, Decimal(38, 6)),
    quality_scored      SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (dataset_id, day, organization_id, event_name, sample_rate);

INSERT INTO outcome_totals
SELECT dataset_id, toDate(occurred_at) AS day, ifNull(organization_id, '') AS organization_id, event_name, sample_rate,
       count() AS events,
       sum(if(ifNull(value_type, '') = 'numeric', ifNull(toDecimal128OrNull(value, 6), 0), 0)) AS numeric_value_sum,
       sum(if(ifNull(value_type, '') = 'currency', toDecimal128(ifNull(revenue, 0), 6), 0)) AS currency_value_sum,
       sum(toDecimal128(ifNull(quality_score, 0), 6)) AS quality_score_sum,
       count(quality_score) AS quality_scored
FROM events
WHERE source = 'greenflash' AND (SELECT count() FROM outcome_totals) = 0
GROUP BY dataset_id, day, organization_id, event_name, sample_rate;

CREATE MATERIALIZED VIEW IF NOT EXISTS outcome_totals_mv TO outcome_totals AS
SELECT dataset_id, toDate(occurred_at) AS day, ifNull(organization_id, '') AS organization_id, event_name, sample_rate,
       count() AS events,
       sum(if(ifNull(value_type, '') = 'numeric', ifNull(toDecimal128OrNull(value, 6), 0), 0)) AS numeric_value_sum,
       sum(if(ifNull(value_type, '') = 'currency', toDecimal128(ifNull(revenue, 0), 6), 0)) AS currency_value_sum,
       sum(toDecimal128(ifNull(quality_score, 0), 6)) AS quality_score_sum,
       count(quality_score) AS quality_scored
FROM events
WHERE source = 'greenflash'
GROUP BY dataset_id, day, organization_id, event_name, sample_rate;

-- Analyst-facing views. Their names and columns are a stable interface (docs/analysts.md).
-- estimated_* columns re-weight sampled rows by 1 / sample_rate; the others are raw counts.

-- One row per request whose request event (search, rag or recommendation) was stored.
CREATE VIEW IF NOT EXISTS search_request_summary AS
SELECT
    dataset_id,
    request_id,
    ifNull(max(search_requests.request_type), '') AS request_type,
    assumeNotNull(min(search_requests.requested_at)) AS requested_at,
    toDate(requested_at) AS day,
    ifNull(max(search_requests.query), '') AS query,
    max(request_sample_rate) AS sample_rate,
    sum(search_requests.clicks) AS clicks,
    groupArrayArray(search_requests.click_positions) AS click_positions,
    sum(search_requests.conversions) AS conversions,
    sum(search_requests.add_to_carts) AS add_to_carts,
    sum(search_requests.purchases) AS purchases,
    sum(search_requests.revenue) AS revenue
FROM search_requests
GROUP BY dataset_id, request_id
HAVING min(search_requests.requested_at) IS NOT NULL;

CREATE VIEW IF NOT EXISTS ctr_daily AS
SELECT
    dataset_id,
    day,
    request_type,
    count() AS searches,
    countIf(r.clicks > 0) AS searches_with_click,
    sum(r.clicks) AS clicks,
    searches_with_click / searches AS ctr,
    sum(1 / r.sample_rate) AS estimated_searches,
    sumIf(1 / r.sample_rate, r.clicks > 0) AS estimated_searches_with_click,
    sum(r.clicks / r.sample_rate) AS estimated_clicks
FROM search_request_summary AS r
GROUP BY dataset_id, day, request_type;

CREATE VIEW IF NOT EXISTS ctr_by_query AS
SELECT
    dataset_id,
    day,
    request_type,
    query,
    count() AS searches,
    countIf(r.clicks > 0) AS searches_with_click,
    sum(r.clicks) AS clicks,
    searches_with_click / searches AS ctr,
    sum(1 / r.sample_rate) AS estimated_searches,
    sumIf(1 / r.sample_rate, r.clicks > 0) AS estimated_searches_with_click,
    sum(r.clicks / r.sample_rate) AS estimated_clicks
FROM search_request_summary AS r
GROUP BY dataset_id, day, request_type, query;

-- Per position: clicks there, and how many searches had a click there, against the searches of
-- that day and request type. sumMap keeps it to one pass over the requests.
CREATE VIEW IF NOT EXISTS ctr_by_position AS
SELECT
    dataset_id,
    day,
    request_type,
    position,
    clicks,
    searches_clicked,
    searches,
    searches_clicked / searches AS ctr,
    estimated_clicks,
    estimated_searches
FROM
(
    SELECT
        dataset_id,
        day,
        request_type,
        count() AS searches,
        sum(1 / sample_rate) AS estimated_searches,
        sumMap(click_positions, arrayMap(p -> toUInt64(1), click_positions)) AS clicks_at,
        sumMap(arrayDistinct(click_positions), arrayMap(p -> toUInt64(1), arrayDistinct(click_positions))) AS searches_clicked_at,
        sumMap(click_positions, arrayMap(p -> 1 / sample_rate, click_positions)) AS estimated_clicks_at
    FROM search_request_summary
    GROUP BY dataset_id, day, request_type
)
ARRAY JOIN
    clicks_at.1 AS position,
    clicks_at.2 AS clicks,
    searches_clicked_at.2 AS searches_clicked,
    estimated_clicks_at.2 AS estimated_clicks;

-- The search funnel: search, then a click, then an add_to_cart or purchase with the same request_id.
CREATE VIEW IF NOT EXISTS search_conversion_daily AS
SELECT
    dataset_id,
    day,
    request_type,
    count() AS searches,
    countIf(r.clicks > 0) AS searches_with_click,
    countIf(r.conversions > 0) AS searches_with_conversion,
    countIf(r.clicks > 0 AND r.conversions > 0) AS searches_with_click_and_conversion,
    searches_with_conversion / searches AS conversion_rate,
    sum(r.add_to_carts) AS add_to_carts,
    sum(r.purchases) AS purchases,
    sum(r.revenue) AS revenue,
    sum(1 / r.sample_rate) AS estimated_searches,
    sumIf(1 / r.sample_rate, r.conversions > 0) AS estimated_searches_with_conversion,
    sum(toFloat64(r.revenue) / r.sample_rate) AS estimated_revenue
FROM search_request_summary AS r
GROUP BY dataset_id, day, request_type;

CREATE VIEW IF NOT EXISTS item_ctr_by_position AS
SELECT
    dataset_id,
    day,
    page,
    position,
    sum(t.impressions) AS impressions,
    sum(t.clicks) AS clicks,
    if(impressions = 0, NULL, clicks / impressions) AS ctr,
    sum(t.impressions / t.sample_rate) AS estimated_impressions,
    sum(t.clicks / t.sample_rate) AS estimated_clicks
FROM item_ctr_totals AS t
GROUP BY dataset_id, day, page, position;

CREATE VIEW IF NOT EXISTS conversion_daily AS
SELECT
    dataset_id,
    day,
    sum(t.conversions) AS conversions,
    sumIf(t.conversions, t.event_type = 'add_to_cart') AS add_to_carts,
    sumIf(t.conversions, t.event_type = 'purchase') AS purchases,
    sum(t.revenue) AS revenue,
    uniqExactMerge(t.converting_users) AS converting_users,
    sum(t.conversions / t.sample_rate) AS estimated_conversions,
    sum(toFloat64(t.revenue) / t.sample_rate) AS estimated_revenue
FROM conversion_totals AS t
GROUP BY dataset_id, day;

CREATE VIEW IF NOT EXISTS outcomes_daily AS
SELECT
    dataset_id,
    day,
    organization_id,
    event_name AS event_type,
    sum(t.events) AS events,
    sum(t.numeric_value_sum) AS numeric_value_sum,
    sum(t.currency_value_sum) AS currency_value_sum,
    sum(t.quality_scored) AS quality_scored,
    if(quality_scored = 0, NULL, toFloat64(sum(t.quality_score_sum)) / quality_scored) AS avg_quality_score,
    sum(t.events / t.sample_rate) AS estimated_events
FROM outcome_totals AS t
GROUP BY dataset_id, day, organization_id, event_name;
