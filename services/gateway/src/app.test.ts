import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { silentLogger, type EventPublisher } from '@sluice/core';
import { createDevKeyStore } from '@sluice/tenancy';
import { createApp, unmatchedRoute } from './app';
import { dialectEndpoints } from './dialects';
import { createGatewayMetrics } from './metrics';

const apiKey = 'sk_dev_metric_labels';
const publisher: EventPublisher = { publish: () => Promise.resolve(), isConnected: () => true, close: () => Promise.resolve() };
const metrics = createGatewayMetrics();

let server: Server;
let baseUrl: string;

beforeAll(async () => {
  server = createServer(createApp({ publisher, keyStore: createDevKeyStore(apiKey), logger: silentLogger, kafkaReadiness: () => Promise.resolve(undefined), metrics }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** Every `sluice_gateway_requests_total` series, as its label set. */
async function requestSeries(): Promise<string[]> {
  const text = await metrics.registry.metrics();
  return text.split('\n').filter((line) => line.startsWith('sluice_gateway_requests_total{')).map((line) => line.slice(0, line.lastIndexOf('}') + 1));
}

/** Case and trailing-slash spellings of a path that Express routes to the same handler. */
function variants(path: string): string[] {
  return [path, `${path}/`, path.toUpperCase(), `${path.toUpperCase()}/`, path.replace(/[a-z]/, (c) => c.toUpperCase())];
}

test('the route label is the matched route or "unmatched", however many distinct paths arrive', async () => {
  const routes = [...dialectEndpoints.map((e) => ({ method: e.method.toUpperCase(), path: e.path })), { method: 'POST', path: '/v1/batch' }, { method: 'GET', path: '/healthz' }];
  const requests: { method: string; path: string; key: boolean }[] = [];
  for (let i = 0; i < 300; i++) requests.push({ method: i % 2 === 0 ? 'GET' : 'POST', path: `/${randomBytes(6).toString('hex')}/${i}`, key: i % 3 === 0 });
  for (const route of routes) for (const path of variants(route.path)) for (const key of [true, false]) requests.push({ method: route.method, path, key });

  for (const { method, path, key } of requests) {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${apiKey}`, 'x-neuralens-api-key': `Bearer ${apiKey}` } : {}) },
      ...(method === 'GET' ? {} : { body: '{}' }),
    });
    await response.arrayBuffer();
  }

  const series = await requestSeries();
  const labelled = new Set(series.map((s) => /route="([^"]*)"/.exec(s)?.[1]));
  expect([...labelled].sort()).toEqual([...routes.map((r) => r.path), unmatchedRoute].sort());
  // Each route answers a handful of statuses; 300 random paths added only the "unmatched" few.
  expect(series.length).toBeLessThan(40);
});
