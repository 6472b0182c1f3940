import { test } from 'node:test';
import assert from 'node:assert/strict';
import { averageRanks, pearson, spearman } from '../../../core/analysis/correlation.js';

test('average ranks share ties', () => {
  assert.deepEqual(averageRanks([10, 20, 20, 5]), [1, 2.5, 2.5, 0]);
});

test('Pearson and Spearman match hand-computed values', () => {
  assert.equal(pearson([1, 2, 3], [2, 4, 6]), 1);
  assert.equal(pearson([1, 2, 3], [3, 2, 1]), -1);
  // x = 1..5, y = [2, 1, 4, 3, 5]: ranks differ by d = [1, -1, 1, -1, 0], sum d^2 = 4, rho = 1 - 6*4/(5*24) = 0.8
  assert.ok(Math.abs(spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) - 0.8) < 1e-12);
  // Monotone but non-linear: Spearman 1, Pearson below 1.
  assert.equal(spearman([1, 2, 3, 4], [1, 8, 27, 64]), 1);
  assert.ok(pearson([1, 2, 3, 4], [1, 8, 27, 64]) < 1);
  assert.ok(Number.isNaN(pearson([1, 1, 1], [1, 2, 3])), 'constant input has no correlation');
  assert.ok(Number.isNaN(pearson([1, 2], [1])), 'mismatched lengths');
});
