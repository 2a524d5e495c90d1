import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * @sluice/dev (the local broker launcher, service processes) is for npm start, the tests and the
 * bench; a production image leaves it out, so no production package may depend on it.
 */
const root = join(__dirname, '..', '..');
const productionPackages = [
  ...readdirSync(join(root, 'packages'))
    .filter((name) => name !== 'dev')
    .map((name) => join('packages', name)),
  ...readdirSync(join(root, 'services')).map((name) => join('services', name)),
];

function sourceFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => join(entry.parentPath, entry.name));
}

/** An import of @sluice/dev by its name or by a path into packages/dev. */
const importsDev = /(?:from\s+|import\s*\(\s*|require\s*\(\s*)'(?:@sluice\/dev(?:\/[^']*)?|(?:\.\.\/)+(?:packages\/)?dev\/[^']*)'/;

test.each(productionPackages)('%s does not depend on @sluice/dev', (directory) => {
  const manifest = JSON.parse(readFileSync(join(root, directory, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>;
  expect(Object.keys({ ...manifest.dependencies, ...manifest.devDependencies, ...manifest.peerDependencies })).not.toContain('@sluice/dev');
  const importers = sourceFiles(join(root, directory, 'src')).filter((file) => importsDev.test(readFileSync(file, 'utf8')));
  expect(importers.map((file) => file.slice(root.length + 1))).toEqual([]);
});
