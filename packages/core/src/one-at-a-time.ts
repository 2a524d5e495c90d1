/**
 * Runs calls one at a time, in the order they came, each whether or not the one before failed:
 * for a resource that takes one call at a time (an embedded ClickHouse session), or work that is
 * better done in order than interleaved (a batch's steps on the one JavaScript thread).
 */
export function oneAtATime(): <T>(call: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(call: () => Promise<T>): Promise<T> => {
    const result = tail.then(call, call);
    tail = result.catch(() => undefined);
    return result;
  };
}
