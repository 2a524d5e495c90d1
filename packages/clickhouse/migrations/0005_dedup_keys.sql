-- Dedup keys move from a MergeTree table to a key-value table. Looking up a block's 1,000 random
-- keys in event_keys touched granules all over the table, so each lookup cost more as history grew
-- (a quarter second at 10 million keys). EmbeddedRocksDB answers `dataset_id = X AND insert_id IN
-- (...)` with point reads, whose cost does not grow with the table, and keeps in memory only its
-- caches and index blocks. A key written again replaces the row (it is an upsert), so a block
-- retried after a crash writes the same rows again, harmlessly.
CREATE TABLE IF NOT EXISTS dedup_keys
(
    dataset_id      String,
    insert_id       String,
    received_at     DateTime64(3, 'UTC'),
    kafka_partition UInt32,
    kafka_offset    UInt64
)
ENGINE = EmbeddedRocksDB
PRIMARY KEY (dataset_id, insert_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS dedup_keys_mv TO dedup_keys AS
SELECT dataset_id, insert_id, received_at, kafka_partition, kafka_offset
FROM events;

-- The keys stored so far; the guard makes a second run a no-op.
INSERT INTO dedup_keys
SELECT dataset_id, insert_id, received_at, kafka_partition, kafka_offset
FROM event_keys
WHERE (SELECT count() FROM dedup_keys) = 0;

DROP VIEW IF EXISTS event_keys_mv;

DROP TABLE IF EXISTS event_keys;
