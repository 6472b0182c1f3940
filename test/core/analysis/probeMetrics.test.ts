import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { accuracy, foldInterval, meanAbsoluteError, ordinalEmd, probeMetrics, summarizeFolds } from '../../../core/analysis/probeMetrics.js';
import { repoRoot } from '../../helpers/paths.js';

// Written by scripts/analysis/make_probe_reference.py (scipy.stats, sklearn.metrics).
interface MetricsFixture {
  classes: number;
  target: number[];
  predicted: number[];
  targetClass: number[];
  predictedClass: number[];
  predictedDistribution: number[];
  targetDistribution: number[];
  spearman: number;
  pearson: number;
  qwk: number;
  accuracy: number;
  mae: number;
  emdPerRow: number[];
  emd: number;
  foldValues: number[];
  interval: { mean: number; lo: number; hi: number };
}
const fx = JSON.parse(readFileSync(path.join(repoRoot, 'test/fixtures/analysis/probe-metrics.json'), 'utf8')) as MetricsFixture;

const close = (a: number | null, b: number, tol = 1e-12) => assert.ok(a !== null && Math.abs(a - b) <= tol, `${a} vs reference ${b}`);

test('probe metrics match scipy and scikit-learn on the reference predictions', () => {
  const m = probeMetrics({ ...fx, classes: fx.classes });
  close(m.spearman, fx.spearman);
  close(m.pearson, fx.pearson);
  close(m.qwk, fx.qwk);
  close(m.accuracy, fx.accuracy);
  close(m.mae, fx.mae);
  close(m.emd, fx.emd, 1e-12);
});

test('ordinal EMD is the area between the CDFs (scipy wasserstein_distance on class positions)', () => {
  const k = fx.classes;
  fx.emdPerRow.forEach((expected, i) => {
    close(ordinalEmd(fx.predictedDistribution.slice(i * k, (i + 1) * k), fx.targetDistribution.slice(i * k, (i + 1) * k)), expected, 1e-12);
  });
  assert.equal(ordinalEmd([1, 0, 0], [0, 0, 1]), 2, 'all mass moved two classes');
  assert.equal(ordinalEmd([2, 0], [1, 0]), 0, 'unnormalised inputs are normalised');
  assert.throws(() => ordinalEmd([1, 0], [1, 0, 0]), /2 and 3 classes/);
});

test('fold intervals are t-intervals (scipy.stats.t.interval)', () => {
  const r = foldInterval(fx.foldValues);
  close(r.mean, fx.interval.mean);
  close(r.lo, fx.interval.lo, 1e-9);
  close(r.hi, fx.interval.hi, 1e-9);
  assert.equal(r.folds, 5);
  // A fold without a value (e.g. a constant prediction) is left out, not counted as zero.
  const withGap = foldInterval([...fx.foldValues, null]);
  close(withGap.mean, fx.interval.mean);
  assert.equal(withGap.folds, 5);
  assert.deepEqual(foldInterval([0.5]), { mean: 0.5, lo: null, hi: null, folds: 1 });
  assert.deepEqual(foldInterval([null]), { mean: null, lo: null, hi: null, folds: 0 });
});

test('undefined metrics are null, not a number', () => {
  const m = probeMetrics({ predicted: [2, 2, 2], target: [1, 2, 3], predictedClass: [1, 1, 1], targetClass: [0, 1, 2], classes: 3 });
  assert.equal(m.spearman, null, 'constant prediction has no rank correlation');
  assert.equal(m.pearson, null);
  assert.equal(m.emd, null, 'no distributions given');
  assert.equal(m.accuracy, 1 / 3);
  assert.equal(m.mae, 2 / 3);
  assert.equal(accuracy([], []), null);
  assert.equal(meanAbsoluteError([], []), null);
  const summary = summarizeFolds([m, m]);
  assert.equal(summary.spearman.mean, null);
  assert.equal(summary.accuracy.mean, 1 / 3);
  assert.equal(summary.accuracy.lo, 1 / 3, 'identical folds: zero-width interval');
  // Folds near a perfect correlation: the t-interval would pass 1; the summary clips it to what Spearman can be.
  const high = { ...m, spearman: 0.99 };
  const clipped = summarizeFolds([high, { ...m, spearman: 0.7 }]);
  assert.ok(foldInterval([0.99, 0.7]).hi! > 1);
  assert.equal(clipped.spearman.hi, 1);
});
