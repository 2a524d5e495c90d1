// The closing summary of `npm test` and `npm run test:containers` (scripts/test-summary.mjs, which
// scripts/bootstrap.mjs prints): a skipped test is counted as skipped and named with its reason,
// never counted as passed. The script is plain ESM Node, run here as bootstrap.mjs runs it.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const summaryModule = pathToFileURL(join(__dirname, '..', '..', 'scripts', 'test-summary.mjs')).href;

function summaryOf(results: unknown): string[] {
  const program = `import { summaryLines } from ${JSON.stringify(summaryModule)}; process.stdout.write(JSON.stringify(summaryLines(JSON.parse(process.argv[1]))));`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', program, JSON.stringify(results)], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`test-summary.mjs failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as string[];
}

test('a suite skipped where it cannot run is counted as skipped and named, with the reason its name gives', () => {
  // The shape of Jest's --json results for a passed test, a describe.skip of two tests and a test.skip.
  const suite = 'the cluster (skipped: clickhouse/clickhouse-server:25.8 is not on this machine (no registry))';
  const results = {
    numPassedTests: 1,
    numFailedTests: 0,
    numPendingTests: 3,
    numTodoTests: 0,
    testResults: [
      { assertionResults: [{ fullName: 'the images run as uid 10001', status: 'passed' }] },
      {
        assertionResults: [
          { fullName: `${suite} every node has the tables`, ancestorTitles: [suite], status: 'pending' },
          { fullName: `${suite} replicas copy rows`, ancestorTitles: [suite], status: 'pending' },
          { fullName: 'a test skipped alone', ancestorTitles: [], status: 'pending' },
        ],
      },
    ],
  };
  expect(summaryOf(results)).toEqual(['tests: 1 passed, 0 failed, 3 skipped', `skipped: ${suite} (2 tests)`, 'skipped: a test skipped alone (1 test)']);
});

test('a run with nothing skipped closes with the counts alone', () => {
  const results = { numPassedTests: 3, numFailedTests: 1, numPendingTests: 0, numTodoTests: 0, testResults: [{ assertionResults: [{ fullName: 'a', status: 'passed' }, { fullName: 'b', status: 'failed' }] }] };
  expect(summaryOf(results)).toEqual(['tests: 3 passed, 1 failed, 0 skipped']);
});
