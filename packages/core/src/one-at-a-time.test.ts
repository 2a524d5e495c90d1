import { oneAtATime } from './one-at-a-time';

test('calls run one at a time, in the order they came, and a failure does not stop the next', async () => {
  const inTurn = oneAtATime();
  const log: string[] = [];
  const call = (name: string, fail = false) => async () => {
    log.push(`${name} starts`);
    await new Promise((resolve) => setTimeout(resolve, 5));
    log.push(`${name} ends`);
    if (fail) throw new Error(name);
    return name;
  };
  const results = await Promise.allSettled([inTurn(call('a')), inTurn(call('b', true)), inTurn(call('c'))]);
  expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual(['a', 'b', 'c']);
  expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  expect(log).toEqual(['a starts', 'a ends', 'b starts', 'b ends', 'c starts', 'c ends']);
});
