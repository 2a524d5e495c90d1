/**
 * deploy/clickhouse/server/users.d/analyst.xml, the server's read-only analyst profile, as tests load
 * it into chDB. Its constraints are changeable_in_readonly, which a server allows (it turns on
 * settings_constraints_replace_previous by default) and clickhouse-local refuses, even when its
 * config asks for it: chDB loads them as `const`, with the same names (analyst-profile.test.ts
 * checks both halves of this).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const analystProfileFile = join(__dirname, '..', '..', 'deploy', 'clickhouse', 'server', 'users.d', 'analyst.xml');

export function analystProfileAsChdbLoadsIt(): string {
  return readFileSync(analystProfileFile, 'utf8').replaceAll('<changeable_in_readonly/>', '<const/>');
}
