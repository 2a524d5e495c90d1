-- Effectively-once inserts. The worker inserts each block of a partition's messages with an
-- insert_deduplication_token naming the block (topic/partition/first-last offset). These tables
-- remember that many recent block tokens, so a block inserted again after a crash is stored once,
-- in events and in every materialized view target (each dedups on its own and completes what a
-- crash cut short). 100,000 blocks is hours of inserts at any rate the worker reaches.
ALTER TABLE events MODIFY SETTING non_replicated_deduplication_window = 100000;

ALTER TABLE event_keys MODIFY SETTING non_replicated_deduplication_window = 100000;

ALTER TABLE search_requests MODIFY SETTING non_replicated_deduplication_window = 100000;

ALTER TABLE item_ctr_totals MODIFY SETTING non_replicated_deduplication_window = 100000;

ALTER TABLE conversion_totals MODIFY SETTING non_replicated_deduplication_window = 100000;

ALTER TABLE outcome_totals MODIFY SETTING non_replicated_deduplication_window = 100000;

-- The block a worker is about to insert, recorded before the insert: after a crash, the next
-- worker rebuilds exactly that block (same messages, same token) instead of one cut from a
-- differently sized Kafka batch.
CREATE TABLE IF NOT EXISTS insert_blocks
(
    kafka_topic     LowCardinality(String),
    kafka_partition UInt32,
    first_offset    UInt64,
    last_offset     UInt64,
    recorded_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(recorded_at)
ORDER BY (kafka_topic, kafka_partition, first_offset)
TTL toDateTime(recorded_at) + INTERVAL 30 DAY;
