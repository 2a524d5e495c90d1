// The closing lines of `npm test` and `npm run test:containers`, from Jest's --json results: the
// counts, then what did not run, by the name of its describe block (or of the test alone). A suite
// that cannot run on a machine (the real ClickHouse cluster where its images are missing) skips its
// tests with the reason in its name, so the reason is printed here, and they count as skipped,
// never as passed.

/**
 * @param {{ numPassedTests: number, numFailedTests: number, numPendingTests: number, numTodoTests: number,
 *   testResults?: { assertionResults?: { fullName: string, ancestorTitles?: string[], status: string }[] }[] }} results
 */
export function summaryLines(results) {
  const skipped = new Map();
  for (const file of results.testResults ?? []) {
    for (const test of file.assertionResults ?? []) {
      if (test.status === 'passed' || test.status === 'failed') continue;
      const name = (test.ancestorTitles ?? []).join(' > ') || test.fullName;
      skipped.set(name, (skipped.get(name) ?? 0) + 1);
    }
  }
  return [
    `tests: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${results.numPendingTests + results.numTodoTests} skipped`,
    ...[...skipped].map(([name, count]) => `skipped: ${name} (${count} ${count === 1 ? 'test' : 'tests'})`),
  ];
}
