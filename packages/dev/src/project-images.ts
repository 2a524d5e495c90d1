import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '@sluice/core';
import { buildDist } from './build';
import { repositoryRoot } from './local-broker';
import { docker, imageSize } from './local-images';

/**
 * The project's images for docker-compose.local-images.yml: the gateway and the worker from
 * deploy/docker/Dockerfile on the local Node images, and the ClickHouse stand-in (the chDB HTTP
 * front, development only) on top of the worker image, which already holds chDB.
 */
export interface ProjectImagesOptions {
  /** The images' tag, which compose reads as SLUICE_IMAGE_TAG. */
  tag: string;
  buildImage: string;
  runtimeImage: string;
  logger: Logger;
}

export interface ProjectImage {
  name: string;
  sizeBytes: number;
  elapsedMs: number;
}

export const projectImageNames = { gateway: 'sluice-gateway', worker: 'sluice-worker', chdbFront: 'sluice-local/chdb-front' } as const;

export async function buildProjectImages(options: ProjectImagesOptions): Promise<ProjectImage[]> {
  const { tag, logger } = options;
  const results: ProjectImage[] = [];
  for (const target of ['gateway', 'worker'] as const) {
    const name = `${projectImageNames[target]}:${tag}`;
    const started = Date.now();
    const dockerfile = join(repositoryRoot, 'deploy', 'docker', 'Dockerfile');
    await docker(['build', '-q', '-f', dockerfile, '--target', target, '--build-arg', `BUILD_IMAGE=${options.buildImage}`, '--build-arg', `RUNTIME_IMAGE=${options.runtimeImage}`, '-t', name, repositoryRoot]);
    results.push({ name, sizeBytes: await imageSize(name), elapsedMs: Date.now() - started });
    logger.info('built image', { image: name, elapsedMs: Date.now() - started });
  }
  const name = `${projectImageNames.chdbFront}:${tag}`;
  const started = Date.now();
  await buildChdbFront(name, `${projectImageNames.worker}:${tag}`);
  results.push({ name, sizeBytes: await imageSize(name), elapsedMs: Date.now() - started });
  logger.info('built image', { image: name, elapsedMs: Date.now() - started });
  return results;
}

/** deploy/docker/local/chdb-front.Dockerfile: the worker image plus the compiled front (packages/dev/dist/chdb-http-main.js, built first). */
async function buildChdbFront(name: string, workerImage: string): Promise<void> {
  buildDist();
  const context = mkdtempSync(join(tmpdir(), 'sluice-chdb-front-'));
  try {
    copyFileSync(join(repositoryRoot, 'packages', 'dev', 'dist', 'chdb-http-main.js'), join(context, 'chdb-http-main.js'));
    const dockerfile = join(repositoryRoot, 'deploy', 'docker', 'local', 'chdb-front.Dockerfile');
    await docker(['build', '-q', '-f', dockerfile, '--build-arg', `WORKER_IMAGE=${workerImage}`, '-t', name, context]);
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
}
