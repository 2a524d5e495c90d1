/**
 * `node --import tsx scripts/images.ts [--only NAME[,NAME...]]`: builds the local images that
 * docker-compose.yml and the container tests run on (sluice-local/debian, node, node-build, kafka;
 * packages/dev/src/local-images.ts), skipping those already built from the same inputs, and prints
 * each one's tag, size and whether it was built or cached.
 *
 * Exit codes: 0 done, 1 a build failed or Docker is missing (one message on stderr), 2 a usage error.
 */
import { parseArgs } from 'node:util';
import { createLogger } from '@sluice/core';
import { buildLocalImages, localImageNames, type LocalImageName } from '@sluice/dev';

const usage = `usage: node --import tsx scripts/images.ts [--only ${localImageNames.join('|')}[,...]]`;

function isLocalImageName(name: string): name is LocalImageName {
  return (localImageNames as readonly string[]).includes(name);
}

function parseOnly(argv: string[]): LocalImageName[] | undefined {
  const { values } = parseArgs({ args: argv, options: { only: { type: 'string' } }, strict: true });
  if (values.only === undefined) return undefined;
  const names = values.only.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !isLocalImageName(name));
  if (unknown.length > 0) throw new Error(`unknown image ${unknown.join(', ')}`);
  return names.filter(isLocalImageName);
}

function megabytes(bytes: number): string {
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

async function main(): Promise<void> {
  let only: LocalImageName[] | undefined;
  try {
    only = parseOnly(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`images: ${(error as Error).message}\n${usage}\n`);
    process.exit(2);
  }
  const images = await buildLocalImages({ only, logger: createLogger({ bindings: { component: 'images' } }) });
  const width = Math.max(...images.map((image) => image.tag.length));
  for (const image of images) {
    const how = image.built ? `built in ${(image.elapsedMs / 1000).toFixed(1)} s` : 'cached';
    process.stdout.write(`${image.tag.padEnd(width)}  ${megabytes(image.sizeBytes).padStart(9)}  ${how}\n`);
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`images: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
