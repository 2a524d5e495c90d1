import { createServer, type RequestListener, type Server } from 'node:http';
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
}

export const defaultConnectionLimits: ConnectionLimits = { headersTimeoutMs: 10_000, requestTimeoutMs: 60_000, keepAliveTimeoutMs: 65_000, maxConnections: 4_096 };

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
export function listenGateway(server: Server, port: number, host: string, limits: Pick<ConnectionLimits, 'maxConnections'>): Promise<void> {
  return new Promise((resolve) => server.listen({ port, host, backlog: limits.maxConnections }, resolve));
}
