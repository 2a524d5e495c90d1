/**
 * The gateway and the worker as the real processes the images run: compiled (dist/main.js, run by
 * node alone, loading no TypeScript source and no dev dependency), talking through the real broker.
 * Shutdown drains requests in flight and loses nothing acknowledged, and the worker's data survives
 * a restart.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@sluice/core';
import { loadMigrations } from '@sluice/clickhouse';
import { buildDist, isPortOpen, repositoryRoot, startService, type RunningService } from '@sluice/dev';
import { devOnlyDependencies } from '../helpers/dev-dependencies';
import { removeTestDirectory, testBrokers, uniqueName, waitFor } from '../helpers/pipeline';
import { fetchRetrying } from '../helpers/http';
import { freePort } from '../helpers/processes';

const apiKey = 'sk_services_test';
const adminToken = 'sa_services_test_admin_token';
let chdbPath: string;
let logDirectory: string;
let env: Record<string, string>;
let gatewayPort: number;
let adminPort: number;
/** The worker's ClickHouse HTTP interface for analysts, which `npm run sql` uses. */
let analystsPort: number;
const running: RunningService[] = [];
/** Preloaded into each service: it exits with a message when the service loads a TypeScript source or a dev dependency. */
let productionOnlyGuard: string;

/** Code for `node --require`: dist/ must run without tsx and without what `npm ci --omit=dev` leaves out. */
function productionOnlyGuardSource(): string {
  return `const Module = require('node:module');
const devDependencies = new Set(${JSON.stringify(devOnlyDependencies())});
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (...args) {
  const file = resolveFilename.apply(this, args);
  const dependency = /node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(file)?.[1];
  if (file.endsWith('.ts') || (dependency !== undefined && devDependencies.has(dependency))) {
    process.stderr.write('failed: the compiled service loaded ' + file + '\\n');
    process.exit(70);
  }
  return file;
};
`;
}

beforeAll(async () => {
  // npm test builds before the tests run; this keeps a run of this file alone current (tsc -b is incremental).
  buildDist();
  chdbPath = mkdtempSync(join(tmpdir(), 'sluice-services-chdb-'));
  logDirectory = mkdtempSync(join(tmpdir(), 'sluice-services-logs-'));
  productionOnlyGuard = join(logDirectory, 'production-only-guard.cjs');
  writeFileSync(productionOnlyGuard, productionOnlyGuardSource());
  gatewayPort = await freePort();
  adminPort = await freePort();
  analystsPort = await freePort();
  env = {
    KAFKA_BROKERS: testBrokers().join(','),
    KAFKA_TOPIC: uniqueName('services'),
    KAFKA_TOPIC_PARTITIONS: '3',
    CONSUMER_GROUP: uniqueName('services-group'),
    CHDB_PATH: chdbPath,
    ADMIN_PORT: String(adminPort),
    CLICKHOUSE_HTTP_PORT: String(analystsPort),
    GATEWAY_PORT: String(gatewayPort),
    DEV_API_KEY: apiKey,
    ADMIN_TOKEN: adminToken,
    LOG_LEVEL: 'warn',
  };
});

afterAll(async () => {
  for (const service of running) await service.stop();
  removeTestDirectory(chdbPath);
  removeTestDirectory(logDirectory);
});

function start(name: 'worker' | 'gateway'): Promise<RunningService> {
  const port = name === 'worker' ? adminPort : gatewayPort;
  return startService({
    name,
    entry: `services/${name}/dist/main.js`,
    nodeArgs: ['--require', productionOnlyGuard],
    env,
    healthUrl: `http://127.0.0.1:${port}/healthz`,
    logDirectory,
    onUnexpectedExit: () => undefined,
  }).then((service) => {
    running.push(service);
    return service;
  });
}

async function stop(service: RunningService): Promise<void> {
  await service.stop();
  running.splice(running.indexOf(service), 1);
}

