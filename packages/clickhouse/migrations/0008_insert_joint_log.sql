-- Blocks of several partitions inserted as one (a joint block: services/worker/src/joint-blocks.ts).
-- A small insert costs about the same whatever its size (events and each view make a part of
-- their own), so the batches of one fetch go in together; but a joint block cannot be rebuilt from
-- one partition's messages after a crash, since its other partitions may be another worker's by
-- then. So each of its blocks is recorded here under the joint block's token, and the first one's
-- row carries the joint block's rows, from which any worker repeats the insert under that token.
-- The rows are cleared once every block of the joint block is committed; TTL as insert_block_log.
CREATE TABLE IF NOT EXISTS insert_joint_log
(
    kafka_topic     String,
    kafka_partition UInt32,
    first_offset    UInt64,
    last_offset     UInt64,
    joint_token     String,
    joint_rows      String,
    recorded_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = EmbeddedRocksDB(2592000)
PRIMARY KEY (kafka_topic, kafka_partition, first_offset);
