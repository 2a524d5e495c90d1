#!/usr/bin/env node
// `npm run sql -- "SELECT ..."`: sends the query to the worker's read-only admin endpoint.
const query = process.argv.slice(2).join(' ').trim();
const port = process.env.ADMIN_PORT || '8091';
const host = process.env.ADMIN_HOST || '127.0.0.1';
if (query === '') {
  console.error('usage: npm run sql -- "SELECT count() FROM events"');
  process.exit(2);
}
try {
  const response = await fetch(`http://${host}:${port}/sql`, { method: 'POST', body: query, headers: { 'content-type': 'text/plain' } });
  const body = await response.text();
  if (!response.ok) {
    let message = body;
    try {
      message = JSON.parse(body).message ?? body;
    } catch {}
    console.error(`error ${response.status}: ${message}`);
    process.exit(1);
  }
  process.stdout.write(body.endsWith('\n') || body === '' ? body : body + '\n');
} catch (error) {
  console.error(`Cannot reach the worker's admin endpoint at http://${host}:${port}/sql (${error.cause?.code ?? error.message}). Is \`npm start\` running?`);
  process.exit(1);
}
