import type { ConsumerProgressListener } from '@sluice/core';

/** A partition this worker owns, and whether it is stalled right now. */
export interface PartitionHealth {
  topic: string;
  partition: number;
  stalled: boolean;
}

/** A partition with messages waiting whose committed offset has not moved for the stall time, as /healthz names it. */
export interface StalledPartition {
  topic: string;
  partition: number;
  /** The next offset to handle: the last commit, or where this worker started reading the partition. */
  committed_offset: string;
  /** Messages after committed_offset, as of the last batch the handler was given. */
  lag: number;
  /** How long messages have been waiting without the committed offset moving. */
  stalled_seconds: number;
  /** The last failure of the handler on this partition since its offset last moved, or null. */
  last_error: string | null;
}

export interface PartitionProgress {
  /** The consumer's progress listener; a plain function, so it can be handed over as it is. */
  record: ConsumerProgressListener;
  stalled(): StalledPartition[];
  partitions(): PartitionHealth[];
}

interface PartitionState {
  topic: string;
  partition: number;
  /** Unknown until the first batch or commit after the partition was assigned. */
  committed?: bigint;
  /** From the last batch; unknown until the first. */
  highWatermark?: bigint;
  /** When the partition last had nothing waiting, or its committed offset last moved. */
  waitingSince: number;
  lastError?: string;
}

/**
 * Tells a stalled partition from an idle or a busy one, from what the consumer reports. A
 * partition is stalled when messages wait after its committed offset and that offset has not
 * moved for stallMs. While the handler is stuck inside one batch no news arrives at all, and
 * while it keeps failing the same batch comes back with no commit; in both cases the judgement
 * rests on the last known high watermark and the time of the last commit.
 */
export function createPartitionProgress(options: { stallMs: number; now?: () => number }): PartitionProgress {
  const now = options.now ?? Date.now;
  const owned = new Map<string, PartitionState>();
  const keyOf = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

  const lagOf = (state: PartitionState): bigint =>
    state.committed === undefined || state.highWatermark === undefined || state.highWatermark <= state.committed ? 0n : state.highWatermark - state.committed;

  function isStalled(state: PartitionState, at: number): boolean {
    return lagOf(state) > 0n && at - state.waitingSince >= options.stallMs;
  }

  return {
    record(event) {
      if (event.kind === 'assigned') {
        const previous = new Map(owned);
        owned.clear();
        for (const { topic, partition } of event.partitions) {
          const key = keyOf(topic, partition);
          // A partition kept through a rebalance (or a consumer restart) keeps its clock, so a batch
          // that fails again and again is not forgiven each time the consumer rejoins.
          owned.set(key, previous.get(key) ?? { topic, partition, waitingSince: now() });
        }
        return;
      }
      // News about a partition this worker no longer owns (a batch that ended after a rebalance) counts for nothing.
      const state = owned.get(keyOf(event.topic, event.partition));
      if (state === undefined) return;
      if (event.kind === 'fetched') {
        const wasWaiting = lagOf(state) > 0n;
        state.committed ??= BigInt(event.firstOffset);
        state.highWatermark = BigInt(event.highWatermark);
        // An idle partition that gets new messages starts waiting now, not when it was last committed.
        if (!wasWaiting) state.waitingSince = now();
      } else if (event.kind === 'committed') {
        const offset = BigInt(event.offset);
        if (state.committed !== undefined && offset <= state.committed) return;
        state.committed = offset;
        state.waitingSince = now();
        delete state.lastError;
      } else {
        state.lastError = event.error;
      }
    },

    stalled() {
      const at = now();
      return [...owned.values()]
        .filter((state) => isStalled(state, at))
        .map((state) => ({
          topic: state.topic,
          partition: state.partition,
          committed_offset: String(state.committed),
          lag: Number(lagOf(state)),
          stalled_seconds: Math.floor((at - state.waitingSince) / 1000),
          last_error: state.lastError ?? null,
        }));
    },

    partitions() {
      const at = now();
      return [...owned.values()].map((state) => ({ topic: state.topic, partition: state.partition, stalled: isStalled(state, at) }));
    },
  };
}
