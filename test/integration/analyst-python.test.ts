/**
 * ClickHouse's HTTP interface for analysts with Python's official client, clickhouse-connect from
 * PyPI, as a third-party client the interface was not written against, through both doors: the
 * worker's own interface in embedded mode and user `analyst` of the chDB front a server-mode
 * worker writes to. test/clients/clickhouse_connect_check.py connects, runs a parameterised query
 * read in Native (the client's default) and one in JSONEachRow, gets gzip answers, and has an
 * INSERT and a CREATE refused. The client runs from a venv this test makes under .cache on first use.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { analystTargets, type AnalystTarget } from '../helpers/analyst-targets';

const run = promisify(execFile);
const repositoryRoot = join(__dirname, '..', '..');
const pinnedVersion = '1.12.0';
const venv = join(repositoryRoot, '.cache', 'python', 'clickhouse-connect');
const python = join(venv, 'bin', 'python');
const checkScript = join(repositoryRoot, 'test', 'clients', 'clickhouse_connect_check.py');

/** The snippet of docs/analysts.md; the check script runs it with the worker's port. */
const documentedSnippet = `client = clickhouse_connect.get_client(host='127.0.0.1', port=8123, username='analyst', password='', database='sluice', compress='gzip')
result = client.query('SELECT event_type, count() AS events FROM events WHERE dataset_id = {dataset:String} GROUP BY event_type', parameters={'dataset': 'demo'})
print(result.result_rows)`;

interface RecordedRequest {
  parameters: string[];
  status: number;
  encoding: string | null;
}

interface CheckSummary {
  server_version: string;
  connect_requests: RecordedRequest[];
  native: { columns: string[]; rows: unknown[][]; sent_text: string; encoding: string | null };
  json_each_row: unknown[];
  query_requests: RecordedRequest[];
  insert_code: number | null;
  create_code: number | null;
  tables_after: number;
  documented_rows: unknown[];
}

/** The venv with the pinned clickhouse-connect: reused when it has that version, made otherwise. */
async function clickhouseConnectPython(): Promise<string> {
  const installed = existsSync(python) ? await run(python, ['-c', 'import clickhouse_connect; print(clickhouse_connect.__version__)']).then(({ stdout }) => stdout.trim(), () => undefined) : undefined;
  if (installed === pinnedVersion) return python;
  mkdirSync(join(repositoryRoot, '.cache', 'python'), { recursive: true });
  await run('python3', ['-m', 'venv', venv]);
  await run(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', `clickhouse-connect==${pinnedVersion}`], { timeout: 300_000 });
  return python;
}

describe.each(analystTargets)('%s', (_door, start) => {
  let target: AnalystTarget | undefined;
  let summary: CheckSummary;

  beforeAll(async () => {
    const [interpreter, started] = await Promise.all([clickhouseConnectPython(), start('analyst-python')]);
    target = started;
    const { stdout } = await run(interpreter, [checkScript, String(started.port)], { timeout: 60_000 });
    // The documented snippet prints its rows first; the summary is the last line.
    summary = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as CheckSummary;
  }, 420_000);

  afterAll(async () => {
    await target?.stop();
  });

  test('the Python snippet in docs/analysts.md is the one the check runs, and it runs', () => {
    const guide = readFileSync(join(repositoryRoot, 'docs', 'analysts.md'), 'utf8');
    expect(guide).toContain(documentedSnippet);
    expect(readFileSync(checkScript, 'utf8')).toContain(documentedSnippet.replace('port=8123', 'port=port').replace(/^/gm, '    '));
    expect(summary.documented_rows).toEqual([]);
  });

  test('connects as a read-only user: the one refused request is the client_protocol_version probe, which it does without', () => {
    expect(summary.server_version).toMatch(/^\d+\.\d+/);
    // It reads system.settings, sees every setting read-only, and so sends none in the URL.
    expect(summary.connect_requests.filter((request) => request.status !== 200)).toEqual([{ parameters: ['client_protocol_version', 'database', 'wait_end_of_query'], status: 403, encoding: null }]);
    for (const request of summary.query_requests) expect(request.parameters.filter((name) => !name.startsWith('param_'))).toEqual(['database', 'wait_end_of_query']);
  });

  test('a parameterised query comes back in Native, gzip-compressed, and JSONEachRow reads as JSON', () => {
    expect(summary.query_requests.map((request) => request.parameters)).toEqual([
      ['database', 'param_n', 'param_s', 'wait_end_of_query'],
      ['database', 'wait_end_of_query'],
    ]);
    expect(summary.native.columns).toEqual(['n', 's', 'db']);
    expect(summary.native.rows).toEqual([[5, summary.native.sent_text, 'sluice']]);
    expect(summary.native.encoding).toBe('gzip');
    expect(summary.json_each_row).toEqual([{ n: 0 }, { n: 1 }]);
  });

  test('an INSERT and a CREATE are refused with READONLY (164), and nothing changes', () => {
    expect(summary.insert_code).toBe(164);
    expect(summary.create_code).toBe(164);
    expect(summary.tables_after).toBe(1);
  });
});
