// The gateway's public entry: what tests, scripts and the bench build a gateway from. The process
// itself starts from main.ts.
export { createApp, type GatewayDeps } from './app';
export { createGatewayServer, defaultConnectionLimits, listenGateway, type ConnectionLimits } from './server';
export { createRateLimiter, type RateLimiter, type RateLimitOptions } from './rate-limit';
