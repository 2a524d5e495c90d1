/**
 * ClickHouse's HTTP interface for analysts with Python's official client, clickhouse-connect from
 * PyPI, as a third-party client the interface was not written against, through both doors: the
 * worker's own interface in embedded mode and user `analyst` of the chDB front a server-mode
 * worker writes to. test/clients/clickhouse_connect_check.py connects, runs a parameterised query
 * read in Native (the client's default) and one in JSONEachRow, reads Native in its protocol
 * revision over many types, gets zstd, lz4 and gzip answers, and has an INSERT (lz4-compressed, its
 * default) and a CREATE refused. The client runs from a venv this test makes under .cache on first use.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { analystTargets, type AnalystTarget } from "../helpers/analyst-targets";
import { clickhouseConnectPython, runFile } from "../helpers/python";

const repositoryRoot = join(__dirname, "..", "..");
const checkScript = join(
  repositoryRoot,
  "test",
  "clients",
  "clickhouse_connect_check.py",
);

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
  native: {
    columns: string[];
    rows: unknown[][];
    sent_text: string;
    encoding: string | null;
  };
  json_each_row: unknown[];
  protocol_version: number;
  typed: { columns: string[]; types: string[]; rows: unknown[][] };
  query_requests: RecordedRequest[];
  insert_code: number | null;
  create_code: number | null;
  tables_after: number;
  write_compression: string;
  compressed: Record<
    string,
    { encoding: string | null; rows: number; last: unknown[] }
  >;
  documented_rows: unknown[];
}

describe.each(analystTargets)("%s", (_door, start) => {
  let target: AnalystTarget | undefined;
  let summary: CheckSummary;

  beforeAll(async () => {
    const [interpreter, started] = await Promise.all([
      clickhouseConnectPython(),
      start("analyst-python"),
    ]);
    target = started;
    const { stdout } = await runFile(
      interpreter,
      [checkScript, String(started.port)],
      { timeout: 60_000 },
    );
    // The documented snippet prints its rows first; the summary is the last line.
    summary = JSON.parse(
      stdout.trim().split("\n").at(-1) ?? "",
    ) as CheckSummary;
  }, 420_000);

  afterAll(async () => {
    await target?.stop();
  });

  test("the Python snippet in docs/analysts.md is the one the check runs, and it runs", () => {
    const guide = readFileSync(
      join(repositoryRoot, "docs", "analysts.md"),
      "utf8",
    );
    expect(guide).toContain(documentedSnippet);
    expect(readFileSync(checkScript, "utf8")).toContain(
      documentedSnippet
        .replace("port=8123", "port=port")
        .replace(/^/gm, "    "),
    );
    expect(summary.documented_rows).toEqual([]);
  });

  test("connects as a read-only user, and its client_protocol_version probe is accepted", () => {
    expect(summary.server_version).toMatch(/^\d+\.\d+/);
    // It reads system.settings, sees every setting read-only, and so sends none in the URL.
    expect(
      summary.connect_requests.filter((request) => request.status !== 200),
    ).toEqual([]);
    expect(
      summary.connect_requests.map((request) => request.parameters),
    ).toContainEqual([
      "client_protocol_version",
      "database",
      "wait_end_of_query",
    ]);
    // The probe reads `SELECT 1 AS check` in Native and checks the bytes a server writes for 54405.
    expect(summary.protocol_version).toBe(54405);
  });

  test("a parameterised query comes back in Native, zstd-compressed (its defaults, as from ClickHouse), and JSONEachRow reads as JSON", () => {
    // Queries it reads in Native send the revision; a raw query in another format does not.
    expect(summary.query_requests.map((request) => request.parameters)).toEqual(
      [
        [
          "client_protocol_version",
          "database",
          "param_n",
          "param_s",
          "wait_end_of_query",
        ],
        ["database", "wait_end_of_query"],
        ["client_protocol_version", "database", "wait_end_of_query"],
      ],
    );
    expect(summary.native.columns).toEqual(["n", "s", "db"]);
    expect(summary.native.rows).toEqual([
      [5, summary.native.sent_text, "sluice"],
    ]);
    expect(summary.native.encoding).toBe("zstd");
    expect(summary.json_each_row).toEqual([{ n: 0 }, { n: 1 }]);
  });

  test("told compress=lz4, zstd or gzip, it gets its answers so, and reads them", () => {
    for (const method of ["lz4", "zstd", "gzip"])
      expect(summary.compressed[method]).toEqual({
        encoding: method,
        rows: 3000,
        last: [2999, "2999".repeat(50)],
      });
  });

  test("Native in the client's revision reads right over many types, LowCardinality, Nullable and nesting included, in two blocks", () => {
    expect(summary.typed.types).toEqual([
      "UInt64",
      "String",
      "Nullable(String)",
      "Array(Nullable(Int32))",
      "Map(String, Array(UInt64))",
      "LowCardinality(String)",
      "LowCardinality(Nullable(String))",
      "Array(LowCardinality(String))",
      "Decimal(18, 4)",
      "DateTime64(3, 'UTC')",
      "Array(DateTime('Asia/Tokyo'))",
      "UUID",
      "Tuple(`a` UInt64, `b` String)",
      "Enum8('a' = 1, 'b' = 2)",
      "IPv4",
      "IPv6",
      "Bool",
      "Date",
      "Int128",
    ]);
    const awkward = `tab\t "q" 's' back\\slash\nline${"é".repeat(100)}`;
    const row = (
      n: number,
      s: string,
      ns: string | null,
      m: number[],
      lc: string,
      lcn: string | null,
      e: string,
    ): unknown[] => [
      n,
      s,
      ns,
      [n, null, -7],
      { [`k${n}`]: m },
      lc,
      lcn,
      ["a", String(n)],
      `${n}.1234`,
      `2024-02-29 12:34:5${6 + n}.789000`,
      ["2024-01-01 00:00:00+09:00"],
      "00112233-4455-6677-8899-aabbccddeeff",
      { a: n, b: "y" },
      e,
      "10.0.0.1",
      "::1",
      n % 2 === 1,
      `2024-01-0${1 + n}`,
      n - 5,
    ];
    expect(summary.typed.rows).toEqual([
      row(0, "", "0", [], "red", "x", "a"),
      row(1, awkward, null, [0], "green", "x", "b"),
      row(2, "😀 \0 nul", "2", [0, 1], "red", null, "a"),
    ]);
  });

  test("an INSERT, its body lz4-compressed as by default, and a CREATE are refused with READONLY (164), and nothing changes", () => {
    // Refused for what it is, so its body was read: an lz4 body used to be refused with 415.
    expect(summary.write_compression).toBe("lz4");
    expect(summary.insert_code).toBe(164);
    expect(summary.create_code).toBe(164);
    expect(summary.tables_after).toBe(1);
  });
});
