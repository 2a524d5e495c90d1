/**
 * deploy/clickhouse/server/users.d/analyst.xml as ClickHouse's own config loader reads it (chDB's,
 * in a process of its own): the user, its default database, the read-only profile with the
 * limits of the worker's analysts' interface, and the HTTP transport settings a read-only client
 * may still set. A server refuses a users file it cannot load, and with it the user.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { analystLimits } from '@sluice/clickhouse';
import { analystProfileAsChdbLoadsIt, analystProfileFile } from '../helpers/analyst-profile';
import type { ProbeAnswer, ProbeRequest } from '../helpers/chdb-access-probe';
import { removeTestDirectory } from '../helpers/pipeline';
/** The settings about the HTTP exchange that clients send with every query, which readonly=1 alone refuses. */
const transportSettings = ['enable_http_compression', 'http_headers_progress_interval_ms', 'http_zlib_compression_level', 'send_progress_in_http_headers'];

interface Loaded {
  ok: boolean;
  users?: Record<string, unknown>[];
  elements?: { setting_name: string; value: string | null; max: string | null; writability: string | null }[];
  error?: string;
}

let directory: string;

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'sluice-analyst-profile-'));
  mkdirSync(join(directory, 'users.d'));
  writeFileSync(join(directory, 'config.xml'), '<clickhouse><user_directories><users_xml><path>users.xml</path></users_xml></user_directories></clickhouse>\n');
  // The server's own default user, allowed to read the access tables, as users.xml ships it otherwise.
  writeFileSync(
    join(directory, 'users.xml'),
    '<clickhouse><profiles><default/></profiles><quotas><default/></quotas><users><default><password/><networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota><access_management>1</access_management></default></users></clickhouse>\n',
  );
});

afterEach(() => removeTestDirectory(directory));

/** chDB loads the configuration with users.d/analyst.xml as given, and reports what it made of it. */
function load(analystXml: string): { loaded: Loaded; stderr: string } {
  writeFileSync(join(directory, 'users.d', 'analyst.xml'), analystXml);
  const request: ProbeRequest = {
    kind: 'query',
    dataPath: join(directory, 'data'),
    configFile: join(directory, 'config.xml'),
    statements: [
      'SELECT name, default_database FROM system.users ORDER BY name',
      "SELECT profile_name, setting_name, value, max, writability FROM system.settings_profile_elements WHERE profile_name = 'analyst' ORDER BY setting_name",
    ],
  };
  // tsx by its path, and not from the repository: chDB reads a config.xml from its working directory.
  const result = spawnSync(process.execPath, ['--import', pathToFileURL(require.resolve('tsx')).href, join(__dirname, '..', 'helpers', 'chdb-access-probe.ts'), JSON.stringify(request)], {
    cwd: directory,
    env: { ...process.env, CLICKHOUSE_ANALYST_PASSWORD: 'analyst' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  const line = result.stdout.trim().split('\n').pop() ?? '';
  if (!line.startsWith('{')) throw new Error(`the probe printed no result: ${result.stderr}`);
  const answer = JSON.parse(line) as ProbeAnswer;
  if (!answer.ok) return { loaded: { ok: false, error: answer.error }, stderr: result.stderr };
  const [users, elements] = answer.results.map((statement) => ('rows' in statement ? statement.rows : []));
  return { loaded: { ok: true, users, elements: elements as Loaded['elements'] }, stderr: result.stderr };
}

test('the user, its database and its read-only profile with the limits load as the file says', () => {
  // clickhouse-local never turns on settings_constraints_replace_previous, which changeable_in_readonly
  // needs (a server does, by default): the constraints load here as `const`, names and all.
  const { loaded } = load(analystProfileAsChdbLoadsIt());
  expect(loaded.error).toBeUndefined();
  expect(loaded.users).toContainEqual({ name: 'analyst', default_database: 'sluice' });
  const values = Object.fromEntries((loaded.elements ?? []).filter((element) => element.value !== null).map((element) => [element.setting_name, element.value]));
  expect(values).toEqual({ readonly: '1', ...Object.fromEntries(Object.entries(analystLimits).map(([name, value]) => [name, String(value)])) });
  const constrained = (loaded.elements ?? []).filter((element) => element.writability !== null).map((element) => element.setting_name);
  expect(constrained).toEqual([...transportSettings, 'max_execution_time'].sort());
  // clickhouse-go's deadline may lower the time limit, never lift it.
  expect((loaded.elements ?? []).filter((element) => element.max !== null)).toMatchObject([{ setting_name: 'max_execution_time', max: String(analystLimits.max_execution_time) }]);
});

test('every constraint is changeable_in_readonly, the one kind chDB cannot load, and the loader stops at it', () => {
  const file = readFileSync(analystProfileFile, 'utf8');
  for (const name of transportSettings) expect(file).toContain(`<${name}><changeable_in_readonly/></${name}>`);
  expect(file).toContain(`<max_execution_time><max>${analystLimits.max_execution_time}</max><changeable_in_readonly/></max_execution_time>`);
  const { loaded, stderr } = load(file);
  expect(loaded.ok).toBe(false);
  expect(stderr).toContain('Setting changeable_in_readonly for enable_http_compression is not allowed unless settings_constraints_replace_previous is enabled');
});
