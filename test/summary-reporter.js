/**
 * Prints one plain closing line, "N passed, N failed" (", N skipped" when some were), after jest's
 * own summary, so any CI can read the result without knowing jest.
 */
export default class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const line = `${results.numPassedTests} passed, ${results.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}`;
    process.stdout.write(`\n${line}\n`);
  }
}
