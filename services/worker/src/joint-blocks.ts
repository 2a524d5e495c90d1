import type { ConsumerProgressEvent } from '@sluice/core';
import type { InsertBlock } from './insert-blocks';

/**
 * Joins the blocks of the batches handled at the same time into one insert.
 *
 * An insert into events costs about the same fixed amount whatever its size: events and each
 * view make a part of their own. kafkajs hands the batches of one fetch to the handlers together
 * and fetches again only when all are done, so a block per partition made one insert per
 * partition per fetch, one after another, and a small event waited for all of them. The joiner
 * lets each handler run its checks, then holds the blocks until every handler of the same group
 * (one shard: a joint block goes to one place) has either joined or left, and stores them with
 * one call. Which batches meet is a matter of timing; the block log makes any joint block
 * repeatable after a crash (insert-blocks.ts).
 */
export interface BlockJoiner<Part, Outcome> {
  /** Counts a batch in from the moment its handler starts, so that the others wait for it. */
  enter(partition: number): JoinerTicket<Part, Outcome>;
}

export interface JoinerTicket<Part, Outcome> {
  /** Hands the batch's part over; resolves with its outcome once the joint call has stored it. */
  join(part: Part): Promise<Outcome>;
  /** The batch will not join: nothing to insert, inserted alone, or failed. Leaving twice, or after joining, does nothing. */
  leave(): void;
}

export interface BlockJoinerOptions<Part, Outcome> {
  /** Batches join only within a group: the shard their partition is written to. */
  groupOf(partition: number): number;
  /** Stores the parts as one (or, for a single part, as it would alone); an outcome per part, in order. */
  store(parts: readonly Part[]): Promise<readonly Outcome[]>;
}

/** The ticket of a batch that never joins: it was never counted in, so leaving changes nothing. */
export const alone: JoinerTicket<never, never> = {
  join: () => Promise.reject(new Error('A batch handled alone cannot join a block')),
  leave: () => undefined,
};

interface Waiting<Part, Outcome> {
  part: Part;
  resolve(outcome: Outcome): void;
  reject(error: unknown): void;
}

interface Group<Part, Outcome> {
  /** Tickets entered and neither joined nor left, plus those waiting. */
  active: number;
  waiting: Waiting<Part, Outcome>[];
}

export function createBlockJoiner<Part, Outcome>(options: BlockJoinerOptions<Part, Outcome>): BlockJoiner<Part, Outcome> {
  const groups = new Map<number, Group<Part, Outcome>>();

  /** Stores the waiting parts once nobody else of the group can still join them. */
  function flushIfComplete(group: Group<Part, Outcome>): void {
    if (group.waiting.length === 0 || group.waiting.length < group.active) return;
    const parts = group.waiting;
    group.waiting = [];
    group.active -= parts.length;
    options.store(parts.map((waiting) => waiting.part)).then(
      (outcomes) => parts.forEach((waiting, i) => waiting.resolve(outcomes[i] as Outcome)),
      (error: unknown) => parts.forEach((waiting) => waiting.reject(error)),
    );
  }

  return {
    enter(partition) {
      const key = options.groupOf(partition);
      let group = groups.get(key);
      if (group === undefined) groups.set(key, (group = { active: 0, waiting: [] }));
      const own = group;
      own.active++;
      let inside = true;
      return {
        join(part) {
          if (!inside) throw new Error('A batch joined a block after leaving the joiner');
          inside = false;
          return new Promise<Outcome>((resolve, reject) => {
            own.waiting.push({ part, resolve, reject });
            flushIfComplete(own);
          });
        },
        leave() {
          if (!inside) return;
          inside = false;
          own.active--;
          flushIfComplete(own);
        },
      };
    },
  };
}

/**
 * The joint blocks whose rows the block log still keeps, until every one of their blocks is
 * committed: then no attempt can need to repeat them, and the next joint record clears them.
 */
export interface JointCommits {
  /** A joint block recorded and stored: its blocks wait for their commits. */
  stored(blocks: readonly InsertBlock[]): void;
  /**
   * The consumer's progress: a commit past a block's last offset settles that block. A joint block
   * with a partition this worker no longer holds will not see that commit here; it is forgotten,
   * and its rows are left to the log's TTL.
   */
  observe(event: ConsumerProgressEvent): void;
  /** Takes the joint blocks (of those `within` picks by their first block) whose every block is committed, to be cleared once. */
  takeSettled(within: (head: InsertBlock) => boolean): (readonly InsertBlock[])[];
}

export function createJointCommits(): JointCommits {
  let open: { blocks: readonly InsertBlock[]; waiting: Set<InsertBlock> }[] = [];
  const settled: (readonly InsertBlock[])[] = [];
  return {
    stored(blocks) {
      open.push({ blocks, waiting: new Set(blocks) });
    },
    observe(event) {
      if (event.kind === 'assigned') {
        const held = new Set(event.partitions.map(({ topic, partition }) => `${topic}/${partition}`));
        open = open.filter((joint) => [...joint.waiting].every((block) => held.has(`${block.topic}/${block.partition}`)));
        return;
      }
      if (event.kind !== 'committed') return;
      for (const joint of open) {
        for (const block of joint.waiting) {
          if (block.topic === event.topic && block.partition === event.partition && BigInt(event.offset) > BigInt(block.lastOffset)) joint.waiting.delete(block);
        }
        if (joint.waiting.size === 0) settled.push(joint.blocks);
      }
      open = open.filter((joint) => joint.waiting.size > 0);
    },
    takeSettled(within) {
      const taken = settled.filter((blocks) => blocks[0] !== undefined && within(blocks[0]));
      for (const blocks of taken) settled.splice(settled.indexOf(blocks), 1);
      return taken;
    },
  };
}
