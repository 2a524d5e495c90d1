import { createBlockJoiner, createJointCommits } from './joint-blocks';

/** A joiner whose store records the parts of each call and answers each part with its own name. */
function recordingJoiner(groupOf: (partition: number) => number = () => 0) {
  const calls: string[][] = [];
  let failWith: Error | undefined;
  const joiner = createBlockJoiner<string, string>({
    groupOf,
    store: async (parts) => {
      calls.push([...parts]);
      if (failWith !== undefined) throw failWith;
      return parts.map((part) => `stored ${part}`);
    },
  });
  return { joiner, calls, fail: (error: Error) => void (failWith = error) };
}

test('the parts wait until every batch that entered has joined or left, then go in one call, each answered with its own outcome', async () => {
  const { joiner, calls } = recordingJoiner();
  const [a, b, c] = [joiner.enter(0), joiner.enter(1), joiner.enter(2)];
  const joinedA = a.join('a');
  const joinedC = c.join('c');
  await Promise.resolve();
  expect(calls).toEqual([]);
  b.leave();
  expect(await Promise.all([joinedA, joinedC])).toEqual(['stored a', 'stored c']);
  expect(calls).toEqual([['a', 'c']]);
});

test('a batch alone is stored alone at once; leaving twice or after joining changes nothing', async () => {
  const { joiner, calls } = recordingJoiner();
  const a = joiner.enter(0);
  expect(await a.join('a')).toBe('stored a');
  a.leave();
  const b = joiner.enter(1);
  b.leave();
  b.leave();
  const c = joiner.enter(1);
  expect(await c.join('c')).toBe('stored c');
  expect(calls).toEqual([['a'], ['c']]);
  expect(() => b.join('b')).toThrow('after leaving');
});

test('groups are joined apart: one waits only for its own batches', async () => {
  const { joiner, calls } = recordingJoiner((partition) => partition % 2);
  const [even, odd, evenToo] = [joiner.enter(0), joiner.enter(1), joiner.enter(2)];
  const joined = [even.join('p0'), evenToo.join('p2')];
  expect(await Promise.all(joined)).toEqual(['stored p0', 'stored p2']);
  expect(calls).toEqual([['p0', 'p2']]);
  expect(await odd.join('p1')).toBe('stored p1');
});

test('a batch that enters while a joint call runs waits for the next one', async () => {
  const { joiner, calls } = recordingJoiner();
  const first = joiner.enter(0).join('a');
  const late = joiner.enter(1);
  expect(await first).toBe('stored a');
  expect(await late.join('b')).toBe('stored b');
  expect(calls).toEqual([['a'], ['b']]);
});

test('a failed call fails every part in it', async () => {
  const { joiner, fail } = recordingJoiner();
  fail(new Error('ClickHouse is down'));
  const [a, b] = [joiner.enter(0), joiner.enter(1)];
  const results = await Promise.allSettled([a.join('a'), b.join('b')]);
  expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : r.status))).toEqual(['Error: ClickHouse is down', 'Error: ClickHouse is down']);
});

describe('joint commits', () => {
  const block = (partition: number, firstOffset: string, lastOffset: string) => ({ topic: 'events', partition, firstOffset, lastOffset });

  test('a joint block settles once a commit past its last offset has come for each of its blocks, and is taken once', () => {
    const commits = createJointCommits();
    const joint = [block(0, '10', '19'), block(1, '5', '5')];
    commits.stored(joint);
    commits.observe({ kind: 'committed', topic: 'events', partition: 0, offset: '20' });
    commits.observe({ kind: 'committed', topic: 'events', partition: 1, offset: '5' });
    commits.observe({ kind: 'committed', topic: 'other', partition: 1, offset: '6' });
    commits.observe({ kind: 'failed', topic: 'events', partition: 1, error: 'x' });
    expect(commits.takeSettled(() => true)).toEqual([]);
    commits.observe({ kind: 'committed', topic: 'events', partition: 1, offset: '6' });
    expect(commits.takeSettled(() => true)).toEqual([joint]);
    expect(commits.takeSettled(() => true)).toEqual([]);
  });

  test('a joint block with a partition the worker no longer holds is forgotten, never settled by a later commit here', () => {
    const commits = createJointCommits();
    const [kept, lost] = [[block(0, '1', '1'), block(2, '1', '1')], [block(1, '1', '1'), block(3, '1', '1')]];
    commits.stored(kept);
    commits.stored(lost);
    commits.observe({ kind: 'assigned', partitions: [0, 1, 2].map((partition) => ({ topic: 'events', partition })) });
    for (const partition of [0, 1, 2, 3]) commits.observe({ kind: 'committed', topic: 'events', partition, offset: '2' });
    expect(commits.takeSettled(() => true)).toEqual([kept]);
  });

  test('settled joint blocks are taken by the group of their first block', () => {
    const commits = createJointCommits();
    const [even, odd] = [[block(0, '1', '1'), block(2, '1', '1')], [block(1, '1', '1'), block(3, '1', '1')]];
    commits.stored(even);
    commits.stored(odd);
    for (const partition of [0, 1, 2, 3]) commits.observe({ kind: 'committed', topic: 'events', partition, offset: '2' });
    expect(commits.takeSettled((head) => head.partition % 2 === 1)).toEqual([odd]);
    expect(commits.takeSettled(() => true)).toEqual([even]);
  });
});
