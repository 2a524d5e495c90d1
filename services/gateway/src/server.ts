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
  /** Connections beyond this are closed as they arrive. */
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
