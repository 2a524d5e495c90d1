import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PartitionHealth } from './partition-progress';

/** ClickHouse insert latency: 5 ms to 30 s. */
export const insertLatencyBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Messages per Kafka batch: 1 to 50,000. */
export const batchSizeBuckets = [1, 10, 100, 500, 1_000, 5_000, 10_000, 50_000];

export interface WorkerMetrics {
  /** Each worker has its own registry, so tests can build many in one process. */
  registry: Registry;
  /** Every step's outcome per message: parse, validate, sample, dedup × ok, drop, dlq, retry. */
  stepOutcomes: Counter<'step' | 'outcome'>;
  rowsStored: Counter;
  deadLetters: Counter<'step'>;
  /** ClickHouse or Kafka calls retried, by the step that made them (dedup, insert, dead-letter). */
  retries: Counter<'step'>;
  insertLatency: Histogram;
  batchSize: Histogram;
  /** 1 for each partition this worker owns that is stalled, 0 for the others; read from `partitions` at each scrape. */
  partitionStalled: Gauge<'topic' | 'partition'>;
}

/**
 * The worker's Prometheus metrics, on a registry of their own (never prom-client's global one).
 * `partitions` are the partitions the worker owns, as its partition progress judges them.
 */
export function createWorkerMetrics(partitions: () => readonly PartitionHealth[] = () => []): WorkerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    stepOutcomes: new Counter({
      name: 'sluice_worker_step_outcomes_total',
      help: 'Messages by pipeline step and outcome (ok, drop, dlq, retry).',
      labelNames: ['step', 'outcome'] as const,
      registers,
    }),
    rowsStored: new Counter({ name: 'sluice_worker_rows_stored_total', help: 'Rows ClickHouse acknowledged into the events table.', registers }),
    deadLetters: new Counter({
      name: 'sluice_worker_dead_letters_total',
      help: 'Messages stored as dead letters (dead-letter topic and events_rejected), by the step that refused them.',
      labelNames: ['step'] as const,
      registers,
    }),
    retries: new Counter({
      name: 'sluice_worker_retries_total',
      help: 'Calls retried with backoff because ClickHouse or Kafka did not answer, by step.',
      labelNames: ['step'] as const,
      registers,
    }),
    insertLatency: new Histogram({
      name: 'sluice_worker_insert_seconds',
      help: 'Time ClickHouse took to acknowledge one insert into events, in seconds.',
      buckets: insertLatencyBuckets,
      registers,
    }),
    batchSize: new Histogram({ name: 'sluice_worker_batch_messages', help: 'Messages per Kafka batch handled.', buckets: batchSizeBuckets, registers }),
    partitionStalled: new Gauge({
      name: 'sluice_worker_partition_stalled',
      help: '1 while messages wait on a partition this worker owns and its committed offset has not moved for STALL_SECONDS, else 0.',
      labelNames: ['topic', 'partition'] as const,
      registers,
      collect() {
        // Rebuilt at each scrape, so a partition that moved to another worker disappears from here.
        this.reset();
        for (const p of partitions()) this.set({ topic: p.topic, partition: String(p.partition) }, p.stalled ? 1 : 0);
      },
    }),
  };
}
