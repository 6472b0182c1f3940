import { test } from 'node:test';
import assert from 'node:assert/strict';
import { providerPlan, providerStatuses } from '../../../core/models/executionProviders.js';

test('every provider has a status with a reason, and the CPU is always usable', () => {
  const statuses = providerStatuses();
  assert.deepEqual(statuses.map((s) => s.name), ['cuda', 'dml', 'webgpu', 'coreml', 'cpu']);
  for (const s of statuses) assert.ok(s.reason.length > 10, `${s.name} says why`);
  assert.equal(statuses.at(-1)!.usable, true);
});

test('auto tries usable providers best first and always ends with the CPU', () => {
  const plan = providerPlan('auto');
  assert.equal(plan.tryOrder.at(-1), 'cpu');
  for (const skipped of plan.skipped) assert.ok(!plan.tryOrder.includes(skipped.name));
});

test('an explicit provider that cannot run here fails before any work, saying why and what to use', () => {
  const unusable = providerStatuses().find((s) => !s.usable);
  if (!unusable) return; // every provider usable: nothing to check on this machine
  assert.throws(() => providerPlan(unusable.name), new RegExp(`The ${unusable.name} execution provider cannot run here: .*--ep auto or --ep cpu`));
  assert.throws(() => providerPlan('tpu' as never), /Unknown execution provider "tpu"/);
});

test('without the CUDA libraries, the reason names the command that installs them', () => {
  const cuda = providerStatuses().find((s) => s.name === 'cuda')!;
  if (cuda.usable || !cuda.onThisPlatform) return;
  assert.match(cuda.reason, /npm run gpu:cuda/);
});
