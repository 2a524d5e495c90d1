import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { limitedEnvelopeColumns } from '@sluice/envelope';
import { migrationsDirectory } from './migrations';

// The envelope's column limits (@sluice/envelope) are written from the events table these migrations create.
/** Every column's type as the migrations leave it: a later MODIFY COLUMN wins over the CREATE TABLE. */
function eventsColumnTypes(): Map<string, string> {
  const types = new Map<string, string>();
  for (const file of readdirSync(migrationsDirectory).sort()) {
    const sql = readFileSync(join(migrationsDirectory, file), 'utf8');
    const create = /CREATE TABLE IF NOT EXISTS events\s*\(([\s\S]*?)\n\)/.exec(sql);
    for (const line of create?.[1]?.split('\n') ?? []) {
      const column = /^\s+([a-z_]+)\s+(.+?)(?:\s+(?:DEFAULT|CODEC).*)?,?$/.exec(line);
      if (column?.[1] && column[2]) types.set(column[1], column[2]);
    }
    for (const modify of sql.matchAll(/^ALTER TABLE events\b[^;]*;/gm)) {
      for (const column of modify[0].matchAll(/MODIFY COLUMN ([a-z_]+) (.+?)(?: DEFAULT .*| CODEC.*)?[,;]?$/gm)) {
        if (column[1] && column[2]) types.set(column[1], column[2]);
      }
    }
  }
  return types;
}

const unwrapped = (type: string): string => type.replace(/^Nullable\((.*)\)$/, '$1');

test('each limited field is declared in the migrations with the column type whose limits it gets', () => {
  const declared = eventsColumnTypes();
  for (const [field, type] of Object.entries(limitedEnvelopeColumns)) expect([field, unwrapped(declared.get(field) ?? '(not declared)')]).toEqual([field, type]);
});

