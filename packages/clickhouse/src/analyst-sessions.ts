import { randomUUID } from 'node:crypto';
import { Session, type ChdbResult } from 'chdb';
import { SluiceError, sleep } from '@sluice/core';

export interface AnalystSessionsOptions {
  /** Analyst queries that run at once, each on a session of its own. */
  maxQueries: number;
  /** How long a request waits for a session when all are busy, before it is refused. */
  queueWaitMs: number;
}

/** The worker's CLICKHOUSE_HTTP_MAX_QUERIES and CLICKHOUSE_HTTP_QUEUE_WAIT_MS, unless set. */
export const analystSessionDefaults: AnalystSessionsOptions = { maxQueries: 2, queueWaitMs: 5_000 };

/** A query on the session lent to one request: stopped if the request is abandoned. */
export type AnalystQuery = (sql: string, format: string) => Promise<ChdbResult>;

export interface AnalystSessions {
  /**
   * `work` with a session to itself. Waits for one when all are busy; past the wait (or when the
   * queue is full) it is refused with ClickHouse's TOO_MANY_SIMULTANEOUS_QUERIES. Once `abandoned`
   * fires, the query running on the session is killed; the session is lent again only when its
   * query has ended.
   */
  run<T>(abandoned: AbortSignal, work: (query: AnalystQuery) => Promise<T>): Promise<T>;
  /** Resolves once every session is back (abandon the requests first), then closes them. */
  close(): Promise<void>;
}

/** Requests waiting for a session, at most: a dashboard sends its panels' queries together. */
const queueLimit = 64;
/** How often a kill is sent again while the killed query has not ended. */
const killRetryMs = 100;

/**
 * The analysts' chDB sessions on the worker's data directory. Each runs one request at a time, so a
 * slow query holds one session and not the others.
 *
 * chDB gives no way to interrupt a query through its API: an aborted queryAsync rejects while the
 * computation goes on, and a stream's cancel() waits for the chunk in progress, which for a GROUP BY
 * is the whole query. KILL QUERY ... ASYNC from another session of the process does stop it, in
 * 20-300 ms on a 2-core machine. Every session carries a log_comment of its own, which
 * system.processes lists among a query's settings, so a kill names the query of one session and no
 * other (the worker's own queries carry none). A killed query stays listed there until its session
 * runs another, so KILL QUERY ... SYNC waits forever.
 *
 * `setUp` fixes a new session's settings and ends with `readonly = 1`.
 */
