-- One row per stored event. Column names are the envelope's field names (schemas/envelope.v1.json);
-- geo is flattened into geo_*; properties and raw hold JSON text. Every time is UTC.
CREATE TABLE IF NOT EXISTS events
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
ENGINE = MergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (dataset_id, event_type, toDate(occurred_at), insert_id);
