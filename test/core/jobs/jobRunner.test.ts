import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JobRunner, type JobSnapshot } from '../../../core/jobs/jobRunner.js';

test('progress, time left from the phase rate, failures and the final summary', async () => {
  let clock = 1_000_000;
  const updates: JobSnapshot[] = [];
  const runner = new JobRunner({ now: () => clock, throttleMs: 0, onUpdate: (j) => updates.push(j) });
  let step!: () => void;
  const job = runner.start('score', { model: 'm' }, async (ctx) => {
    ctx.onProgress({ job: 'score', phase: 'scan', done: 5, total: null });
    ctx.onProgress({ job: 'score', phase: 'infer', done: 0, total: 100 });
    clock += 10_000;
    ctx.onProgress({ job: 'score', phase: 'infer', done: 20, total: 100 });
    ctx.fail({ path: '/a.png', error: 'cannot decode image' });
    await new Promise<void>((resolve) => (step = resolve));
    return { summary: { scored: 99 }, failures: [{ path: '/b.png', error: 'NaN output' }] };
  });
  assert.equal(job.status, 'running');
  await new Promise((r) => setImmediate(r));
  const mid = runner.get(job.id)!;
  // 20 images in 10 s in this phase: 80 left take 40 s. The scan phase's count does not enter the rate.
  assert.deepEqual([mid.phase, mid.done, mid.total, mid.secondsLeft], ['infer', 20, 100, 40]);
  assert.ok(updates.some((u) => u.phase === 'scan' && u.total === null && u.secondsLeft === null));
  step();
  const done = await runner.whenFinished(job.id);
  assert.deepEqual([done.status, done.phase, done.secondsLeft, done.error], ['done', 'done', 0, null]);
  assert.deepEqual(done.failures, [
    { path: '/a.png', error: 'cannot decode image' },
    { path: '/b.png', error: 'NaN output' },
  ]);
  assert.deepEqual(done.summary, { scored: 99 });
  assert.equal(updates[updates.length - 1]!.status, 'done');
});

test('jobs run one at a time; an error fails only its job; cancel reaches a running job through its signal', async () => {
  const runner = new JobRunner({ throttleMs: 0 });
  const order: string[] = [];
  const failing = runner.start('index', {}, async () => {
    order.push('a');
    throw new Error('Folder not found: /x');
  });
  const waiting = runner.start('embed', {}, async (ctx) => {
    order.push('b');
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
    return { summary: { interrupted: true } };
  });
  assert.equal(runner.get(waiting.id)!.phase, 'queued');
  assert.equal((await runner.whenFinished(failing.id)).error, 'Folder not found: /x');
  assert.equal((await runner.whenFinished(failing.id)).status, 'failed');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(order, ['a', 'b']);
  const third = runner.start('score', {}, async () => {
    order.push('c');
    return { summary: null };
  });
  assert.equal(runner.cancel(third.id).status, 'cancelled', 'a queued job is cancelled at once');
  assert.equal(runner.cancel(waiting.id).phase, 'cancelling');
  const stopped = await runner.whenFinished(waiting.id);
  assert.deepEqual([stopped.status, stopped.summary], ['cancelled', { interrupted: true }]);
  assert.deepEqual(order, ['a', 'b'], 'the cancelled queued job never ran');
  assert.deepEqual(runner.list().map((j) => j.id), [third.id, waiting.id, failing.id]);
  assert.throws(() => runner.cancel(999), /No job with id 999/);
  await runner.close();
  assert.throws(() => runner.start('score', {}, async () => ({ summary: null })), /closing/);
});
