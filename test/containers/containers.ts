import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger, sleep } from '@sluice/core';
import { docker, repositoryRoot } from '@sluice/dev';
import { DockerComposeEnvironment, Wait, type StartedDockerComposeEnvironment } from 'testcontainers';
import { freePort } from '../helpers/processes';
import { testDataRoot } from '../helpers/test-broker';

/** The project images' tag (compose's SLUICE_IMAGE_TAG): built by the global setup, run by the tests. */
export const containerImageTag = 'local';
export const containersLogger = createLogger({ level: 'info', bindings: { service: 'containers' } });

/** Adds a section to .data/test/figures/containers.json, the figures the closing note and the README quote. */
export function recordFigures(section: string, value: unknown): void {
  const directory = join(testDataRoot, 'figures');
  const file = join(directory, 'containers.json');
  mkdirSync(directory, { recursive: true });
  let figures: Record<string, unknown> = {};
  try {
    figures = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    // First section of this run.
  }
  writeFileSync(file, JSON.stringify({ ...figures, [section]: value }, null, 2));
}

/** A container's state as `docker inspect` reports it. */
export async function containerState(id: string): Promise<{ status: string; health: string | undefined; exitCode: number }> {
  const [status = '', health = '', exitCode = ''] = (await docker(['inspect', '--format', '{{.State.Status}}|{{if .State.Health}}{{.State.Health.Status}}{{end}}|{{.State.ExitCode}}', id])).trim().split('|');
  return { status, health: health === '' ? undefined : health, exitCode: Number(exitCode) };
}

/** Waits until Docker's healthcheck calls the container healthy, and returns how long that took. */
export async function untilHealthy(id: string, what: string, timeoutMs = 180_000): Promise<number> {
  const started = Date.now();
  for (;;) {
    const state = await containerState(id);
    if (state.health === 'healthy') return Date.now() - started;
    if (state.status === 'exited' || Date.now() - started > timeoutMs) {
      const logs = await docker(['logs', '--tail', '30', id]).catch((error: unknown) => String(error));
      throw new Error(`${what} did not turn healthy (status ${state.status}, health ${state.health ?? 'none'}, exit code ${state.exitCode}); its last log lines:\n${logs}`);
    }
    await sleep(500);
  }
}

/** docker-compose.yml and the files laid over it, brought up under testcontainers on free host ports. */
export interface ComposeStack {
  readonly apiKey: string;
  /** The published gateway port's URL for a path. */
  gatewayUrl(path: string): string;
  /** A query through the published ClickHouse port as the read-only analyst: JSONEachRow rows. */
  query<T>(sql: string): Promise<T[]>;
  /** The container of a service (`kafka`, `gateway`, ...), as of the last `up`. */
  containerId(service: string): string;
  /** Up, every service healthy; returns how long that took. */
  up(): Promise<number>;
  down(options: { removeVolumes: boolean }): Promise<void>;
}

const stackApiKey = 'sk_containers_test_key_0123456789';
const stackAnalyst = { user: 'analyst', password: 'analyst-containers' };

export async function composeStack(options: { name: string; files: readonly string[]; services: readonly string[]; environment?: Record<string, string> }): Promise<ComposeStack> {
  process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
  const ports = { gateway: await freePort(), admin: await freePort(), clickhouse: await freePort() };
  const projectName = `sluice-${options.name}-${process.pid}`;
  let environment: StartedDockerComposeEnvironment | undefined;
  const containerIds = new Map<string, string>();
  return {
    apiKey: stackApiKey,
    gatewayUrl: (path) => `http://127.0.0.1:${ports.gateway}${path}`,
    async query<T>(sql: string): Promise<T[]> {
      const response = await fetch(`http://127.0.0.1:${ports.clickhouse}/?database=sluice&default_format=JSONEachRow`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${stackAnalyst.user}:${stackAnalyst.password}`).toString('base64')}` },
        body: sql,
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`query failed with ${response.status}: ${text}`);
      return text
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as T);
    },
    containerId(service) {
      const id = containerIds.get(service);
      if (id === undefined) throw new Error(`no container for ${service}: is the stack up?`);
      return id;
    },
    async up() {
      const started = Date.now();
      let compose = new DockerComposeEnvironment(repositoryRoot, [...options.files])
        .withProjectName(projectName)
        .withEnvironment({
          DEV_API_KEY: stackApiKey,
          ADMIN_TOKEN: 'containers-test-admin-token-0123456789',
          CLICKHOUSE_ANALYST_PASSWORD: stackAnalyst.password,
          SLUICE_IMAGE_TAG: containerImageTag,
          GATEWAY_PUBLISHED_PORT: String(ports.gateway),
          ADMIN_PUBLISHED_PORT: String(ports.admin),
          CLICKHOUSE_PUBLISHED_PORT: String(ports.clickhouse),
          LOG_LEVEL: 'info',
          ...options.environment,
        })
        .withStartupTimeout(300_000);
      for (const service of options.services) compose = compose.withWaitStrategy(`${service}-1`, Wait.forHealthCheck());
      environment = await compose.up();
      for (const service of options.services) containerIds.set(service, environment.getContainer(`${service}-1`).getId());
      return Date.now() - started;
    },
    async down({ removeVolumes }) {
      await environment?.down({ removeVolumes, timeout: 30_000 });
      environment = undefined;
      containerIds.clear();
    },
  };
}
