/**
 * ClickHouse's HTTP interface for analysts in embedded mode, with Python's official client,
 * clickhouse-connect from PyPI, as a third-party client the interface was not written against:
 * test/clients/clickhouse_connect_check.py connects, runs a parameterised query read in Native
 * (the client's default) and one in JSONEachRow, gets zstd, lz4 and gzip answers, and has an
 * INSERT (lz4-compressed, its default) and a CREATE refused. The client runs from a venv this
 * test makes under .cache on first use.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventsTopicConfig } from '@sluice/core';
import { createKafkaBus } from '@sluice/kafka';
import type { RunningService } from '../../scripts/service-process';
import { removeTestDirectory, testBrokers, testLogger, uniqueName } from '../helpers/pipeline';
import { freePort, startWorkerProcess } from '../helpers/processes';
import { clickhouseConnectPython, runFile } from '../helpers/python';

const repositoryRoot = join(__dirname, '..', '..');
const checkScript = join(repositoryRoot, 'test', 'clients', 'clickhouse_connect_check.py');

/** The snippet of docs/analysts.md; the check script runs it with the worker's port. */
const documentedSnippet = `client = clickhouse_connect.get_client(host='127.0.0.1', port=8123, username='analyst', password='', database='sluice')
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
  write_compression: string;
  compressed: Record<string, { encoding: string | null; rows: number; last: unknown[] }>;
  documented_rows: unknown[];
}

let chdbPath: string;
let logDirectory: string;
let worker: RunningService | undefined;
let summary: CheckSummary;

beforeAll(async () => {
  chdbPath = mkdtempSync(join(tmpdir(), 'sluice-analyst-python-chdb-'));
  logDirectory = mkdtempSync(join(tmpdir(), 'sluice-analyst-python-logs-'));
  const topic = uniqueName('analyst-python');
  await createKafkaBus({ brokers: testBrokers(), clientId: 'sluice-analyst-python-test', logger: testLogger }).ensureTopics([{ name: topic, partitions: 4, config: eventsTopicConfig }]);
  const httpPort = await freePort();
  const [interpreter] = await Promise.all([
    clickhouseConnectPython(),
    startWorkerProcess({ topic, groupId: uniqueName('analyst-python-group'), adminPort: await freePort(), logDirectory, env: { CHDB_PATH: chdbPath, CLICKHOUSE_HTTP_PORT: String(httpPort) } }).then((started) => {
      worker = started;
    }),
  ]);
  const { stdout } = await runFile(interpreter, [checkScript, String(httpPort)], { timeout: 60_000 });
  // The documented snippet prints its rows first; the summary is the last line.
  summary = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as CheckSummary;
}, 420_000);

afterAll(async () => {
  await worker?.stop();
  removeTestDirectory(chdbPath);
  removeTestDirectory(logDirectory);
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

test('a parameterised query comes back in Native, zstd-compressed (its defaults, as from ClickHouse), and JSONEachRow reads as JSON', () => {
  expect(summary.query_requests.map((request) => request.parameters)).toEqual([
    ['database', 'param_n', 'param_s', 'wait_end_of_query'],
    ['database', 'wait_end_of_query'],
  ]);
  expect(summary.native.columns).toEqual(['n', 's', 'db']);
  expect(summary.native.rows).toEqual([[5, summary.native.sent_text, 'sluice']]);
  expect(summary.native.encoding).toBe('zstd');
  expect(summary.json_each_row).toEqual([{ n: 0 }, { n: 1 }]);
});

test('told compress=lz4, zstd or gzip, it gets its answers so, and reads them', () => {
  for (const method of ['lz4', 'zstd', 'gzip']) expect(summary.compressed[method]).toEqual({ encoding: method, rows: 3000, last: [2999, '2999'.repeat(50)] });
});

test('an INSERT, its body lz4-compressed as by default, and a CREATE are refused with READONLY (164), and nothing changes', () => {
  // Refused for what it is, so its body was read: an lz4 body used to be refused with 415.
  expect(summary.write_compression).toBe('lz4');
  expect(summary.insert_code).toBe(164);
  expect(summary.create_code).toBe(164);
  expect(summary.tables_after).toBe(1);
});
