-- Messages the worker can never store, one row per Kafka message, with why and where it failed.
-- Rows are identified by their Kafka coordinates: a message dead-lettered again after a crash
-- replaces its earlier row (query with FINAL for exactly one row per message).
CREATE TABLE IF NOT EXISTS events_rejected
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
    -- The message value exactly as consumed, base64, so replay publishes the same bytes.
    raw_base64      String CODEC(ZSTD(3)),
    rejected_at     DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(Delta, ZSTD(1))
)
ENGINE = ReplacingMergeTree(rejected_at)
PARTITION BY toYYYYMM(rejected_at)
ORDER BY (kafka_topic, kafka_partition, kafka_offset);

-- What `npm run replay` did with each rejected message it read.
CREATE TABLE IF NOT EXISTS events_replayed
(
    kafka_topic     LowCardinality(String),
    kafka_partition UInt32,
    kafka_offset    UInt64,
    outcome         LowCardinality(String),
    reason          String,
    replayed_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(replayed_at)
ORDER BY (kafka_topic, kafka_partition, kafka_offset);
