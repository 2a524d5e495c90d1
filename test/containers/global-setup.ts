import { buildLocalImages, buildProjectImages, localImageTag } from '@sluice/dev';
import { ensureComposePlugin } from './compose-plugin';
import { containerImageTag, containersLogger, recordFigures } from './containers';

/**
 * Every image the container suite runs, built on this machine (there is no registry to pull
 * from): the Debian base, the Node images and Kafka (cached by their inputs), then the project's
 * images from the compiled dist/ (Docker's layer cache keeps a rebuild short).
 */
export default async function globalSetup(): Promise<void> {
  process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
  const started = Date.now();
  process.stdout.write(`\ndocker compose ${ensureComposePlugin()}\n`);
  const local = await buildLocalImages({ logger: containersLogger });
  const project = await buildProjectImages({ tag: containerImageTag, buildImage: localImageTag('node-build'), runtimeImage: localImageTag('node'), logger: containersLogger });
  const images = [...local.map((image) => ({ name: image.tag, sizeBytes: image.sizeBytes, elapsedMs: image.elapsedMs, built: image.built })), ...project];
  for (const image of images) process.stdout.write(`image ${image.name}: ${(image.sizeBytes / 1e6).toFixed(0)} MB, ${(image.elapsedMs / 1000).toFixed(1)} s\n`);
  recordFigures('images', { images, totalMs: Date.now() - started });
}
