/**
 * ClickHouse's HTTP interface for analysts in embedded mode, with the ClickHouse JDBC driver
 * (com.clickhouse:clickhouse-jdbc from Maven Central, the driver DBeaver uses) run by the machine's
 * Java: test/clients/jdbc/JdbcCheck.java connects, runs a PreparedStatement, reads the views'
 * metadata as DBeaver's navigator does, gets answers in ClickHouse's LZ4 blocks (its default) and
 * gzip ones, reads Native and JSONEachRow through
 * client-v2 (the API the driver is built on), and has an INSERT and a CREATE refused. Every HTTP
 * request the driver makes goes through a recording proxy here, so the test sees what it sent.
 * The jars are fetched with Maven into .cache/jdbc on first use.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventsTopicConfig } from '@sluice/core';
import { createKafkaBus } from '@sluice/kafka';
import type { RunningService } from '@sluice/dev';
import { jdbcCheckProgram, jdbcJars, runJdbcCheck } from '../helpers/jdbc';
import { removeTestDirectory, testBrokers, testLogger, uniqueName } from '../helpers/pipeline';
import { freePort, startWorkerProcess } from '../helpers/processes';

const repositoryRoot = join(__dirname, '..', '..');

/** The snippet of docs/analysts.md; the check program runs it with the proxy's port. */
const documentedSnippet = `Properties properties = new Properties();
properties.setProperty("user", "analyst");
properties.setProperty("password", "");
String url = "jdbc:clickhouse://127.0.0.1:8123/sluice";
try (Connection connection = DriverManager.getConnection(url, properties);
     PreparedStatement statement = connection.prepareStatement("SELECT event_type, count() AS events FROM events WHERE dataset_id = ? GROUP BY event_type")) {
    statement.setString(1, "demo");
    try (ResultSet rows = statement.executeQuery()) {
        while (rows.next()) System.out.println(rows.getString("event_type") + " " + rows.getLong("events"));
    }
}`;

/** One exchange between the driver and the interface, as the proxy saw it. */
interface RecordedRequest {
  /** URL parameter names, sorted, query_id left out. */
  parameters: string[];
  format: string | undefined;
  database: string | undefined;
  acceptEncoding: string | undefined;
  sql: string;
  status: number;
  answerEncoding: string | undefined;
  exceptionCode: string | undefined;
  /** The byte after the first 16 of the answer: 0x82 opens ClickHouse's LZ4 block after its checksum. */
  blockMethod: number | undefined;
}

interface Refusal {
  code: number;
  state: string;
  message: string;
}

