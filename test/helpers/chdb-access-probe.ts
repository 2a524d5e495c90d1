/**
 * Run as a child process by test/integration/analyst-grants.test.ts, because chDB reads its
 * configuration once per process: each users configuration gets a process of its own. The request
 * is one JSON argument, the answer one JSON line on stdout.
 *
 * - `seed`: migrates a fresh data directory and stores the analytics seed for each dataset.
 * - `query`: opens the directory with `--config-file` (a config whose users_config is the users
 *   under test), runs each statement as chDB's one user, `default`, and answers its rows
 *   (JSONEachRow) or its ClickHouse error code and message.
 */
import { Session } from 'chdb';
import { errorMessage, silentLogger } from '@sluice/core';
import { applyMigrations, clickHouseErrorCode, openClickHouse } from '@sluice/clickhouse';
import { analyticsSeedRows } from './analytics-seed';

export type ProbeRequest =
  | { kind: 'seed'; dataPath: string; database: string; datasets: readonly string[] }
  | { kind: 'query'; dataPath: string; configFile: string; statements: readonly string[] };

export type StatementResult = { rows: Record<string, unknown>[] } | { error: { code: number | undefined; message: string } };

export type ProbeAnswer = { ok: true; results: StatementResult[] } | { ok: false; error: string };

async function seed(request: Extract<ProbeRequest, { kind: 'seed' }>): Promise<void> {
  const clickhouse = await openClickHouse({ dataPath: request.dataPath, database: request.database, logger: silentLogger });
  try {
    await applyMigrations(clickhouse, silentLogger);
    for (const datasetId of request.datasets) await clickhouse.insertRows('events', analyticsSeedRows(datasetId));
  } finally {
    await clickhouse.close();
  }
}

function query(request: Extract<ProbeRequest, { kind: 'query' }>): StatementResult[] {
  const session = new Session(request.dataPath, { connectionArgs: [`--config-file=${request.configFile}`] });
  try {
    return request.statements.map((statement) => {
      try {
        const text = session.query(statement, 'JSONEachRow');
        return { rows: text.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>) };
      } catch (error) {
        return { error: { code: clickHouseErrorCode(error), message: errorMessage(error) } };
      }
    });
  } finally {
    session.close();
  }
}

async function main(): Promise<void> {
  const request = JSON.parse(process.argv[2] ?? '') as ProbeRequest;
  let answer: ProbeAnswer;
  try {
    if (request.kind === 'seed') {
      await seed(request);
      answer = { ok: true, results: [] };
    } else {
      answer = { ok: true, results: query(request) };
    }
  } catch (error) {
    answer = { ok: false, error: errorMessage(error) };
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
}

void main();