export function openAnalystSessions(dataPath: string, options: AnalystSessionsOptions, setUp: (session: Session) => void): AnalystSessions {
  const opened: Session[] = [];
  const idle: Array<{ session: Session; tag: string }> = [];
  let killer: Session;
  try {
    killer = new Session(dataPath);
    opened.push(killer);
    for (let index = 0; index < options.maxQueries; index++) {
      const session = new Session(dataPath);
      opened.push(session);
      const tag = `sluice-analyst-${randomUUID()}`;
      session.query(`SET log_comment = '${tag}'`);
      setUp(session);
      idle.push({ session, tag });
    }
  } catch (error) {
    for (const session of opened) session.close();
    throw error;
  }
  type Lent = (typeof idle)[number];
  const waiting: Array<(lent: Lent) => void> = [];
  let allBack: (() => void) | undefined;

  function tooMany(): Error {
    return new Error(`Code: 202. DB::Exception: Too many simultaneous queries. Maximum: ${options.maxQueries}. (TOO_MANY_SIMULTANEOUS_QUERIES)`);
  }

  function borrow(abandoned: AbortSignal): Promise<Lent> {
    if (abandoned.aborted) return Promise.reject(gone());
    const free = idle.pop();
    if (free !== undefined) return Promise.resolve(free);
    if (waiting.length >= queueLimit) return Promise.reject(tooMany());
    return new Promise<Lent>((resolve, reject) => {
      const stopWaiting = (error: Error): void => {
        waiting.splice(waiting.indexOf(take), 1);
        clearTimeout(timer);
        reject(error);
      };
      const onAbandon = (): void => stopWaiting(gone());
      const timer = setTimeout(() => {
        abandoned.removeEventListener('abort', onAbandon);
        stopWaiting(tooMany());
      }, options.queueWaitMs);
      const take = (lent: Lent): void => {
        clearTimeout(timer);
        abandoned.removeEventListener('abort', onAbandon);
        resolve(lent);
      };
      abandoned.addEventListener('abort', onAbandon, { once: true });
      waiting.push(take);
    });
  }

  function giveBack(lent: Lent): void {
    const next = waiting.shift();
    if (next !== undefined) return next(lent);
    idle.push(lent);
    if (idle.length === options.maxQueries) allBack?.();
  }

  /** Kills the session's query until it has ended: a kill sent before chDB lists the query finds nothing. */
  async function kill(tag: string, running: Promise<unknown>): Promise<void> {
    let ended = false;
    const end = running.then(
      () => (ended = true),
      () => (ended = true),
    );
    while (!ended) {
      await killer.queryAsync(`KILL QUERY WHERE Settings['log_comment'] = '${tag}' ASYNC`, { format: 'TSV' }).catch(() => undefined);
      await Promise.race([end, sleep(killRetryMs)]);
    }
  }

  return {
    async run(abandoned, work) {
      const lent = await borrow(abandoned);
      const kills: Array<Promise<void>> = [];
      let failed = false;
      const query: AnalystQuery = async (sql, format) => {
        if (abandoned.aborted) throw gone();
        const running = lent.session.queryAsync(sql, { format });
        const onAbandon = (): void => void kills.push(kill(lent.tag, running));
        abandoned.addEventListener('abort', onAbandon, { once: true });
        try {
          return await running;
        } catch (error) {
          failed = true;
          throw error;
        } finally {
          abandoned.removeEventListener('abort', onAbandon);
        }
      };
      try {
        return await work(query);
      } finally {
        // No kill may still be on its way once the session serves another request.
        await Promise.all(kills);
        // A query that failed (killed, past a limit) keeps its memory, and its line in
        // system.processes, until its session runs another: 2.3 GB stayed held, then went within 4 s.
        if (failed) await lent.session.queryAsync('SELECT 1', { format: 'TSV' }).catch(() => undefined);
        giveBack(lent);
      }
    },
    async close() {
      if (idle.length < options.maxQueries) await new Promise<void>((resolve) => (allBack = resolve));
      for (const session of opened) session.close();
    },
  };
}

/** What a request abandoned by its client gets; nobody reads it. */
function gone(): Error {
  return new Error('Code: 394. DB::Exception: Query was cancelled: the client disconnected. (QUERY_WAS_CANCELLED)');
}

/**
 * A running chDB query holds one of libuv's threads until it ends (UV_THREADPOOL_SIZE, 4 by
 * default), and the worker's inserts need them too: with as many analyst queries running as there
 * are threads, inserts stopped until one ended. Besides `maxQueries`, a thread stays for each of
 * the worker's two sessions: its block inserts, and its other statements (key lookups). libuv has read the variable before the worker's code runs (tsx's
 * loader already uses the threads), so it can only be checked, not raised, here.
 */
export function checkThreadsForAnalysts(maxQueries: number, uvThreadpoolSize: string | undefined): void {
  // As libuv reads it: a number, at least 1, at most 1024.
  const threads = uvThreadpoolSize === undefined ? 4 : Math.min(1024, Math.max(1, Number.parseInt(uvThreadpoolSize, 10) || 1));
  const needed = maxQueries + 2;
  if (threads < needed) {
    throw new SluiceError(
      'INVALID_CONFIG',
      `CLICKHOUSE_HTTP_MAX_QUERIES=${maxQueries} needs UV_THREADPOOL_SIZE of at least ${needed} in the worker's environment (it is ${threads}): each running analyst query holds one of libuv's threads, and the worker's inserts need theirs`,
    );
  }
}
