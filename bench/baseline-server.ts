/**
 * The gateway benchmark's baseline: bare node:http that reads the body, parses it, validates the
 * same Trieve event with the same ajv schema (schemas/dialects/trieve-event.json) and answers 204,
 * with no Kafka. What the gateway adds on top (keys, rate limits, express, normalising, Kafka) is
 * what the ratio measures. Port: BASELINE_PORT.
 */
import { createServer } from 'node:http';
import { validateTrieveEvent } from '@sluice/envelope';

const port = Number(process.env.BASELINE_PORT ?? '29180');

createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/healthz') {
    res.writeHead(200).end('ok');
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400).end();
      return;
    }
    res.writeHead(validateTrieveEvent(body).ok ? 204 : 400).end();
  });
}).listen(port, '127.0.0.1');
