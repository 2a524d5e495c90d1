import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { clickhouseSettings } from '@sluice/clickhouse';
import { kafkaSettings } from '@sluice/core';

const root = join(__dirname, '..', '..');

/** The settings a service reads: its own (the keys of its main.ts settings object) and the shared ones it spreads in. */
export function settingsOf(service: 'gateway' | 'worker'): string[] {
  const source = readFileSync(join(root, 'services', service, 'src', 'main.ts'), 'utf8');
  const own = [...source.matchAll(/^ {2}([A-Z][A-Z0-9_]+): \{\s*parse:/gm)].map((m) => m[1] ?? '');
  const shared = [...(source.includes('...kafkaSettings') ? Object.keys(kafkaSettings) : []), ...(source.includes('...clickhouseSettings') ? Object.keys(clickhouseSettings) : [])];
  return [...own, ...shared];
}