/** `npm run sql` against the worker process: its status and what it printed. */
function runSql(query: string): { status: number | null; stdout: string; stderr: string } {
  const { status, stdout, stderr } = spawnSync(process.execPath, [join(repositoryRoot, 'scripts', 'sql.mjs'), query], {
    env: { ...process.env, CLICKHOUSE_HTTP_PORT: String(analystsPort), CLICKHOUSE_URL: '' },
    encoding: 'utf8',
  });
  return { status, stdout, stderr };
}

function sql(query: string): string {
  const { status, stdout, stderr } = runSql(query);
  if (status !== 0) throw new Error(`npm run sql exited ${status}: ${stderr}`);
  return stdout;
}

/** One Trieve view, retried after a 503 or 429 as a client would; `once` sends it once, for a test that counts a 503 as an answer. */
function put(insertId: string, once = false): Promise<Response> {
  const url = `http://127.0.0.1:${gatewayPort}/api/analytics/events`;
  const init = {
    method: 'PUT',
    headers: { authorization: `Bearer ${apiKey}`, 'tr-dataset': 'ds-services', 'content-type': 'application/json', 'idempotency-key': insertId },
    body: JSON.stringify({ event_type: 'view', event_name: 'services', items: [insertId] }),
  };
  return once ? fetch(url, init) : fetchRetrying(url, init);
}

const storedIds = (): Set<string> =>
  new Set(
    sql("SELECT DISTINCT insert_id FROM events WHERE dataset_id = 'ds-services'")
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => (JSON.parse(line) as { insert_id: string }).insert_id),
  );

test('an event sent to the gateway process is visible through `npm run sql`', async () => {
  const worker = await start('worker');
  await start('gateway');
  expect((await put('services-first')).status).toBe(204);
  const sentAt = Date.now();
  await waitFor(async () => (storedIds().has('services-first') ? true : undefined), 'the event in ClickHouse');
  createLogger().info('services test: event visible through npm run sql', { afterMs: Date.now() - sentAt });
  expect(sql('SELECT count() AS n FROM events')).toBe('{"n":1}\n');
  expect(worker.pid).toBeGreaterThan(0);
});

test('stopping the gateway drains requests in flight; every 204 is stored', async () => {
  const gateway = running.find((_s, i) => i === 1);
  if (!gateway) throw new Error('gateway not running');
  const ids = Array.from({ length: 300 }, (_v, i) => `drain-${i}`);
  const outcomes = ids.map((id) =>
    put(id, true).then(
      (r) => ({ id, status: r.status }),
      () => ({ id, status: 0 }),
    ),
  );
  await new Promise((resolve) => setTimeout(resolve, 20));
  await stop(gateway);
  const results = await Promise.all(outcomes);
  const acknowledged = results.filter((r) => r.status === 204).map((r) => r.id);
  expect(results.every((r) => [204, 503, 0].includes(r.status))).toBe(true);
  expect(acknowledged.length).toBeGreaterThan(0);
  expect(await isPortOpen(gatewayPort)).toBe(false);
  const stored = await waitFor(async () => {
    const ids = storedIds();
    return acknowledged.every((id) => ids.has(id)) ? ids : undefined;
  }, 'every acknowledged event in ClickHouse');
  expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);
});

test('the worker stops cleanly and its data is still there after a restart', async () => {
  const before = sql("SELECT count() AS n FROM events WHERE dataset_id = 'ds-services'");
  const worker = running[0];
  if (!worker) throw new Error('worker not running');
  await stop(worker);
  expect(await isPortOpen(adminPort)).toBe(false);
  await start('worker');
  expect(sql("SELECT count() AS n FROM events WHERE dataset_id = 'ds-services'")).toBe(before);
  // Each migration applied once, not again on the restart.
  expect(sql('SELECT count() AS n FROM schema_migrations FINAL')).toBe(`{"n":${loadMigrations().length}}\n`);
});

