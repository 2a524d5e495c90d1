/**
 * HTTP load for the benchmarks, with node:http and keep-alive connections.
 * - closedLoop: each connection sends its next request as soon as the last one is answered,
 *   which measures the most a server can do.
 * - openLoop: requests start at a fixed rate whatever the answers, which measures latency at a
 *   given load (a closed loop would slow down with the server and hide its queueing).
 */
import { Agent, request } from 'node:http';

export interface LoadRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

export interface Answer {
  status: number;
  body: string;
  /** The Retry-After header, when the answer had one. */
  retryAfter?: string;
  /** No answer within the client's timeout (status 0). */
  timedOut?: boolean;
  /** When the request started and when its answer ended, performance.now() milliseconds. */
  startedAt: number;
  answeredAt: number;
  /** Whether the request opened a connection of its own rather than reusing a kept-alive one. */
  newConnection?: boolean;
  /** Milliseconds until that new connection was established; undefined if it never was. */
  connectMs?: number;
}

export interface LoadResult {
  requests: number;
  /** Answers by status code; 0 counts requests that failed without one. */
  statuses: Map<number, number>;
  latenciesMs: number[];
  bytesSent: number;
  durationMs: number;
}

export function send(agent: Agent, base: URL, next: LoadRequest, timeoutMs?: number): Promise<Answer> {
  const startedAt = performance.now();
  let timedOut = false;
  let connectMs: number | undefined;
  let newConnection: boolean | undefined;
  return new Promise((resolve) => {
    const req = request(
      { agent, host: base.hostname, port: base.port, method: next.method, path: next.path, headers: { ...next.headers, 'content-length': String(next.body.length) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), retryAfter: res.headers['retry-after'], startedAt, answeredAt: performance.now(), newConnection, connectMs }));
        res.on('error', () => resolve({ status: 0, body: '', startedAt, answeredAt: performance.now(), newConnection, connectMs }));
      },
    );
    // A new connection's handshake is part of the latency; timing it apart shows a server's full listen queue (SYNs retried after 1 s, 3 s).
    req.on('socket', (socket) => {
      newConnection = socket.connecting;
      if (socket.connecting) socket.once('connect', () => (connectMs = performance.now() - startedAt));
    });
    req.on('error', (error) => resolve({ status: 0, body: error.message, timedOut, startedAt, answeredAt: performance.now(), newConnection, connectMs }));
    // A deadline from the request's start, waiting for a free connection included (not the socket's idle timeout).
    if (timeoutMs !== undefined) {
      const deadline = setTimeout(() => {
        timedOut = true;
        req.destroy(new Error(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      req.on('close', () => clearTimeout(deadline));
    }
    req.end(next.body);
  });
}

function tally(result: LoadResult, answer: Answer, bytes: number): void {
  result.requests++;
  result.statuses.set(answer.status, (result.statuses.get(answer.status) ?? 0) + 1);
  result.latenciesMs.push(answer.answeredAt - answer.startedAt);
  result.bytesSent += bytes;
}

export interface ClosedLoopOptions {
  url: string;
  connections: number;
  /** Requests during the warm-up are sent but not counted. */
  warmupMs: number;
  durationMs: number;
  /** The i-th request (i counts from 0 across all connections). */
  next(i: number): LoadRequest;
  /** `counted` is false during the warm-up and for answers that came after the end. */
  onAnswer?(answer: Answer, counted: boolean): void;
  onProgress?(elapsedMs: number, totalMs: number): void;
  /** Called once, when the warm-up ends and counting starts. */
  onMeasureStart?(): void;
  /** Ctrl-C: no new requests; the loop throws the abort reason once those in flight are answered. */
  signal?: AbortSignal;
}

export async function closedLoop(options: ClosedLoopOptions): Promise<LoadResult> {
  const base = new URL(options.url);
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const result: LoadResult = { requests: 0, statuses: new Map(), latenciesMs: [], bytesSent: 0, durationMs: options.durationMs };
  const started = performance.now();
  const measureFrom = started + options.warmupMs;
  const end = measureFrom + options.durationMs;
  let counter = 0;
  const progress = setInterval(() => options.onProgress?.(Math.min(performance.now() - started, options.warmupMs + options.durationMs), options.warmupMs + options.durationMs), 500);
  const measureStart = setTimeout(() => options.onMeasureStart?.(), options.warmupMs);
  const connection = async (): Promise<void> => {
    while (performance.now() < end && !options.signal?.aborted) {
      const i = counter++;
      const next = options.next(i);
      const answer = await send(agent, base, next);
      const counted = answer.startedAt >= measureFrom && answer.answeredAt <= end;
      options.onAnswer?.(answer, counted);
      if (counted) tally(result, answer, next.body.length);
    }
  };
  try {
    await Promise.all(Array.from({ length: options.connections }, connection));
    options.signal?.throwIfAborted();
  } finally {
    clearInterval(progress);
    clearTimeout(measureStart);
    options.onProgress?.(1, 1);
    agent.destroy();
  }
  return result;
}

export interface OpenLoopOptions {
  url: string;
  connections: number;
  ratePerSecond: number;
  durationMs: number;
  /** A client timeout: a request unanswered this long is abandoned (its answer has timedOut). */
  timeoutMs?: number;
  next(i: number): LoadRequest;
  onAnswer?(answer: Answer, i: number): void;
  onProgress?(elapsedMs: number, totalMs: number): void;
  signal?: AbortSignal;
}

/**
 * Starts request i at start + i / rate. Sends wait for a free connection (up to `connections` in
 * flight); latency counts from the scheduled start, so time spent waiting for one is counted too.
 */
export async function openLoop(options: OpenLoopOptions): Promise<LoadResult & { late: number }> {
  const base = new URL(options.url);
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const result: LoadResult & { late: number } = { requests: 0, statuses: new Map(), latenciesMs: [], bytesSent: 0, durationMs: options.durationMs, late: 0 };
  const started = performance.now();
  const total = Math.floor((options.ratePerSecond * options.durationMs) / 1000);
  const inFlight = new Set<Promise<void>>();
  const progress = setInterval(() => options.onProgress?.(Math.min(performance.now() - started, options.durationMs), options.durationMs), 500);
  try {
    for (let i = 0; i < total && !options.signal?.aborted; i++) {
      const scheduled = started + (i * 1000) / options.ratePerSecond;
      const wait = scheduled - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      else if (wait < -100) result.late++;
      const next = options.next(i);
      const pending = send(agent, base, next, options.timeoutMs).then((answer) => {
        options.onAnswer?.(answer, i);
        tally(result, { ...answer, startedAt: scheduled }, next.body.length);
      });
      inFlight.add(pending);
      void pending.finally(() => inFlight.delete(pending));
    }
    await Promise.all(inFlight);
    options.signal?.throwIfAborted();
  } finally {
    clearInterval(progress);
    options.onProgress?.(1, 1);
    agent.destroy();
  }
  return result;
}

/** The p-th percentile (0..100) of unsorted values, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/** "204 x 1000, 503 x 2" */
export function describeStatuses(statuses: ReadonlyMap<number, number>): string {
  return [...statuses.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([status, count]) => `${status === 0 ? 'no answer' : status} x ${count.toLocaleString('en-US')}`)
    .join(', ');
}