interface CheckSummary {
  server_version: string;
  prepared: { columns: string[]; rows: unknown[][]; sent_text: string };
  metadata: { views: string[]; ctr_daily_columns: string[] };
  insert_error: Refusal | null;
  create_error: Refusal | null;
  rejected_rows_added: number;
  tables_after: number;
  gzip_sum: number;
  native: { reader: string; rows: unknown[][]; format_header: string };
  json_each_row: string;
  documented_output: string;
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** Forwards every request to the interface on `target` unchanged, and notes what each carried. */
async function startRecordingProxy(target: number, recorded: RecordedRequest[]): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const body: Buffer[] = [];
    req.on('data', (chunk: Buffer) => body.push(chunk));
    req.on('end', () => {
      const sent = Buffer.concat(body);
      const upstream = request({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        const parameters = [...new URL(req.url ?? '/', 'http://proxy').searchParams.keys()].filter((name) => name !== 'query_id').sort();
        const exchange: RecordedRequest = {
          parameters,
          format: headerValue(req.headers, 'x-clickhouse-format'),
          database: headerValue(req.headers, 'x-clickhouse-database'),
          acceptEncoding: headerValue(req.headers, 'accept-encoding'),
          sql: sent.toString('utf8'),
          status: answer.statusCode ?? 0,
          answerEncoding: headerValue(answer.headers, 'content-encoding'),
          exceptionCode: headerValue(answer.headers, 'x-clickhouse-exception-code'),
          blockMethod: undefined,
        };
        recorded.push(exchange);
        const answerStart: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => {
          answerStart.push(chunk);
          exchange.blockMethod ??= Buffer.concat(answerStart).at(16);
        });
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', (error) => res.destroy(error));
      upstream.end(sent);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

let chdbPath: string;
let logDirectory: string;
let worker: RunningService | undefined;
let proxy: Server | undefined;
let interfaceUrl: string;
const requests: RecordedRequest[] = [];
let summary: CheckSummary;

beforeAll(async () => {
  chdbPath = mkdtempSync(join(tmpdir(), 'sluice-analyst-jdbc-chdb-'));
  logDirectory = mkdtempSync(join(tmpdir(), 'sluice-analyst-jdbc-logs-'));
  const topic = uniqueName('analyst-jdbc');
  await createKafkaBus({ brokers: testBrokers(), clientId: 'sluice-analyst-jdbc-test', logger: testLogger }).ensureTopics([{ name: topic, partitions: 4, config: eventsTopicConfig }]);
  const httpPort = await freePort();
  interfaceUrl = `http://127.0.0.1:${httpPort}`;
  await Promise.all([
    jdbcJars(),
    startWorkerProcess({ topic, groupId: uniqueName('analyst-jdbc-group'), adminPort: await freePort(), logDirectory, env: { CHDB_PATH: chdbPath, CLICKHOUSE_HTTP_PORT: String(httpPort) } }).then((started) => {
      worker = started;
    }),
  ]);
  const recording = await startRecordingProxy(httpPort, requests);
  proxy = recording.server;
  summary = await runJdbcCheck<CheckSummary>([String(recording.port)]);
}, 420_000);

afterAll(async () => {
  proxy?.closeAllConnections();
  await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
  await worker?.stop();
  removeTestDirectory(chdbPath);
  removeTestDirectory(logDirectory);
});

/** The requests whose body is `sql`: a statement the driver retried shows up once per attempt. */
function requestsFor(sql: string | RegExp): RecordedRequest[] {
  return requests.filter((recorded) => (typeof sql === 'string' ? recorded.sql === sql : sql.test(recorded.sql)));
}

test('the JDBC snippet in docs/analysts.md is the one the check runs, and it runs', () => {
  const guide = readFileSync(join(repositoryRoot, 'docs', 'analysts.md'), 'utf8');
  expect(guide).toContain(documentedSnippet);
  expect(readFileSync(jdbcCheckProgram, 'utf8')).toContain(documentedSnippet.replace('127.0.0.1:8123', '127.0.0.1:" + port + "').replace(/^/gm, '        '));
  // The fixture-less worker has no events: the query ran and printed no rows.
  expect(summary.documented_output).toBe('');
  expect(requestsFor("SELECT event_type, count() AS events FROM events WHERE dataset_id = 'demo' GROUP BY event_type").map((recorded) => recorded.status)).toEqual([200]);
});

test('connects as analyst: database and format travel as X-ClickHouse-Database and X-ClickHouse-Format, with no setting in the URL', () => {
  expect(summary.server_version).toMatch(/^\d+\.\d+/);
  expect(requests[0]).toMatchObject({ sql: 'SELECT version() as server_version', parameters: ['compress', 'wait_end_of_query'], format: 'RowBinaryWithNamesAndTypes', database: 'sluice', status: 200 });
  for (const recorded of requests) {
    expect(recorded.database).toBe('sluice');
    // compress=1, the driver's default, is a request parameter and no setting.
    expect(recorded.parameters.filter((name) => !name.startsWith('param_') && !['wait_end_of_query', 'compress'].includes(name))).toEqual([]);
  }
  // What DBeaver's navigator lists: the analyst views of docs/analysts.md, and their columns.
  expect(summary.metadata.views).toEqual(['conversion_daily', 'ctr_by_position', 'ctr_by_query', 'ctr_daily', 'item_ctr_by_position', 'outcomes_daily', 'search_conversion_daily', 'search_request_summary']);
  expect(summary.metadata.ctr_daily_columns.slice(0, 4)).toEqual(['dataset_id LowCardinality(String)', 'day Date', 'request_type String', 'searches UInt64']);
});

test('X-ClickHouse-Database and X-ClickHouse-Format win over database= and default_format=, as on a server', async () => {
  const query = encodeURIComponent('SELECT currentDatabase() AS db');
  const response = await fetch(`${interfaceUrl}/?query=${query}&database=system&default_format=JSONEachRow`, {
    headers: { 'X-ClickHouse-User': 'analyst', 'X-ClickHouse-Database': 'sluice', 'X-ClickHouse-Format': 'CSV' },
  });
  expect(response.headers.get('x-clickhouse-format')).toBe('CSV');
  expect(await response.text()).toBe('"sluice"\n');
  const byParameters = await fetch(`${interfaceUrl}/?query=${query}&database=system&default_format=JSONEachRow`, { headers: { 'X-ClickHouse-User': 'analyst' } });
  expect(await byParameters.text()).toBe('{"db":"system"}\n');
});

test("a PreparedStatement's values come back exactly: the driver writes them into the SQL as literals", () => {
  expect(summary.prepared.columns).toEqual(['n', 's', 'missing', 'db']);
  expect(summary.prepared.rows).toEqual([[42, summary.prepared.sent_text, null, 'sluice']]);
  const [prepared, ...others] = requestsFor(/^SELECT 41 AS n, /);
  expect(others).toEqual([]);
  // Answered in ClickHouse's LZ4 blocks (compress=1, the driver's default), whose checksums it checks.
  expect(prepared).toMatchObject({ parameters: ['compress'], format: 'RowBinaryWithNamesAndTypes', status: 200, answerEncoding: undefined, blockMethod: 0x82 });
  expect(prepared?.sql).toBe(`SELECT 41 AS n, 'it\\'s\ta \\\\ test \\\\N é "q"' AS s, NULL AS missing, currentDatabase() AS db`);
});

test('client-v2, bundled with the driver, reads Native with param_ values and JSONEachRow', () => {
  expect(summary.native.reader).toBe('NativeFormatReader');
  expect(summary.native.rows).toEqual([
    [5, summary.prepared.sent_text],
    [6, summary.prepared.sent_text],
  ]);
  expect(summary.native.format_header).toBe('Native');
  expect(requestsFor(/^SELECT \{n:UInt32\}/)).toMatchObject([{ parameters: ['compress', 'param_n', 'param_s'], format: 'Native', status: 200, blockMethod: 0x82 }]);
  expect(summary.json_each_row.trimEnd().split('\n').map((line) => JSON.parse(line) as unknown)).toEqual([
    { n: 0, db: 'sluice' },
    { n: 1, db: 'sluice' },
  ]);
  expect(requestsFor('SELECT number AS n, currentDatabase() AS db FROM numbers(2)').map((recorded) => [recorded.format, recorded.status])).toEqual([['JSONEachRow', 200]]);
});

test('answers come gzip-compressed to a connection that asks for them, and the driver reads them', () => {
  // Twice the sum of 0..9999: every row of numbers(10000), read as a number and as text.
  expect(summary.gzip_sum).toBe(99_990_000);
  expect(requestsFor('SELECT number, toString(number) AS text FROM numbers(10000)')).toMatchObject([{ acceptEncoding: 'gzip', answerEncoding: 'gzip', status: 200 }]);
  // The driver asks for no encoding of its own with compress=false, and gets none.
  expect(requests.filter((recorded) => recorded.acceptEncoding === undefined).every((recorded) => recorded.answerEncoding === undefined)).toBe(true);
});

test('an INSERT and a CREATE are refused with READONLY (164) as SQLException error codes, and nothing changes', () => {
  expect(summary.insert_error).toMatchObject({ code: 164, message: expect.stringMatching(/^Code: 164\. DB::Exception: .*\(READONLY\)/) as unknown });
  expect(summary.create_error).toMatchObject({ code: 164, message: expect.stringMatching(/^Code: 164\. DB::Exception: .*\(READONLY\)/) as unknown });
  // client-v2 counts 164 as retryable (a replica can be read-only for a while), so each statement
  // is sent more than once; every attempt is refused.
  for (const sql of ["INSERT INTO events_rejected (reason) VALUES ('x')", 'CREATE TABLE sneaky (a UInt8) ENGINE = Memory']) {
    const attempts = requestsFor(sql);
    expect(attempts.length).toBeGreaterThan(0);
    for (const attempt of attempts) expect(attempt).toMatchObject({ status: 403, exceptionCode: '164' });
  }
  expect(summary.rejected_rows_added).toBe(0);
  expect(summary.tables_after).toBe(1);
});
