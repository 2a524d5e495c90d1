import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger, sleep } from '@sluice/core';
import { docker } from '@sluice/dev';
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
