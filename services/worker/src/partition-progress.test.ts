import { createPartitionProgress } from './partition-progress';

const stallMs = 60_000;

/** A tracker on a clock the test moves, owning events[0..3]. */
function tracker() {
  let clock = 1_000_000;
  const progress = createPartitionProgress({ stallMs, now: () => clock });
  progress.record({ kind: 'assigned', partitions: [0, 1, 2, 3].map((partition) => ({ topic: 'events', partition })) });
  return {
    progress,
    advance: (ms: number) => void (clock += ms),
    fetched: (partition: number, firstOffset: number, highWatermark: number) =>
      progress.record({ kind: 'fetched', topic: 'events', partition, firstOffset: String(firstOffset), highWatermark: String(highWatermark) }),
    committed: (partition: number, offset: number) => progress.record({ kind: 'committed', topic: 'events', partition, offset: String(offset) }),
    failed: (partition: number, error: string) => progress.record({ kind: 'failed', topic: 'events', partition, error }),
  };
}

test('messages waiting and no commit for the stall time: stalled, naming the partition, its offset, lag and last error', () => {
  const t = tracker();
  t.fetched(2, 1234, 1251);
  t.advance(stallMs - 1);
  expect(t.progress.stalled()).toEqual([]);
  // The handler keeps failing and kafkajs keeps delivering the same batch: batches, no commit.
  t.failed(2, 'ClickHouse refused the insert: Cannot parse input');
  t.fetched(2, 1234, 1251);
  t.advance(15_001);
  expect(t.progress.stalled()).toEqual([
    { topic: 'events', partition: 2, committed_offset: '1234', lag: 17, stalled_seconds: 75, last_error: 'ClickHouse refused the insert: Cannot parse input' },
  ]);
  expect(t.progress.partitions()).toEqual([0, 1, 2, 3].map((partition) => ({ topic: 'events', partition, stalled: partition === 2 })));
});

test('a handler stuck inside one batch (no news at all) is judged from the last high watermark and the last commit', () => {
  const t = tracker();
  t.fetched(0, 0, 100);
  t.committed(0, 100);
  t.fetched(0, 100, 180);
  t.advance(stallMs);
  expect(t.progress.stalled()).toEqual([{ topic: 'events', partition: 0, committed_offset: '100', lag: 80, stalled_seconds: 60, last_error: null }]);
});

test('a committed offset that moves is progress: not stalled, and the clock and the error start again', () => {
  const t = tracker();
  t.fetched(1, 0, 5_000);
  t.failed(1, 'timeout');
  for (let offset = 500; offset <= 2_500; offset += 500) {
    t.advance(stallMs - 1);
    t.committed(1, offset);
    t.fetched(1, offset, 5_000);
  }
  expect(t.progress.stalled()).toEqual([]);
  // Slow progress becomes a stall once the offset stops moving, and the old error is not blamed.
  t.advance(stallMs);
  expect(t.progress.stalled()).toEqual([{ topic: 'events', partition: 1, committed_offset: '2500', lag: 2_500, stalled_seconds: 60, last_error: null }]);
});

test('a commit that does not move the offset is not progress', () => {
  const t = tracker();
  t.fetched(3, 10, 20);
  t.advance(stallMs / 2);
  t.committed(3, 10);
  t.advance(stallMs / 2);
  expect(t.progress.stalled().map((p) => p.partition)).toEqual([3]);
});

test('an idle partition with no lag is never stalled, and starts waiting only when new messages reach it', () => {
  const t = tracker();
  t.fetched(0, 0, 10);
  t.committed(0, 10);
  t.advance(10 * stallMs);
  expect(t.progress.stalled()).toEqual([]);
  // New messages after a long quiet time: the wait is counted from their arrival, not the last commit.
  t.fetched(0, 10, 12);
  t.advance(stallMs - 1);
  expect(t.progress.stalled()).toEqual([]);
  t.advance(1);
  expect(t.progress.stalled().map((p) => [p.partition, p.lag])).toEqual([[0, 2]]);
});

test('a partition assigned but never fetched has no known lag and is not stalled', () => {
  const t = tracker();
  t.advance(10 * stallMs);
  expect(t.progress.stalled()).toEqual([]);
  expect(t.progress.partitions().every((p) => !p.stalled)).toBe(true);
});

test('a partition revoked by a rebalance is forgotten; one kept keeps its clock through the rejoin', () => {
  const t = tracker();
  t.fetched(0, 0, 10);
  t.fetched(1, 0, 10);
  t.advance(stallMs / 2);
  // The consumer rejoins (a rebalance, or a restart after the handler threw): partition 1 moved away.
  t.progress.record({ kind: 'assigned', partitions: [{ topic: 'events', partition: 0 }] });
  t.advance(stallMs / 2);
  expect(t.progress.stalled().map((p) => p.partition)).toEqual([0]);
  expect(t.progress.partitions()).toEqual([{ topic: 'events', partition: 0, stalled: true }]);
  // A batch the consumer was still finishing for the revoked partition counts for nothing.
  t.fetched(1, 0, 10);
  t.failed(1, 'stale');
  expect(t.progress.partitions().map((p) => p.partition)).toEqual([0]);
  // Given back later, it starts afresh.
  t.progress.record({ kind: 'assigned', partitions: [0, 1].map((partition) => ({ topic: 'events', partition })) });
  t.fetched(1, 0, 10);
  expect(t.progress.stalled().map((p) => p.partition)).toEqual([0]);
});
