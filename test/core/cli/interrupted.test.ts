import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reportInterrupted } from '../../../core/cli/options.js';

test('a job stopped by Ctrl-C exits 130 and says how to resume; a finished one leaves the exit code alone', (t) => {
  const errors: string[] = [];
  t.mock.method(console, 'error', (line: string) => errors.push(line));
  const saved = process.exitCode;
  try {
    process.exitCode = undefined;
    reportInterrupted(new AbortController().signal);
    assert.equal(process.exitCode, undefined);
    assert.deepEqual(errors, []);
    const stopped = new AbortController();
    stopped.abort();
    reportInterrupted(stopped.signal);
    assert.equal(process.exitCode, 130);
    assert.match(errors.join('\n'), /Interrupted: what finished is saved; run the same command again to resume/);
  } finally {
    process.exitCode = saved;
  }
});
