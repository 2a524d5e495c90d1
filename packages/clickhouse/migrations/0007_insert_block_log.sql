-- The block log moves from a ReplacingMergeTree table to a key-value table. The worker records
-- every block before inserting it, so each record was a part of its own on disk: about 8 ms and
-- 9 ms of CPU per block in embedded ClickHouse, a fifth of a small block's whole cost. An
-- EmbeddedRocksDB write is about 4 ms and 3.5 ms of CPU, and the lookup by (topic, partition,
-- first offset) is a point read. A block recorded again replaces its row (an upsert), as FINAL
-- did before; RocksDB's TTL drops records after the 30 days the old table kept them.
CREATE TABLE IF NOT EXISTS insert_block_log
(
    kafka_topic     String,
    kafka_partition UInt32,
    first_offset    UInt64,
    last_offset     UInt64,
    recorded_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = EmbeddedRocksDB(2592000)
PRIMARY KEY (kafka_topic, kafka_partition, first_offset);

-- As migration 4 made it, so that a run cut off after the DROP below can run again.
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

-- The blocks recorded so far; the guard makes a second run a no-op.
INSERT INTO insert_block_log
SELECT kafka_topic, kafka_partition, first_offset, last_offset, recorded_at
FROM insert_blocks FINAL
WHERE (SELECT count() FROM insert_block_log) = 0;

DROP TABLE IF EXISTS insert_blocks;
