/**
 * Run by the worker scenario as a process of its own, as the worker is: ClickHouse's Kafka table
 * engine in chDB, consuming the scenario's topic into the same `events` table (same migrations,
 * same materialized views) as the worker's. A process of its own because chDB's Kafka engine runs
 * once per process (a second one, after the first chDB was closed, fails with "Shutdown was
 * called"), and so that its memory and CPU are measured as the worker's are.
 *
 * Protocol: argv[2] is an EngineRun as JSON. The process reports on stdout, one line each,
 * `engine <EngineReport as JSON>`, and reads commands on stdin, one a line: `go` (start consuming),
 * `stop` (stop waiting; also when stdin closes) and `rows <dataset id>` (report the insert id and
 * stored_at of each of the dataset's rows in events).
 */
import { createInterface } from 'node:readline';
import { applyMigrations, openClickHouse } from '@sluice/clickhouse';
import { createLogger, errorMessage, sleep } from '@sluice/core';

export interface EngineSettings {
  /** kafka_num_consumers; above 1, each consumer gets its own thread (kafka_thread_per_consumer). */
  consumers: number;
  /** kafka_max_block_size and kafka_poll_max_batch_size. */
  blockSize: number;
  /** kafka_flush_interval_ms: a block is inserted after this long even if not full. */
  flushIntervalMs: number;
}

export interface EngineRun extends EngineSettings {
  dataPath: string;
  database: string;
  brokers: string[];
  topic: string;
  group: string;
  /** Messages in the topic: consumption is done when events holds this many rows. */
  messages: number;
  pollMs: number;
}

export interface EngineResult {
  version: string;
  /** Rows of events, distinct (dataset_id, insert_id) and distinct (kafka_partition, kafka_offset) among them. */
  rows: number;
  distinctIds: number;
  offsets: number;
  dedupKeys: number;
  /** system.kafka_consumers when consumption ended: messages read, commits, errors. */
  consumers: Record<string, unknown>[];
}

export type EngineReport =
  | { ready: { version: string; settingsSql: string } }
  /** Rows in events so far, from the start of consumption. */
  | { stored: number; seconds: number }
  /** Every message is stored: seconds from the start of consumption, and to the first rows. */
  | { finished: { seconds: number; firstSeconds: number | null } }
  | { result: EngineResult }
  | { rows: { dataset: string; rows: StoredRow[] } }
  | { error: string };

export type EngineCommand = 'go' | 'stop' | `rows ${string}`;

/** A row of events: its insert id, and when ClickHouse stored it (Unix milliseconds). */
export interface StoredRow {
  insert_id: string;
  stored: number;
}

export function engineSettingsSql(run: Pick<EngineRun, 'brokers' | 'topic' | 'group'> & EngineSettings): string {
  return [
    `kafka_broker_list = '${run.brokers.join(',')}'`,
    `kafka_topic_list = '${run.topic}'`,
    `kafka_group_name = '${run.group}'`,
    `kafka_format = 'JSONEachRow'`,
    `kafka_num_consumers = ${run.consumers}`,
    `kafka_thread_per_consumer = ${run.consumers > 1 ? 1 : 0}`,
    `kafka_max_block_size = ${run.blockSize}`,
    `kafka_poll_max_batch_size = ${run.blockSize}`,
    `kafka_flush_interval_ms = ${run.flushIntervalMs}`,
    'input_format_skip_unknown_fields = 1',
    // properties and raw are JSON values that the events table keeps as JSON text.
    'input_format_json_read_objects_as_strings = 1',
    'input_format_json_read_arrays_as_strings = 1',
  ].join(', ');
}

/** The envelope's top-level fields, as the Kafka table reads them from each message's JSON. */
const queueColumns = `
  schema_version UInt8, event_id String, insert_id String, dataset_id String, source String, event_type String, event_name String,
  occurred_at Int64, received_at Int64, user_id Nullable(String), organization_id Nullable(String), request_id Nullable(String),
  request_type Nullable(String), position Nullable(Int32), query Nullable(String), page Nullable(String), items Array(String),
  is_conversion Nullable(Bool), revenue Nullable(Float64), value Nullable(String), value_type Nullable(String), influence Nullable(String),
  quality_score Nullable(Float32), geo Tuple(lat Nullable(Float64), long Nullable(Float64), region Nullable(String)),
  sample_rate Nullable(Float64), force_sample Nullable(Bool), properties Nullable(String), raw Nullable(String)`;

/**
 * The envelope mapped onto the events columns as services/worker/src/event-row.ts maps it: epoch
 * milliseconds to DateTime64(3), geo flattened, properties and raw as JSON text, revenue to 6
 * decimals, the Kafka coordinates from the engine's virtual columns.
 */
