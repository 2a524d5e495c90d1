import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { repositoryRoot } from '@sluice/dev';

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

const manifest = (directory: string): Manifest => JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8')) as Manifest;

/**
 * The root's devDependencies that no production workspace depends on: what a compiled service must
 * never load and an image must not hold. (The bench imports express too, so express is both.)
 */
export function devOnlyDependencies(): string[] {
  const workspaces = ['packages', 'services'].flatMap((folder) => readdirSync(join(repositoryRoot, folder)).map((name) => manifest(join(repositoryRoot, folder, name))));
  const production = new Set(workspaces.filter((w) => w.name !== '@sluice/dev').flatMap((w) => Object.keys(w.dependencies ?? {})));
  return Object.keys(manifest(repositoryRoot).devDependencies ?? {}).filter((name) => !production.has(name));
}
