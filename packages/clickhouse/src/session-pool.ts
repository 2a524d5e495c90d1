/**
 * Runs each call on a free session, first come first served, waiting while every session is busy.
 * A chDB session runs one statement at a time: a statement prefixed with its settings (a block's
 * token) must not interleave with another caller's.
 */
export function sessionPool<S>(sessions: readonly S[]): <T>(call: (session: S) => Promise<T>) => Promise<T> {
  const free = [...sessions];
  const waiting: ((session: S) => void)[] = [];
  const release = (session: S): void => {
    const next = waiting.shift();
    if (next === undefined) free.push(session);
    else next(session);
  };
  return async <T>(call: (session: S) => Promise<T>): Promise<T> => {
    const session = free.pop() ?? (await new Promise<S>((resolve) => waiting.push(resolve)));
    try {
      return await call(session);
    } finally {
      release(session);
    }
  };
}
