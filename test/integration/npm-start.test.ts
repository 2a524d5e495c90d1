/**
 * `npm start` as a user runs it, and the README's own example commands against it: the curl gets
 * 204, `npm run sql` shows the event, and Ctrl-C (SIGINT to the process group) stops everything.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@sluice/core';
import { isPortOpen, repositoryRoot } from '@sluice/dev';
import { removeTestDirectory, waitFor } from '../helpers/pipeline';
import { freePort, spawnCaptured, type CapturedProcess } from '../helpers/processes';

/** The shell code in the fenced block after `<!-- readme-example: NAME -->` in README.md. */
function readmeExample(name: string): string {
  const readme = readFileSync(join(repositoryRoot, 'README.md'), 'utf8');
  const match = new RegExp(`<!-- readme-example: ${name} -->\\s*\`\`\`sh\\n([\\s\\S]*?)\`\`\``).exec(readme);
  if (!match?.[1]) throw new Error(`README.md has no example named ${name}`);
  return match[1];
}

const ports = { kafka: 19096, controller: 19097 };
let dataDirectory: string;
let gatewayPort: number;
let adminPort: number;
let analystsPort: number;
let stack: CapturedProcess;

beforeAll(async () => {
  dataDirectory = mkdtempSync(join(tmpdir(), 'sluice-npm-start-'));
  gatewayPort = await freePort();
  adminPort = await freePort();
  analystsPort = await freePort();
  stack = spawnCaptured('npm', ['start'], {
    cwd: repositoryRoot,
    env: {
      ...process.env,
      DATA_DIR: dataDirectory,
      GATEWAY_PORT: String(gatewayPort),
      ADMIN_PORT: String(adminPort),
      CLICKHOUSE_HTTP_PORT: String(analystsPort),
      KAFKA_PORT: String(ports.kafka),
      KAFKA_CONTROLLER_PORT: String(ports.controller),
      DEV_API_KEY: '',
    },
    detached: true,
  });
  await stack.waitForOutput(/Sluice is running/, 180_000);
});

function processGroupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

afterAll(() => {
  const pid = stack.child.pid;
  if (pid !== undefined && processGroupAlive(pid)) process.kill(-pid, 'SIGKILL');
  removeTestDirectory(dataDirectory);
});

function runExample(name: string): string {
  const script = readmeExample(name)
    .replaceAll('127.0.0.1:8090', `127.0.0.1:${gatewayPort}`)
    .replaceAll('.data/', `${dataDirectory}/`);
  return execFileSync('bash', ['-c', script], { cwd: repositoryRoot, env: { ...process.env, ADMIN_PORT: String(adminPort), CLICKHOUSE_HTTP_PORT: String(analystsPort) }, encoding: 'utf8' });
}

test('the banner says where to send events, with a working key, and how to query', async () => {
  const key = readFileSync(join(dataDirectory, 'dev-api-key'), 'utf8').trim();
  expect(key).toMatch(/^sk_dev_[0-9a-f]{32}$/);
  expect(stack.output()).toContain(`Send events to   http://127.0.0.1:${gatewayPort}`);
  expect(stack.output()).toContain(`API key          ${key}`);
  expect(stack.output()).toContain('npm run sql --');
});

test("the README's curl gets 204 and its query then shows the event", async () => {
  expect(runExample('send')).toMatch(/^HTTP\/1\.1 204 No Content/);
  const sentAt = Date.now();
  const answer = await waitFor(async () => {
    const out = runExample('query');
    return out.includes('"event_type":"view"') ? out : undefined;
  }, 'the event in `npm run sql`');
  createLogger().info('npm start test: event visible through npm run sql', { afterMs: Date.now() - sentAt });
  expect(answer).toContain('{"event_type":"view","events":1}');
});

test("the README's Neuralens, Greenflash and batch examples are accepted", () => {
  expect(JSON.parse(runExample('neuralens'))).toEqual({ status: 'success', message: '' });
  expect(JSON.parse(runExample('greenflash'))).toEqual({ eventId: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown, success: true });
  expect(JSON.parse(runExample('batch'))).toMatchObject({ accepted: 2, duplicates: 0, rejected: 0 });
});

test('Ctrl-C stops the gateway, the worker and Kafka, leaving no process behind', async () => {
  const pid = stack.child.pid;
  if (pid === undefined) throw new Error('npm start has no pid');
  process.kill(-pid, 'SIGINT');
  // npm, as shells expect of Ctrl-C, ends itself with the signal once its script is done.
  expect(await stack.exit).toEqual({ code: null, signal: 'SIGINT' });
  // The services run in their own process groups, stopped by start.ts in order.
  await waitFor(async () => ((await Promise.all([gatewayPort, adminPort, ports.kafka].map(isPortOpen))).some(Boolean) ? undefined : true), 'every port to close');
  expect(processGroupAlive(pid)).toBe(false);
  const output = stack.output();
  expect(output).toContain('"msg":"stopping","service":"start","signal":"SIGINT"');
  expect(output).not.toMatch(/"level":"error"|exited unexpectedly|shutdown failed/);
});
