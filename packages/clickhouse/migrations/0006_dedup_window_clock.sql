-- The dedup window is measured by ClickHouse's clock, never by the client's. dedup_keys took
-- received_at from events, and canonical envelopes (POST /v1/batch, Kafka-native producers) set
-- that themselves: an event claiming to be received in 1970 was outside any window, so each copy
-- was stored again, and one claiming 2100 stayed a duplicate forever. The view now writes
-- events.stored_at, the DEFAULT now64(3) ClickHouse fills in at the insert (the view sees the
-- block with its defaults). The column keeps its name: EmbeddedRocksDB cannot rename a column,
-- and the worker's lookup and the analysts' trimming query (docs/analysts.md) already read it as
-- "when the key was stored". MODIFY QUERY swaps the query in place, so no insert meanwhile goes
-- without its key, and running it again changes nothing.
ALTER TABLE dedup_keys_mv MODIFY QUERY
SELECT dataset_id, insert_id, stored_at AS received_at, kafka_partition, kafka_offset
FROM events;

-- Keys whose client said they lie in the future would hold their window open until then: they
-- start their window now instead. Writing a key again replaces its row (EmbeddedRocksDB upserts),
-- and a second run finds no such key.
INSERT INTO dedup_keys
SELECT dataset_id, insert_id, now64(3), kafka_partition, kafka_offset
FROM dedup_keys
WHERE received_at > now64(3);
