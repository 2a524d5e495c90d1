#!/usr/bin/env node
// `npm run replay -- [--dataset ID] [--since ISO-TIME] [--limit N] [--dry-run]`: asks the worker to
// re-validate the messages in events_rejected and publish the valid ones again (POST /replay),
// with the admin token from ADMIN_TOKEN or, as `npm start` keeps it, <DATA_DIR>/admin-token.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const usage = 'usage: npm run replay -- [--dataset ID] [--since 2024-05-14T00:00:00Z] [--limit N] [--dry-run]';
const args = process.argv.slice(2);
const request = {};
for (let i = 0; i < args.length; i++) {
  const flag = args[i];
  const value = args[i + 1];
  if (flag === '--dry-run') request.dry_run = true;
  else if (flag === '--dataset' && value !== undefined) (request.dataset_id = value), i++;
  else if (flag === '--since' && value !== undefined) (request.since = value), i++;
  else if (flag === '--limit' && value !== undefined) (request.limit = Number(value)), i++;
  else {
    console.error(`unknown or incomplete option ${JSON.stringify(flag)}\n${usage}`);
    process.exit(2);
  }
}
const port = process.env.ADMIN_PORT || '8091';
const host = process.env.ADMIN_HOST || '127.0.0.1';
const tokenFile = join(process.env.DATA_DIR || fileURLToPath(new URL('../.data', import.meta.url)), 'admin-token');
let token = process.env.ADMIN_TOKEN || '';
if (token === '') {
  try {
    token = readFileSync(tokenFile, 'utf8').trim();
  } catch {
    console.error(`No admin token: set ADMIN_TOKEN to the worker's, or run \`npm start\`, which keeps one in ${tokenFile}`);
    process.exit(2);
  }
}
try {
  const response = await fetch(`http://${host}:${port}/replay`, {
    method: 'POST',
    body: JSON.stringify(request),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
  });
  const body = await response.json();
  if (!response.ok) {
    console.error(`error ${response.status}: ${body.message ?? JSON.stringify(body)}`);
    process.exit(1);
  }
  const verb = body.dryRun ? 'would publish' : 'published';
  console.log(`examined ${body.examined} rejected messages; ${verb} ${body.published}; ${body.stillRejected.length} still rejected`);
  for (const r of body.stillRejected) console.log(`  ${r.topic}/${r.partition}/${r.offset} (${r.step}): ${r.reason}`);
} catch (error) {
  console.error(`Cannot reach the worker's admin endpoint at http://${host}:${port}/replay (${error.cause?.code ?? error.message}). Is \`npm start\` running?`);
  process.exit(1);
}