test('`npm run sql` refuses writes with READONLY, and names an unknown table and a missing query', () => {
  const origin = `http://127.0.0.1:${analystsPort}`;
  expect(runSql('DROP TABLE events')).toEqual({ status: 1, stdout: '', stderr: expect.stringMatching(new RegExp(`^error 403 from ${origin} as user analyst: Code: 164\\. .*\\(READONLY\\)\n$`)) as unknown });
  expect(runSql('SELECT * FROM no_such_table')).toMatchObject({ status: 1, stderr: expect.stringContaining('no_such_table') as unknown });
  expect(runSql('  ')).toEqual({ status: 2, stdout: '', stderr: 'usage: npm run sql -- "SELECT count() FROM events"\n' });
  expect(sql("SELECT count() AS n FROM system.tables WHERE database = 'sluice' AND name = 'events'")).toBe('{"n":1}\n');
});

/** `npm run replay` against the worker process, with `token` as ADMIN_TOKEN (and no token file to fall back on). */
function replay(token: string, ...args: string[]): { status: number; output: string } {
  try {
    const output = execFileSync(process.execPath, [join(repositoryRoot, 'scripts', 'replay.mjs'), ...args], {
      env: { ...process.env, ADMIN_PORT: String(adminPort), ADMIN_TOKEN: token, DATA_DIR: logDirectory },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { status: 0, output };
  } catch (error) {
    const failed = error as { status: number; stdout: string; stderr: string };
    return { status: failed.status, output: failed.stdout + failed.stderr };
  }
}

test('the worker process takes ADMIN_TOKEN: npm run replay works with it and is refused without it', async () => {
  expect(replay(adminToken, '--dry-run')).toEqual({ status: 0, output: expect.stringMatching(/^examined \d+ rejected messages; would publish \d+; \d+ still rejected\n/) as unknown });
  expect(replay('sa_not_the_workers_token')).toEqual({ status: 1, output: "error 401: The admin token sent for POST /replay is not the worker's ADMIN_TOKEN\n" });
  expect(replay('')).toEqual({ status: 2, output: `No admin token: set ADMIN_TOKEN to the worker's, or run \`npm start\`, which keeps one in ${join(logDirectory, 'admin-token')}\n` });
});

test('the worker process refuses a cross-site POST to /replay, even carrying the token', async () => {
  const response = await fetch(`http://127.0.0.1:${adminPort}/replay`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}`, origin: 'https://evil.example' },
    body: '{"dry_run":true}',
  });
  expect([response.status, ((await response.json()) as { code: string }).code]).toEqual([403, 'CROSS_ORIGIN']);
});

test('the compiled keys tool (keys-main.js, as the gateway image has it) runs alone: it creates a key, and knows no analyst commands', () => {
  const file = join(logDirectory, 'compiled-tool-keys.json');
  const env = { ...process.env, NODE_OPTIONS: '' };
  const keysMain = join(repositoryRoot, 'packages', 'tenancy', 'dist', 'keys-main.js');
  const created = spawnSync(process.execPath, ['--require', productionOnlyGuard, keysMain, 'create', '--name', 'image', '--trieve', 'shop', '--file', file], { env, encoding: 'utf8' });
  expect(created).toMatchObject({ status: 0, stderr: '', stdout: expect.stringContaining(`Created secret key`) as unknown });
  const listed = spawnSync(process.execPath, ['--require', productionOnlyGuard, keysMain, 'list', '--json', '--file', file], { env, encoding: 'utf8' });
  expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ name: 'image', datasets: { trieve: ['shop'] } })]);
  const analyst = spawnSync(process.execPath, [keysMain, 'analyst', 'list'], { env, encoding: 'utf8' });
  expect([analyst.status, analyst.stderr.split('\n')[0]]).toEqual([2, 'keys: unknown command "analyst"; known: create, list, revoke, grant, origins']);
});
