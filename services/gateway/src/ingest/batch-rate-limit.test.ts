/**
 * A key over its rate is refused a batch before the gateway reads or parses it: the batch's bytes
 * are taken from the key's byte allowance first (Content-Length, or chunk by chunk as a chunked
 * body streams in), then its events after parsing. The publisher is a stand-in: Kafka is not what
 * is tested here.
 */
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { silentLogger } from '@sluice/core';
import { createDevKeyStore } from '@sluice/tenancy';
import { acceptedSockets, bytesReadByServer, chunkedFrame, lastChunk, upload } from '../../../../test/helpers/raw-http';
import { createApp } from '../app';
import { createGatewayMetrics, type GatewayMetrics } from '../metrics';
import { createRateLimiter, type RateLimiter } from '../rate-limit';
import { createGatewayServer, defaultConnectionLimits } from '../server';
import { recordingPublisher } from '../../../../test/helpers/recording-publisher';

const apiKey = 'sk_dev_batch_bytes';
const { publisher, published } = recordingPublisher();

interface Gateway {
  port: number;
  accepted: Socket[];
  metrics: GatewayMetrics;
}

const servers: Server[] = [];
afterEach(async () => {
  published.length = 0;
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

async function startGateway(rateLimiter: RateLimiter): Promise<Gateway> {
  const metrics = createGatewayMetrics();
  const app = createApp({ publisher, keyStore: createDevKeyStore(apiKey), logger: silentLogger, kafkaReadiness: () => Promise.resolve(undefined), metrics, rateLimiter });
  const server = createGatewayServer(app, defaultConnectionLimits);
  servers.push(server);
  const accepted = acceptedSockets(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, accepted, metrics };
}

async function rejectedSamples(metrics: GatewayMetrics): Promise<string[]> {
  return (await metrics.registry.metrics()).split('\n').filter((line) => line.startsWith('sluice_gateway_events_rejected_total{'));
}

const line = `${JSON.stringify({ source: 'trieve', dataset_id: 'shop', event: { event_type: 'view', event_name: 'v', items: [] } })}\n`;
/** 64 KiB of NDJSON events, as the body of a large batch is. */
const ndjson = Buffer.from(line.repeat(Math.ceil((64 * 1024) / line.length)));
const batchHead = `POST /v1/batch HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${apiKey}\r\nContent-Type: application/x-ndjson\r\n`;

/** Two events a second, bursts of two: a byte allowance of 2 × 4096 bytes. */
const tinyRate = (): RateLimiter => createRateLimiter({ eventsPerSecond: 1, burst: 2 });

function chunkedBody(body: Buffer, size: number): Buffer {
  const frames: Buffer[] = [];
  for (let at = 0; at < body.length; at += size) {
    const part = body.subarray(at, at + size);
    frames.push(Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n'));
  }
  return Buffer.concat(frames);
}

describe('a key over its byte allowance gets 429 before its batch is read', () => {
  test('a declared Content-Length over the allowance: 429 with Retry-After at once; the body is neither read nor parsed', async () => {
    const gateway = await startGateway(tinyRate());
    const total = 8 * 1024 * 1024 - 1;
    const exchange = await upload(gateway.port, { head: `${batchHead}Content-Length: ${total}\r\n\r\n`, frame: ndjson, total });
    expect(exchange.response).toMatch(/^HTTP\/1\.1 429 /);
    expect(exchange.response).toMatch(/\r\nRetry-After: \d+\r\n/i);
    expect(exchange.response).toContain(`"code":"RATE_LIMITED","message":"Rate limit exceeded for this API key: a batch of ${total} bytes; retry in`);
    expect(exchange.closedByServer).toBe(true);
    expect(exchange.sentWhenAnswered).toBeLessThan(total);
    expect(await bytesReadByServer(gateway.accepted)).toBeLessThan(1024 * 1024);
    expect(published).toEqual([]);
    expect(await rejectedSamples(gateway.metrics)).toEqual(['sluice_gateway_events_rejected_total{dialect="batch",reason="RATE_LIMITED"} 1']);
  });

  test('a chunked body: 429 as soon as the allowance runs out while it streams; the rest is not read', async () => {
    const gateway = await startGateway(tinyRate());
    const total = 64 * 1024 * 1024;
    const exchange = await upload(gateway.port, { head: `${batchHead}Transfer-Encoding: chunked\r\n\r\n`, frame: chunkedFrame, total, end: lastChunk });
    expect(exchange.response).toMatch(/^HTTP\/1\.1 429 /);
    expect(exchange.response).toMatch(/\r\nRetry-After: \d+\r\n/i);
    expect(exchange.response).toMatch(/\r\nConnection: close\r\n/i);
    expect(exchange.closedByServer).toBe(true);
    expect(await bytesReadByServer(gateway.accepted)).toBeLessThan(4 * 1024 * 1024);
    expect(published).toEqual([]);
    // One refusal, counted once: the body reader's failure as the connection closes is not a second.
    expect(await rejectedSamples(gateway.metrics)).toEqual(['sluice_gateway_events_rejected_total{dialect="batch",reason="RATE_LIMITED"} 1']);
  });
});

describe('within the allowance a batch is read whole, however it is framed', () => {
  const events = 300;
  const body = Buffer.from(line.repeat(events));
  const ample = (): RateLimiter => createRateLimiter({ eventsPerSecond: 1_000, burst: 1_000 });

  test.each([
    { framing: 'Content-Length', headers: `Content-Length: ${body.length}\r\n`, payload: body },
    { framing: 'chunked', headers: 'Transfer-Encoding: chunked\r\n', payload: Buffer.concat([chunkedBody(body, 1_000), Buffer.from(lastChunk)]) },
    { framing: 'chunked gzip', headers: 'Transfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n', payload: Buffer.concat([chunkedBody(gzipSync(body), 100), Buffer.from(lastChunk)]) },
  ])('$framing: 200, every event accepted', async ({ headers, payload }) => {
    const gateway = await startGateway(ample());
    const exchange = await upload(gateway.port, { head: `${batchHead}${headers}\r\n`, frame: payload, total: payload.length });
    expect(exchange.response).toMatch(/^HTTP\/1\.1 200 /);
    expect(exchange.response).toContain(`{"accepted":${events},"duplicates":0,"rejected":0,`);
    expect(published).toHaveLength(events);
  });

  test('a batch within the byte allowance but over the event rate still gets 429 after parsing, naming its events', async () => {
    const gateway = await startGateway(createRateLimiter({ eventsPerSecond: 10, burst: 10, batchBytesPerEvent: 1_000_000 }));
    const small = Buffer.from(line.repeat(11));
    const exchange = await upload(gateway.port, { head: `${batchHead}Content-Length: ${small.length}\r\n\r\n`, frame: small, total: small.length });
    expect(exchange.response).toMatch(/^HTTP\/1\.1 429 /);
    expect(exchange.response).toContain('Rate limit exceeded for this API key: 11 events; retry in 1 s');
    expect(published).toEqual([]);
  });
});
