/**
 * The gateway benchmark's second baseline: the smallest express 5 app that does the bare baseline's
 * work (bench/baseline-server.ts): express.json() parses the body, the same ajv schema validates the
 * Trieve event, and it answers 204, with no Kafka. Its ratio to the bare baseline is the ceiling
 * an express app has on this machine before it does anything of its own. Port: BASELINE_PORT.
 */
import express from 'express';
import { validateTrieveEvent } from '@sluice/envelope';

const port = Number(process.env.BASELINE_PORT ?? '29186');

const app = express();
// As the gateway's app: no header or hashing work that the bare baseline does not do either.
app.disable('x-powered-by');
app.set('etag', false);
app.get('/healthz', (_req, res) => void res.status(200).send('ok'));
app.put('/api/analytics/events', express.json(), (req, res) => {
  const body: unknown = req.body;
  res.status(validateTrieveEvent(body).ok ? 204 : 400).end();
});
app.listen(port, '127.0.0.1');
