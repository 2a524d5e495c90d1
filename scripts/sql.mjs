#!/usr/bin/env node
// `npm run sql -- "SELECT ..."`: runs the query as user analyst on ClickHouse's HTTP interface. In
// embedded mode that is the worker's (CLICKHOUSE_HTTP_HOST, CLICKHOUSE_HTTP_PORT; password
// CLICKHOUSE_HTTP_PASSWORD); with CLICKHOUSE_URL, the server's (password CLICKHOUSE_ANALYST_PASSWORD),
// where the analyst profile makes it read-only. Answers are JSONEachRow unless the query has a FORMAT.
const query = process.argv.slice(2).join(' ').trim();
if (query === '') {
  console.error('usage: npm run sql -- "SELECT count() FROM events"');
  process.exit(2);
}
const env = process.env;
const server = env.CLICKHOUSE_URL || '';
const url = new URL(server || `http://${env.CLICKHOUSE_HTTP_HOST || '127.0.0.1'}:${env.CLICKHOUSE_HTTP_PORT || '8123'}`);
// The user is analyst, whatever a CLICKHOUSE_URL names (the worker's user may write).
url.username = '';
url.password = '';
url.searchParams.set('database', env.CLICKHOUSE_DATABASE || 'sluice');
url.searchParams.set('default_format', 'JSONEachRow');
const password = (server ? env.CLICKHOUSE_ANALYST_PASSWORD : env.CLICKHOUSE_HTTP_PASSWORD) ?? '';
const where = `${url.origin} as user analyst`;
try {
  const response = await fetch(url, { method: 'POST', body: query, headers: { 'X-ClickHouse-User': 'analyst', 'X-ClickHouse-Key': password } });
  const body = await response.text();
  if (!response.ok) {
    console.error(`error ${response.status} from ${where}: ${body.trim()}`);
    process.exit(1);
  }
  process.stdout.write(body.endsWith('\n') || body === '' ? body : body + '\n');
} catch (error) {
  const hint = server ? 'Is the ClickHouse server at CLICKHOUSE_URL up?' : 'Is `npm start` running (CLICKHOUSE_HTTP_PORT=0 turns the interface off)?';
  console.error(`Cannot reach ClickHouse's HTTP interface at ${url.origin} (${error.cause?.code ?? error.message}). ${hint}`);
  process.exit(1);
}
