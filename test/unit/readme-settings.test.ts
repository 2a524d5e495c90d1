import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { clickhouseSettings } from '@sluice/clickhouse';
import { kafkaSettings } from '@sluice/core';

const root = join(__dirname, '..', '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const configureSection = readme.slice(readme.indexOf('## Configure'), readme.indexOf('\n## ', readme.indexOf('## Configure') + 1));

/** The names of the settings a service's main.ts reads (its settings object's keys). */
function settingsOf(service: string): string[] {
  const source = readFileSync(join(root, 'services', service, 'src', 'main.ts'), 'utf8');
  return [...source.matchAll(/^ {2}([A-Z][A-Z0-9_]+): \{\s*parse:/gm)].map((m) => m[1] ?? '');
}

test.each([
  ['gateway', []],
  ['worker', Object.keys(clickhouseSettings)],
])("every setting of the %s is in the README's Configure table", (service, shared) => {
  const names = [...settingsOf(service), ...Object.keys(kafkaSettings), ...shared];
  expect(names.length).toBeGreaterThan(5);
  expect(names.filter((name) => !configureSection.includes(`\`${name}\``))).toEqual([]);
});
