import { partitionOfKey } from '@sluice/kafka';
import { fetchRetrying } from './http';
import { lastSeen, type InProcessPipeline } from './pipeline';

export { partitionOfKey };

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
