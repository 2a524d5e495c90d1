-- Sluice's ClickHouse migrations for the cluster c1 (ON CLUSTER): 8 migrations, 54 statements.

-- The record of applied migrations
CREATE TABLE IF NOT EXISTS schema_migrations ON CLUSTER c1 (version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/{database}/schema_migrations', '{shard}-{replica}') ORDER BY version;

-- 0001 events
CREATE TABLE IF NOT EXISTS events_local ON CLUSTER c1
(
    event_id        UUID,
    insert_id       String,
    dataset_id      LowCardinality(String),
    source          LowCardinality(String),
    event_type      LowCardinality(String),
    event_name      String,
    occurred_at     DateTime64(3, 'UTC'),
    received_at     DateTime64(3, 'UTC'),
    user_id         Nullable(String),
    organization_id Nullable(String),
    request_id      Nullable(String),
    request_type    LowCardinality(Nullable(String)),
    position        Nullable(Int32),
    query           Nullable(String),
    page            LowCardinality(Nullable(String)),
    items           Array(String),
    is_conversion   Nullable(Bool),
    revenue         Nullable(Decimal(18, 6)),
    value           Nullable(String),
    value_type      LowCardinality(Nullable(String)),
    influence       LowCardinality(Nullable(String)),
    quality_score   Nullable(Float32),
    geo_lat         Nullable(Float64),
    geo_long        Nullable(Float64),
    geo_region      Nullable(String),
    sample_rate     Float32,
    force_sample    Bool,
    properties      String CODEC(ZSTD(3)),
    raw             String CODEC(ZSTD(3)),
    schema_version  UInt8,
    kafka_topic     LowCardinality(String),
    kafka_partition UInt32,
    kafka_offset    UInt64,
    stored_at       DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (dataset_id, event_type, toDate(occurred_at), insert_id);

CREATE TABLE IF NOT EXISTS events ON CLUSTER c1 AS events_local
ENGINE = Distributed(c1, currentDatabase(), events_local, kafka_partition);


-- 0002 analytics
ALTER TABLE events_local ON CLUSTER c1
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
    MODIFY COLUMN sample_rate Float64;

ALTER TABLE events ON CLUSTER c1
    MODIFY COLUMN received_at DateTime64(3, 'UTC'),
    MODIFY COLUMN stored_at DateTime64(3, 'UTC'),
    MODIFY COLUMN kafka_offset UInt64,
    MODIFY COLUMN occurred_at DateTime64(3, 'UTC'),
    MODIFY COLUMN event_id UUID,
    MODIFY COLUMN insert_id String,
    MODIFY COLUMN user_id Nullable(String),
    MODIFY COLUMN request_id Nullable(String),
    MODIFY COLUMN query Nullable(String),
    MODIFY COLUMN items Array(String),
    MODIFY COLUMN sample_rate Float64;

ALTER TABLE events_local ON CLUSTER c1
    ADD INDEX IF NOT EXISTS request_id_bloom request_id TYPE bloom_filter(0.01) GRANULARITY 4;

ALTER TABLE events_local ON CLUSTER c1
    ADD INDEX IF NOT EXISTS user_id_bloom user_id TYPE bloom_filter(0.01) GRANULARITY 4;

CREATE TABLE IF NOT EXISTS event_keys_local ON CLUSTER c1
(
    dataset_id      LowCardinality(String),
    insert_id       String,
    received_at     DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    kafka_partition UInt32,
    kafka_offset    UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY (dataset_id, insert_id);

CREATE TABLE IF NOT EXISTS event_keys ON CLUSTER c1 AS event_keys_local
ENGINE = Distributed(c1, currentDatabase(), event_keys_local, kafka_partition);

CREATE MATERIALIZED VIEW IF NOT EXISTS event_keys_mv ON CLUSTER c1 TO event_keys_local AS
SELECT dataset_id, insert_id, received_at, kafka_partition, kafka_offset
FROM events_local AS events;

CREATE TABLE IF NOT EXISTS search_requests_local ON CLUSTER c1
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
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY (dataset_id, request_id);

CREATE TABLE IF NOT EXISTS search_requests ON CLUSTER c1 AS search_requests_local
ENGINE = Distributed(c1, currentDatabase(), search_requests_local);

CREATE MATERIALIZED VIEW IF NOT EXISTS search_requests_mv ON CLUSTER c1 TO search_requests_local AS
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
FROM events_local AS events
WHERE events.request_id IS NOT NULL AND events.request_id != '';

CREATE TABLE IF NOT EXISTS item_ctr_totals_local ON CLUSTER c1
(
    dataset_id  LowCardinality(String),
    day         Date,
    page        LowCardinality(String),
    position    Int32,
    sample_rate Float64,
    impressions UInt64,
    clicks      UInt64
)
ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', (impressions, clicks))
PARTITION BY toYYYYMM(day)
ORDER BY (dataset_id, day, page, position, sample_rate);

CREATE TABLE IF NOT EXISTS item_ctr_totals ON CLUSTER c1 AS item_ctr_totals_local
ENGINE = Distributed(c1, currentDatabase(), item_ctr_totals_local);

CREATE MATERIALIZED VIEW IF NOT EXISTS item_ctr_totals_mv ON CLUSTER c1 TO item_ctr_totals_local AS
SELECT dataset_id, toDate(occurred_at) AS day, ifNull(page, '') AS page, assumeNotNull(position) AS position, sample_rate,
       countIf(event_type = 'view') AS impressions, countIf(event_type = 'click') AS clicks
FROM events_local AS events
WHERE source = 'neuralens' AND event_name IN ('VIEW_PRODUCT', 'VIEW_SUGGESTION', 'CLICK_PRODUCT', 'CLICK_SUGGESTION') AND events.position IS NOT NULL
GROUP BY dataset_id, day, page, position, sample_rate;

CREATE TABLE IF NOT EXISTS conversion_totals_local ON CLUSTER c1
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
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(day)
ORDER BY (dataset_id, day, source, event_type, sample_rate);

CREATE TABLE IF NOT EXISTS conversion_totals ON CLUSTER c1 AS conversion_totals_local
ENGINE = Distributed(c1, currentDatabase(), conversion_totals_local);

CREATE MATERIALIZED VIEW IF NOT EXISTS conversion_totals_mv ON CLUSTER c1 TO conversion_totals_local AS
SELECT dataset_id, toDate(occurred_at) AS day, source, event_type, sample_rate,
       count() AS conversions, sum(toDecimal128(ifNull(revenue, 0), 6)) AS revenue, uniqExactState(user_id) AS converting_users
FROM events_local AS events
WHERE ifNull(is_conversion, false) OR event_type IN ('add_to_cart', 'purchase') OR (source = 'greenflash' AND ifNull(value_type, '') = 'currency')
GROUP BY dataset_id, day, source, event_type, sample_rate;

CREATE TABLE IF NOT EXISTS outcome_totals_local ON CLUSTER c1
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
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
PARTITION BY toYYYYMM(day)
ORDER BY (dataset_id, day, organization_id, event_name, sample_rate);

CREATE TABLE IF NOT EXISTS outcome_totals ON CLUSTER c1 AS outcome_totals_local
ENGINE = Distributed(c1, currentDatabase(), outcome_totals_local);

CREATE MATERIALIZED VIEW IF NOT EXISTS outcome_totals_mv ON CLUSTER c1 TO outcome_totals_local AS
SELECT dataset_id, toDate(occurred_at) AS day, ifNull(organization_id, '') AS organization_id, event_name, sample_rate,
       count() AS events,
       sum(if(ifNull(value_type, '') = 'numeric', ifNull(toDecimal128OrNull(value, 6), 0), 0)) AS numeric_value_sum,
       sum(if(ifNull(value_type, '') = 'currency', toDecimal128(ifNull(revenue, 0), 6), 0)) AS currency_value_sum,
       sum(toDecimal128(ifNull(quality_score, 0), 6)) AS quality_score_sum,
       count(quality_score) AS quality_scored
FROM events_local AS events
WHERE source = 'greenflash'
GROUP BY dataset_id, day, organization_id, event_name, sample_rate;

CREATE VIEW IF NOT EXISTS search_request_summary ON CLUSTER c1 AS
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

CREATE VIEW IF NOT EXISTS ctr_daily ON CLUSTER c1 AS
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

CREATE VIEW IF NOT EXISTS ctr_by_query ON CLUSTER c1 AS
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

CREATE VIEW IF NOT EXISTS ctr_by_position ON CLUSTER c1 AS
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

CREATE VIEW IF NOT EXISTS search_conversion_daily ON CLUSTER c1 AS
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

CREATE VIEW IF NOT EXISTS item_ctr_by_position ON CLUSTER c1 AS
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

CREATE VIEW IF NOT EXISTS conversion_daily ON CLUSTER c1 AS
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

CREATE VIEW IF NOT EXISTS outcomes_daily ON CLUSTER c1 AS
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


-- 0003 dead_letters
CREATE TABLE IF NOT EXISTS events_rejected_local ON CLUSTER c1
(
    kafka_topic     LowCardinality(String),
    kafka_partition UInt32,
    kafka_offset    UInt64,
    kafka_key       String,
    step            LowCardinality(String),
    reason          String CODEC(ZSTD(1)),
    dataset_id      String,
    insert_id       String,
    raw_bytes       UInt32,

    raw_base64      String CODEC(ZSTD(3)),
    rejected_at     DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(Delta, ZSTD(1))
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', rejected_at)
PARTITION BY toYYYYMM(rejected_at)
ORDER BY (kafka_topic, kafka_partition, kafka_offset);

CREATE TABLE IF NOT EXISTS events_rejected ON CLUSTER c1 AS events_rejected_local
ENGINE = Distributed(c1, currentDatabase(), events_rejected_local, kafka_partition);

CREATE TABLE IF NOT EXISTS events_replayed_local ON CLUSTER c1
(
    kafka_topic     LowCardinality(String),
    kafka_partition UInt32,
    kafka_offset    UInt64,
    outcome         LowCardinality(String),
    reason          String,
    replayed_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', replayed_at)
ORDER BY (kafka_topic, kafka_partition, kafka_offset);

CREATE TABLE IF NOT EXISTS events_replayed ON CLUSTER c1 AS events_replayed_local
ENGINE = Distributed(c1, currentDatabase(), events_replayed_local, kafka_partition);


-- 0004 exactly_once
ALTER TABLE events_local ON CLUSTER c1
    MODIFY SETTING replicated_deduplication_window = 100000, replicated_deduplication_window_seconds = 2592000;

ALTER TABLE event_keys_local ON CLUSTER c1
    MODIFY SETTING replicated_deduplication_window = 100000, replicated_deduplication_window_seconds = 2592000;

ALTER TABLE search_requests_local ON CLUSTER c1
    MODIFY SETTING replicated_deduplication_window = 100000, replicated_deduplication_window_seconds = 2592000;

ALTER TABLE item_ctr_totals_local ON CLUSTER c1
    MODIFY SETTING replicated_deduplication_window = 100000, replicated_deduplication_window_seconds = 2592000;

ALTER TABLE conversion_totals_local ON CLUSTER c1
    MODIFY SETTING replicated_deduplication_window = 100000, replicated_deduplication_window_seconds = 2592000;

ALTER TABLE outcome_totals_local ON CLUSTER c1
    MODIFY SETTING replicated_deduplication_window = 100000, replicated_deduplication_window_seconds = 2592000;

CREATE TABLE IF NOT EXISTS insert_blocks_local ON CLUSTER c1
(
    kafka_topic     LowCardinality(String),
    kafka_partition UInt32,
    first_offset    UInt64,
    last_offset     UInt64,
    recorded_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', recorded_at)
ORDER BY (kafka_topic, kafka_partition, first_offset)
TTL toDateTime(recorded_at) + INTERVAL 30 DAY;

CREATE TABLE IF NOT EXISTS insert_blocks ON CLUSTER c1 AS insert_blocks_local
ENGINE = Distributed(c1, currentDatabase(), insert_blocks_local, kafka_partition);


-- 0005 dedup_keys
CREATE TABLE IF NOT EXISTS dedup_keys ON CLUSTER c1
(
    dataset_id      String,
    insert_id       String,
    received_at     DateTime64(3, 'UTC'),
    kafka_partition UInt32,
    kafka_offset    UInt64
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')
ORDER BY (dataset_id, insert_id)
SETTINGS index_granularity = 256, min_compress_block_size = 4096;

CREATE MATERIALIZED VIEW IF NOT EXISTS dedup_keys_mv ON CLUSTER c1 TO dedup_keys AS
SELECT dataset_id, insert_id, received_at, kafka_partition, kafka_offset
FROM events_local AS events;

DROP VIEW IF EXISTS event_keys_mv ON CLUSTER c1;

DROP TABLE IF EXISTS event_keys ON CLUSTER c1;

DROP TABLE IF EXISTS event_keys_local ON CLUSTER c1;


-- 0006 dedup_window_clock
ALTER TABLE dedup_keys_mv ON CLUSTER c1 MODIFY QUERY
SELECT dataset_id, insert_id, stored_at AS received_at, kafka_partition, kafka_offset
FROM events_local AS events;


-- 0007 insert_block_log
CREATE TABLE IF NOT EXISTS insert_block_log ON CLUSTER c1
(
    kafka_topic     String,
    kafka_partition UInt32,
    first_offset    UInt64,
    last_offset     UInt64,
    recorded_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', recorded_at)
ORDER BY (kafka_topic, kafka_partition, first_offset)
TTL toDateTime(recorded_at) + INTERVAL 2592000 SECOND
SETTINGS index_granularity = 256, min_compress_block_size = 4096;

CREATE TABLE IF NOT EXISTS insert_blocks_local ON CLUSTER c1
(
    kafka_topic     LowCardinality(String),
    kafka_partition UInt32,
    first_offset    UInt64,
    last_offset     UInt64,
    recorded_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', recorded_at)
ORDER BY (kafka_topic, kafka_partition, first_offset)
TTL toDateTime(recorded_at) + INTERVAL 30 DAY;

CREATE TABLE IF NOT EXISTS insert_blocks ON CLUSTER c1 AS insert_blocks_local
ENGINE = Distributed(c1, currentDatabase(), insert_blocks_local, kafka_partition);

DROP TABLE IF EXISTS insert_blocks ON CLUSTER c1;

DROP TABLE IF EXISTS insert_blocks_local ON CLUSTER c1;


-- 0008 insert_joint_log
CREATE TABLE IF NOT EXISTS insert_joint_log ON CLUSTER c1
(
    kafka_topic     String,
    kafka_partition UInt32,
    first_offset    UInt64,
    last_offset     UInt64,
    joint_token     String,
    joint_rows      String,
    recorded_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', recorded_at)
ORDER BY (kafka_topic, kafka_partition, first_offset)
TTL toDateTime(recorded_at) + INTERVAL 2592000 SECOND
SETTINGS index_granularity = 256, min_compress_block_size = 4096;
