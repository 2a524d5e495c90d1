import { errorMessage, type Logger } from '@sluice/core';
import { isRefusalOfRows, maxPartitionsPerInsert, refusedRow } from '@sluice/clickhouse';
import type { EventRow } from './event-row';

/** A row on its way into events, with whatever the caller needs to dead-letter it. */
export interface PendingRow<Origin> {
  row: EventRow;
  origin: Origin;
}

export interface RefusedRow<Origin> {
  origin: Origin;
  /** ClickHouse's own error, as it refused the row. */
  reason: string;
}

export interface BlockStoreDeps {
  /** One tokened insert into events, retried while ClickHouse cannot take it; throws what it refuses. */
  insert(rows: readonly EventRow[], token: string): Promise<void>;
  /**
   * Tells the consumer group the worker is alive. Isolating the refused rows of a large block takes
   * many inserts, for longer than the group waits for a silent member, which would move the
   * partition mid-block; so each refusal heartbeats before the parts are tried.
   */
  heartbeat?: () => Promise<void>;
  logger: Logger;
}

/** The events partition (toYYYYMM(occurred_at), UTC) a row lands in. */
function monthOf(occurredAt: number): number {
  const time = new Date(occurredAt);
  return time.getUTCFullYear() * 100 + time.getUTCMonth() + 1;
}

/**
 * Cuts rows, in order, into runs that each span at most maxPartitions months, so that no insert
 * writes to more partitions than ClickHouse allows. Every run is as long as it can be.
 */
export function partitionRuns<T extends { row: Pick<EventRow, 'occurred_at'> }>(rows: readonly T[], maxPartitions: number): T[][] {
  const runs: T[][] = [];
  let current: T[] = [];
  let months = new Set<number>();
  for (const pending of rows) {
    const month = monthOf(pending.row.occurred_at);
    if (!months.has(month) && months.size === maxPartitions) {
      runs.push(current);
      current = [];
      months = new Set();
    }
    months.add(month);
    current.push(pending);
  }
  if (current.length > 0) runs.push(current);
  return runs;
}

/**
 * Stores a block's rows effectively once, and never lets one row hold the rest back.
 *
 * The block goes in as one insert with its token when it spans few enough months, else as runs
 * with tokens `<token>#<run>`. When ClickHouse refuses an insert because of its rows, the rows are
 * cut at the row it names (or in half), each part inserted under the token `<token>[<from>,<to>)`
 * of its place in the block, down to the single rows ClickHouse refuses, which are returned with
 * its error to be dead-lettered. A poison row costs about three inserts where it names the row.
 * The tokens depend only on the rows, which a block rebuilt after a crash has the same of, so a
 * crash in the middle of isolating stores each good row once: the halves stored before it are
 * recognised by their tokens.
 */
export function createBlockStore(deps: BlockStoreDeps) {
  /**
   * Inserts rows [from, to) of a run under `token`. On a refusal of rows it tries the parts, each
   * under its own token: before the row ClickHouse named, that row alone, and after it; or, when
   * it named none, each half. A row named wrongly simply goes in alone. Returns the rows stored.
   */
  async function insertIsolating<Origin>(run: readonly PendingRow<Origin>[], runToken: string, from: number, to: number, token: string, refused: RefusedRow<Origin>[]): Promise<number> {
    const rows = run.slice(from, to);
    try {
      await deps.insert(
        rows.map((r) => r.row),
        token,
      );
      return rows.length;
    } catch (error) {
      if (!isRefusalOfRows(error)) throw error;
      if (token === runToken) deps.logger.warn('ClickHouse refused a block because of its rows; isolating the rows it refuses', { token, rows: rows.length, error: errorMessage(error).slice(0, 500) });
      const [only] = rows;
      if (rows.length === 1 && only !== undefined) {
        refused.push({ origin: only.origin, reason: errorMessage(error).trim() });
        return 0;
      }
      const named = refusedRow(error);
      const cuts =
        named !== undefined && named >= 1 && named <= rows.length ? [from, from + named - 1, from + named, to] : [from, from + Math.ceil(rows.length / 2), to];
      await deps.heartbeat?.();
      let stored = 0;
      for (let i = 0; i + 1 < cuts.length; i++) {
        const [start, end] = [cuts[i] as number, cuts[i + 1] as number];
        if (end > start) stored += await insertIsolating(run, runToken, start, end, `${runToken}[${start},${end})`, refused);
      }
      return stored;
    }
  }

  return async function storeBlock<Origin>(rows: readonly PendingRow<Origin>[], token: string): Promise<{ stored: number; refused: RefusedRow<Origin>[] }> {
    const runs = partitionRuns(rows, maxPartitionsPerInsert);
    const refused: RefusedRow<Origin>[] = [];
    let stored = 0;
    for (const [index, run] of runs.entries()) {
      const runToken = runs.length === 1 ? token : `${token}#${index}`;
      stored += await insertIsolating(run, runToken, 0, run.length, runToken, refused);
    }
    return { stored, refused };
  }
}
