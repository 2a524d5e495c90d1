import { sessionPool } from './session-pool';

/** A call that holds its session until told to finish, recording which session it ran on. */
function heldCall(log: string[], name: string): { call: (session: string) => Promise<string>; finish: () => void } {
  let finish = (): void => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    call: async (session) => {
      log.push(`${name} on ${session}`);
      await done;
      return name;
    },
    finish: () => finish(),
  };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('calls run at once up to the number of sessions, each on a session no other call holds', async () => {
  const run = sessionPool(['s1', 's2']);
  const log: string[] = [];
  const [a, b, c] = [heldCall(log, 'a'), heldCall(log, 'b'), heldCall(log, 'c')];
  const results = [run(a.call), run(b.call), run(c.call)];
  await settle();
  expect(log).toEqual(['a on s2', 'b on s1']);
  b.finish();
  await settle();
  // The third waited for a session, and got the one the finished call gave back.
  expect(log).toEqual(['a on s2', 'b on s1', 'c on s1']);
  a.finish();
  c.finish();
  await expect(Promise.all(results)).resolves.toEqual(['a', 'b', 'c']);
});

test('waiting calls get sessions in the order they asked, and a failed call gives its session back', async () => {
  const run = sessionPool(['only']);
  const log: string[] = [];
  const failing = run(async () => {
    log.push('failing');
    await settle();
    throw new Error('refused');
  });
  const [first, second] = [heldCall(log, 'first'), heldCall(log, 'second')];
  const results = [run(first.call), run(second.call)];
  await expect(failing).rejects.toThrow('refused');
  await settle();
  expect(log).toEqual(['failing', 'first on only']);
  first.finish();
  await settle();
  expect(log).toEqual(['failing', 'first on only', 'second on only']);
  second.finish();
  await expect(Promise.all(results)).resolves.toEqual(['first', 'second']);
});
