/**
 * Run as a separate process by analyst-profile.test.ts (chDB takes one configuration per process):
 * opens chDB with `<directory>/config.xml`, which ClickHouse's own loader reads with the users files
 * it names (users.xml and users.d/), and reports as one JSON line what system.users and
 * system.settings_profile_elements then hold, or why the configuration did not load.
 */
import { Session } from 'chdb';
import { errorMessage } from '@sluice/core';

const [directory] = process.argv.slice(2);
if (directory === undefined) throw new Error('usage: chdb-config-probe <directory with config.xml>');
let session: Session | undefined;
try {
  session = new Session(`${directory}/data`, { connectionArgs: [`--config-file=${directory}/config.xml`] });
  const rows = (sql: string): unknown[] =>
    session
      ?.query(sql, 'JSONEachRow')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as unknown) ?? [];
  const users = rows('SELECT name, default_database FROM system.users ORDER BY name');
  const elements = rows(
    "SELECT profile_name, setting_name, value, writability FROM system.settings_profile_elements WHERE profile_name = 'analyst' ORDER BY setting_name",
  );
  process.stdout.write(JSON.stringify({ ok: true, users, elements }) + '\n');
} catch (error) {
  // The engine prints its reason on stderr; this is chDB's own error.
  process.stdout.write(JSON.stringify({ ok: false, error: errorMessage(error) }) + '\n');
} finally {
  session?.close();
}
