import assert from 'node:assert/strict';

/**
 * Reads `probe` every 50 ms until `ok` accepts its value, and returns that value; fails with `what` and the last
 * value after `timeout` ms. For state that settles a little later (the database after a keypress, a redrawn row).
 */
export async function eventually<T>(probe: () => T | Promise<T>, ok: (value: T) => boolean, what: string, timeout = 5000): Promise<T> {
  const until = Date.now() + timeout;
  let value = await probe();
  while (!ok(value)) {
    if (Date.now() > until) assert.fail(`${what}: still ${JSON.stringify(value)} after ${timeout} ms`);
    await new Promise((r) => setTimeout(r, 50));
    value = await probe();
  }
  return value;
}
