import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { settingsOf } from '../helpers/service-settings';

const root = join(__dirname, '..', '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const configureSection = readme.slice(readme.indexOf('## Configure'), readme.indexOf('\n## ', readme.indexOf('## Configure') + 1));

test.each(['gateway', 'worker'] as const)("every setting of the %s is in the README's Configure table", (service) => {
  const names = settingsOf(service);
  expect(names.length).toBeGreaterThan(5);
  expect(names.filter((name) => !configureSection.includes(`\`${name}\``))).toEqual([]);
});
