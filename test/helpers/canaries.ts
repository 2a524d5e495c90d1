import { fetchRetrying } from './http';
import { lastSeen, type InProcessPipeline } from './pipeline';

/**
 * The partition Kafka's default partitioner (Java's, and kafkajs's DefaultPartitioner, which the
 * publisher uses) picks for a key: murmur2 of the key's UTF-8 bytes, made positive, modulo the
 * partition count. Written out here so a test can aim an event at a partition without kafkajs.
 */
export function partitionOfKey(key: string, partitions: number): number {
  return (murmur2(Buffer.from(key, 'utf8')) & 0x7fffffff) % partitions;
}

function murmur2(data: Buffer): number {
  const m = 0x5bd1e995;
  let h = 0x9747b28c ^ data.length;
  const whole = data.length - (data.length % 4);
  for (let i = 0; i < whole; i += 4) {
    let k = data.readInt32LE(i);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const tail = data.length % 4;
  if (tail === 3) h ^= (data[whole + 2] ?? 0) << 16;
  if (tail >= 2) h ^= (data[whole + 1] ?? 0) << 8;
  if (tail >= 1) h = Math.imul(h ^ (data[whole] ?? 0), m);
  h ^= h >>> 13;
  h = Math.imul(h, m);
  return h ^ (h >>> 15);
}

/** The first insert id `<prefix>-<n>` whose Kafka key `<datasetId>/<id>` lands on the partition. */
export function insertIdOnPartition(datasetId: string, prefix: string, partition: number, partitions: number): string {
  for (let n = 0; ; n++) {
    const id = `${prefix}-${n}`;
    if (partitionOfKey(`${datasetId}/${id}`, partitions) === partition) return id;
  }
}

export interface CanaryReport {
  /** Canaries not stored within the wait, as "partition P: ID". */
  missing: string[];
  /** Canaries the gateway did not acknowledge, with its answer. */
  refused: string[];
  /** Canaries stored on another partition than partitionOfKey said: the computation would be wrong. */
  misplaced: string[];
}

export const canaryDataset = 'ds-canary';

/**
 * After a poison message, one canary per partition of the topic, each a Trieve view sent through
 * the gateway as a client would, and what became of them within `waitMs`. A partition the poison
 * stalled stores none of the events sent after it, so its canary is missing.
 */
export async function canariesOnEveryPartition(pipeline: InProcessPipeline, partitions: number, tag: string, waitMs = 30_000): Promise<CanaryReport> {
  const ids = Array.from({ length: partitions }, (_, p) => insertIdOnPartition(canaryDataset, `canary-${tag}-p${p}`, p, partitions));
  const refused: string[] = [];
  for (const id of ids) {
    const response = await fetchRetrying(`${pipeline.gatewayUrl}/api/analytics/events`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${pipeline.apiKey}`, 'tr-dataset': canaryDataset, 'idempotency-key': id, 'content-type': 'application/json' },
      body: JSON.stringify({ event_type: 'view', event_name: 'canary', items: [id] }),
    });
    if (response.status !== 204) refused.push(`${id}: ${response.status} ${await response.text()}`);
  }
  const stored = await lastSeen(
    () =>
      pipeline.clickhouse.queryRows<{ insert_id: string; kafka_partition: number }>(
        `SELECT insert_id, kafka_partition FROM events WHERE dataset_id = {d:String} AND startsWith(insert_id, {prefix:String})`,
        { d: canaryDataset, prefix: `canary-${tag}-` },
      ),
    (rows) => rows.length >= ids.length,
    waitMs,
  );
  const partitionStored = new Map(stored.map((r) => [r.insert_id, r.kafka_partition]));
  return {
    missing: ids.flatMap((id, p) => (partitionStored.has(id) ? [] : [`partition ${p}: ${id}`])),
    refused,
    misplaced: ids.flatMap((id, p) => {
      const actual = partitionStored.get(id);
      return actual === undefined || actual === p ? [] : [`${id}: computed ${p}, stored from ${actual}`];
    }),
  };
}

export const everyCanaryStored: CanaryReport = { missing: [], refused: [], misplaced: [] };