const viewSelect = `
  SELECT
    toUUID(event_id) AS event_id, insert_id, dataset_id, source, event_type, event_name,
    fromUnixTimestamp64Milli(occurred_at, 'UTC') AS occurred_at, fromUnixTimestamp64Milli(received_at, 'UTC') AS received_at,
    user_id, organization_id, request_id, request_type, position, query, page, items, is_conversion,
    CAST(round(revenue, 6) AS Nullable(Decimal(18, 6))) AS revenue, value, value_type, influence, quality_score,
    geo.lat AS geo_lat, geo.long AS geo_long, geo.region AS geo_region,
    coalesce(sample_rate, 1) AS sample_rate, coalesce(force_sample, false) AS force_sample,
    coalesce(properties, '{}') AS properties, coalesce(raw, 'null') AS raw, schema_version,
    _topic AS kafka_topic, _partition AS kafka_partition, _offset AS kafka_offset
  FROM events_queue`;

function report(value: EngineReport): void {
  process.stdout.write(`engine ${JSON.stringify(value)}\n`);
}

async function main(): Promise<void> {
  const run = JSON.parse(process.argv[2] ?? '') as EngineRun;
  let go: () => void = () => undefined;
  const started = new Promise<void>((resolve) => (go = resolve));
  let stopRequested = false;
  const input = createInterface({ input: process.stdin });
  const logger = createLogger({ level: 'warn' });
  const clickhouse = await openClickHouse({ dataPath: run.dataPath, database: run.database, logger });
  input.on('line', (line) => {
    if (line === 'go') go();
    if (line === 'stop') stopRequested = true;
    if (line.startsWith('rows ')) {
      const dataset = line.slice('rows '.length);
      clickhouse
        .queryRows<StoredRow>('SELECT insert_id, toUnixTimestamp64Milli(stored_at) AS stored FROM events WHERE dataset_id = {dataset:String}', { dataset })
        .then(
          (rows) => report({ rows: { dataset, rows } }),
          (error: unknown) => report({ error: errorMessage(error) }),
        );
    }
  });
  input.on('close', () => {
    stopRequested = true;
    go();
  });

  try {
    await applyMigrations(clickhouse, logger);
    const [about] = await clickhouse.queryRows<{ version: string }>('SELECT version() AS version');
    const settingsSql = engineSettingsSql(run);
    await clickhouse.command(`CREATE TABLE events_queue (${queueColumns}) ENGINE = Kafka SETTINGS ${settingsSql}`);
    report({ ready: { version: about?.version ?? 'unknown', settingsSql } });
    await started;

    if (!stopRequested) {
      const start = performance.now();
      // The engine starts consuming once a materialized view reads from its table.
      await clickhouse.command(`CREATE MATERIALIZED VIEW events_queue_mv TO events AS ${viewSelect}`);
      let firstSeconds: number | null = null;
      while (!stopRequested) {
        const [row] = await clickhouse.queryRows<{ n: number }>('SELECT count() AS n FROM events');
        const count = row?.n ?? 0;
        const seconds = (performance.now() - start) / 1000;
        if (count > 0 && firstSeconds === null) firstSeconds = seconds;
        report({ stored: count, seconds });
        if (count >= run.messages) {
          report({ finished: { seconds, firstSeconds } });
          break;
        }
        await sleep(run.pollMs);
      }
    }

    const consumers = await clickhouse
      .queryRows<Record<string, unknown>>(
        'SELECT consumer_id, num_messages_read, num_commits, num_rebalance_assignments, exceptions.text AS errors FROM system.kafka_consumers WHERE database = currentDatabase()',
      )
      .catch((error: unknown) => [{ error: errorMessage(error) }]);
    // The engine consumes in background threads until its tables are gone.
    await clickhouse.command('DROP VIEW IF EXISTS events_queue_mv');
    await clickhouse.command('DROP TABLE IF EXISTS events_queue');
    const [stored] = await clickhouse.queryRows<{ rows: number; ids: number; offsets: number }>(
      'SELECT count() AS rows, uniqExact(dataset_id, insert_id) AS ids, uniqExact(kafka_partition, kafka_offset) AS offsets FROM events',
    );
    const [keys] = await clickhouse.queryRows<{ n: number }>('SELECT count() AS n FROM dedup_keys');
    report({
      result: { version: about?.version ?? 'unknown', rows: stored?.rows ?? 0, distinctIds: stored?.ids ?? 0, offsets: stored?.offsets ?? 0, dedupKeys: keys?.n ?? 0, consumers },
    });
  } finally {
    input.close();
    await clickhouse.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    report({ error: errorMessage(error) });
    process.exit(1);
  },
);
