import { spawn } from 'node:child_process';
import { createServer, type RequestListener, type Server } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { SluiceError } from '@sluice/core';

/** How long a client may take, and how many may be connected at once. */
export interface ConnectionLimits {
  /** From a request's first byte until its headers are complete; then 408 and the connection is closed. */
  headersTimeoutMs: number;
  /** From a request's first byte until its body is complete. */
  requestTimeoutMs: number;
  /** How long an idle keep-alive connection stays open; above the usual 60 s of load balancers. */
  keepAliveTimeoutMs: number;
  /** Connections beyond this are closed as they arrive; also how many the kernel queues until the gateway accepts them. */
  maxConnections: number;
  /**
   * Listening handles on the gateway's socket, each accepting one connection per event-loop round
   * (listenGateway). 8: with them, no client of bench overload's 2,048 timed out waiting to be
   * accepted; with one, hundreds to thousands did.
   */
  acceptHandles: number;
}

export const defaultConnectionLimits: ConnectionLimits = { headersTimeoutMs: 10_000, requestTimeoutMs: 60_000, keepAliveTimeoutMs: 65_000, maxConnections: 4_096, acceptHandles: 8 };

/** Node checks the two request timeouts on an interval (30 s by default); check often enough that they hold. */
const longestCheckIntervalMs = 1_000;

/** The gateway's node:http server, with bounds on slow and numerous clients that Node's defaults leave loose. */
export function createGatewayServer(app: RequestListener, limits: ConnectionLimits): Server {
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new SluiceError('INVALID_CONFIG', `GATEWAY_HEADERS_TIMEOUT_MS (${limits.headersTimeoutMs}) must not be above GATEWAY_REQUEST_TIMEOUT_MS (${limits.requestTimeoutMs})`);
  }
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(longestCheckIntervalMs, limits.headersTimeoutMs),
    },
    app,
  );
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxConnections = limits.maxConnections;
  return server;
}

/**
 * Listens with a kernel queue of connections not yet accepted as deep as the connections the
 * gateway takes. Node's default, 511, is too short for a burst of clients (or an event loop busy
 * for a moment under overload): the SYNs past it are dropped, and clients send them again only
 * after 1 s, then 3 s, which makes the worst latencies and the client timeouts (issue 16). The
 * kernel caps the queue at net.core.somaxconn (4,096 since Linux 5.4).
 */
export async function listenGateway(server: Server, port: number, host: string, limits: Pick<ConnectionLimits, 'maxConnections' | 'acceptHandles'>): Promise<void> {
  await new Promise<void>((resolve) => server.listen({ port, host, backlog: limits.maxConnections }, resolve));
  if (limits.acceptHandles <= 1) return;
  // One cap over every handle's connections (Node's own, maxConnections, counts those of the server's own handle only).
  let open = 0;
  server.on('connection', (socket: Socket) => {
    if (open >= limits.maxConnections) return void socket.destroy();
    open++;
    socket.once('close', () => open--);
  });
  // Each copy hands its connections to the server from the moment it listens: the server's own
  // handle already answers health checks, so clients may arrive while the copies are being made.
  const copies = await listeningCopies(server, limits.acceptHandles - 1, limits.maxConnections, (socket) => server.emit('connection', socket));
  // Stop accepting on every handle once the server stops.
  const close = server.close.bind(server);
  server.close = (callback?: (error?: Error) => void): Server => {
    for (const copy of copies) copy.close();
    return close(callback);
  };
}

/** Hands every socket it is sent back to its parent, and exits with it. */
const handBack = "process.on('message', (message, handle) => process.send(message, handle)); process.on('disconnect', () => process.exit(0));";

/**
 * `count` more listening handles on the server's socket. Node 20's libuv (1.46) accepts one
 * connection per listening handle per round of the event loop (libuv/libuv#3696); with thousands
 * of busy connections a round takes about 20 ms, so a burst of new clients waited in the listen
 * queue past their timeout (issue 16, bench overload). Each handle is watched on its own, so n of
 * them accept up to n connections a round. Node has no dup(), but a socket sent over IPC arrives
 * as a new descriptor of the same socket, so a child process sends it back `count` times and
 * exits. It is sent as the bare handle, which the child does not listen on (so it accepts no
 * connection) and which is listened on here with the gateway's own queue (Node would use 511,
 * which the socket they share would then have). Node 22's `reusePort` would do without a child.
 */
async function listeningCopies(server: Server, count: number, backlog: number, onConnection: (socket: Socket) => void): Promise<NetServer[]> {
  const handle = (server as unknown as { _handle?: unknown })._handle;
  if (handle === undefined || handle === null) throw new SluiceError('INTERNAL', 'The gateway is not listening, so its socket cannot be handed around');
  const child = spawn(process.execPath, ['-e', handBack], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const gone = new Promise<never>((_resolve, reject) => {
    child.once('error', reject);
    child.once('exit', () => reject(new SluiceError('INTERNAL', 'The child handing the listening socket back exited early')));
  });
  gone.catch(() => undefined);
  const copies: NetServer[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const received = new Promise<unknown>((resolve) => child.once('message', (_message: unknown, copy: unknown) => resolve(copy)));
      child.send('listening socket', handle as Parameters<typeof child.send>[1]);
      const copy = await Promise.race([received, gone]);
      const listening = createNetServer(onConnection);
      await new Promise<void>((resolve) => listening.listen(copy, backlog, resolve));
      copies.push(listening);
    }
  } finally {
    child.disconnect();
  }
  return copies;
}
