import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  fitLogistic,
  fitOrdinal,
  fitRidge,
  knnClassProba,
  knnRegress,
  outOfFoldProbabilities,
  predictLogisticProba,
  predictOrdinalProba,
  predictRidge,
  probeNeighbours,
  ridgeDualPath,
  ridgeStatistics,
  chooseRidgeAlpha,
  solveRidge,
  splitFold,
  stratifiedFolds,
  subtractRidgeStatistics,
} from '../../../core/analysis/probeHeads.js';
import { SeededRandom } from '../../../core/synth/random.js';
import { repoRoot } from '../../helpers/paths.js';

// Written by scripts/analysis/make_probe_reference.py (scikit-learn 1.2 / scipy).
interface HeadsFixture {
  nTrain: number;
  nTest: number;
  dim: number;
  classes: number;
  vectors: number[];
  target: number[];
  labels: number[];
  ridge: { alpha: number; coef: number[]; intercept: number; predictions: number[] };
  logistic: { C: number; coef: number[][]; intercept: number[]; proba: number[][] };
  ordinal: { l2: number; coef: number[]; thresholds: number[]; proba: number[][] };
  knn: { k: number; distanceRegression: number[]; uniformRegression: number[]; distanceProba: number[][] };
}
const fixture = JSON.parse(readFileSync(path.join(repoRoot, 'test/fixtures/analysis/probe-heads.json'), 'utf8')) as HeadsFixture;
const vectors = Float64Array.from(fixture.vectors);
const labels = Int32Array.from(fixture.labels);
const trainRows = Int32Array.from({ length: fixture.nTrain }, (_, i) => i);
const testRows = Int32Array.from({ length: fixture.nTest }, (_, i) => fixture.nTrain + i);

function assertClose(actual: ArrayLike<number>, expected: readonly number[], tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const diff = Math.abs(actual[i]! - expected[i]!);
    assert.ok(diff <= tolerance, `${what}[${i}]: ${actual[i]} vs reference ${expected[i]} (difference ${diff.toExponential(2)} > ${tolerance})`);
  }
}

test('ridge on standardised features matches scikit-learn StandardScaler + Ridge', () => {
  const model = fitRidge(vectors, fixture.dim, trainRows, fixture.target, fixture.ridge.alpha);
  assertClose(model.coef, fixture.ridge.coef, 1e-9, 'coef');
  assert.ok(Math.abs(model.intercept - fixture.ridge.intercept) < 1e-9);
  assertClose(predictRidge(model, vectors, fixture.dim, testRows), fixture.ridge.predictions, 1e-9, 'predictions');
});

test('ridge statistics of a training fold equal all rows minus the test fold', () => {
  const all = Int32Array.from({ length: fixture.nTrain + fixture.nTest }, (_, i) => i);
  const shift = new Float64Array(fixture.dim).fill(3);
  const whole = ridgeStatistics(vectors, fixture.dim, all, fixture.target, shift);
  const held = ridgeStatistics(vectors, fixture.dim, testRows, fixture.target, shift);
  const model = solveRidge(subtractRidgeStatistics(whole, held), fixture.ridge.alpha);
  assertClose(model.coef, fixture.ridge.coef, 1e-8, 'coef via subtraction');
  assertClose(predictRidge(model, vectors, fixture.dim, testRows), fixture.ridge.predictions, 1e-8, 'predictions via subtraction');
});

test('with fewer images than features, the dual ridge solve gives the primal solution', () => {
  const rng = new SeededRandom(4);
  const dim = 40;
  const n = 25;
  const x = Float64Array.from({ length: n * dim }, () => rng.normal() * 2 + 1);
  const y = Float64Array.from({ length: n }, () => rng.normal());
  const rows = Int32Array.from({ length: n }, (_, i) => i);
  const shift = new Float64Array(dim);
  const primal = solveRidge(ridgeStatistics(x, dim, rows, y, shift), 3);
  const [dual] = ridgeDualPath(x, dim, rows, y, [3]);
  assertClose(dual!.coef, Array.from(primal.coef), 1e-9, 'coef');
  assert.ok(Math.abs(dual!.intercept - primal.intercept) < 1e-12);
  assertClose(fitRidge(x, dim, rows, y, 3).coef, Array.from(primal.coef), 1e-9, 'fitRidge picks the dual form');
});

test('ridge alpha chosen by inner cross-validation: small for a clean linear target, large for noise', () => {
  const rng = new SeededRandom(9);
  for (const [n, dim] of [[300, 10], [60, 100]] as const) {
    const x = Float64Array.from({ length: n * dim }, () => rng.normal());
    const rows = Int32Array.from({ length: n }, (_, i) => i);
    const linear = Float64Array.from({ length: n }, (_, i) => x[i * dim]! - 0.5 * x[i * dim + 1]! + 0.01 * rng.normal());
    const noise = Float64Array.from({ length: n }, () => rng.normal());
    const clean = chooseRidgeAlpha(x, dim, rows, linear, { seed: 1 });
    const noisy = chooseRidgeAlpha(x, dim, rows, noise, { seed: 1 });
    assert.equal(clean.tried.length, 6);
    assert.ok(clean.alpha < noisy.alpha, `${n}x${dim}: clean alpha ${clean.alpha} should be below noise alpha ${noisy.alpha}`);
    assert.equal(noisy.alpha, noisy.tried[noisy.tried.length - 1]!.alpha, 'pure noise: the strongest shrinkage');
  }
  assert.throws(() => chooseRidgeAlpha(new Float64Array(10), 2, [0, 1, 2, 3, 4], new Float64Array(5)), /needs at least 6 training images \(got 5\)/);
});

test('multinomial logistic regression matches scikit-learn (coefficients and probabilities)', () => {
  const model = fitLogistic(vectors, fixture.dim, trainRows, labels, fixture.classes, { l2: 1 / fixture.logistic.C, tolerance: 1e-10, maxIterations: 5000 });
  assert.ok(model.converged);
  // The reference is scikit-learn's newton-cg run to a gradient of ~1e-9; ours stops when the mean loss stops
  // falling (~1e-12 relative), which leaves the coefficients within ~1e-6.
  assertClose(model.weights, fixture.logistic.coef.flat(), 5e-6, 'coef');
  assertClose(model.intercepts, fixture.logistic.intercept, 5e-6, 'intercept');
  assertClose(predictLogisticProba(model, vectors, fixture.dim, testRows), fixture.logistic.proba.flat(), 2e-6, 'proba');
  // The default (CV) tolerance is looser but still gives probabilities within 1e-3.
  const quick = fitLogistic(vectors, fixture.dim, trainRows, labels, fixture.classes, { l2: 1 / fixture.logistic.C });
  assertClose(predictLogisticProba(quick, vectors, fixture.dim, testRows), fixture.logistic.proba.flat(), 1e-3, 'proba at the default tolerance');
});

test('ordinal logistic regression matches an independent scipy maximum-likelihood fit', () => {
  const model = fitOrdinal(vectors, fixture.dim, trainRows, labels, fixture.classes, { l2: fixture.ordinal.l2, tolerance: 1e-10, maxIterations: 5000 });
  assert.ok(model.converged);
  assertClose(model.coef, fixture.ordinal.coef, 1e-5, 'coef');
  assertClose(model.thresholds, fixture.ordinal.thresholds, 1e-5, 'thresholds');
  const proba = predictOrdinalProba(model, vectors, fixture.dim, testRows);
  assertClose(proba, fixture.ordinal.proba.flat(), 1e-6, 'proba');
  for (let r = 0; r < fixture.nTest; r++) {
    const s = proba.subarray(r * 4, r * 4 + 4).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(s - 1) < 1e-12, 'probabilities sum to one');
  }
});

test('ordinal regression recovers the coefficients and thresholds of a simulated proportional-odds model', () => {
  const rng = new SeededRandom(11);
  const n = 6000;
  const dim = 3;
  const beta = [1.5, -1, 0.5];
  const cuts = [-2, -0.5, 0.7, 2.2];
  const x = new Float64Array(n * dim);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let eta = 0;
    for (let j = 0; j < dim; j++) {
      // Features with mean 0 and sd 1, so standardised coefficients equal beta up to sampling error.
      x[i * dim + j] = rng.normal();
      eta += beta[j]! * x[i * dim + j]!;
    }
    const u = rng.next();
    const latent = eta + Math.log(u / (1 - u)); // logistic noise: the proportional-odds model
    y[i] = cuts.filter((c) => latent > c).length;
  }
  const rows = Int32Array.from({ length: n }, (_, i) => i);
  const model = fitOrdinal(x, dim, rows, y, 5, { l2: 1e-6 });
  // Undo the standardisation to compare with the generating model.
  const { mean, scale } = model.standardizer;
  const coef = Array.from(model.coef, (c, j) => c / scale[j]!);
  const shift = coef.reduce((s, c, j) => s + c * mean[j]!, 0);
  assertClose(coef, beta, 0.1, 'coefficients');
  assertClose(Array.from(model.thresholds, (t) => t + shift), cuts, 0.12, 'thresholds');
});

test('cosine kNN regression and class probabilities match scikit-learn', () => {
  const neighbours = probeNeighbours(vectors, fixture.dim, trainRows, testRows, fixture.knn.k);
  const trainTargets = fixture.target.slice(0, fixture.nTrain);
  const trainLabels = fixture.labels.slice(0, fixture.nTrain);
  // The shared exact search normalises vectors in float32, so distances (and 1/distance weights) carry ~1e-6
  // relative rounding; the neighbours themselves are the same, as the uniform average shows to 1e-9.
  assertClose(knnRegress(neighbours, trainTargets, 'distance'), fixture.knn.distanceRegression, 1e-4, 'distance-weighted');
  assertClose(knnRegress(neighbours, trainTargets, 'uniform'), fixture.knn.uniformRegression, 1e-9, 'uniform');
  assertClose(knnClassProba(neighbours, trainLabels, fixture.classes, 'distance'), fixture.knn.distanceProba.flat(), 1e-4, 'class probabilities');
});

test('stratified folds are balanced per class, seeded and reproducible', () => {
  const strata = Int32Array.from({ length: 103 }, (_, i) => (i < 60 ? 0 : i < 95 ? 1 : 2));
  const a = stratifiedFolds(strata, 5, 42);
  assert.deepEqual(a, stratifiedFolds(strata, 5, 42), 'same seed, same folds');
  assert.notDeepEqual(a, stratifiedFolds(strata, 5, 43), 'another seed shuffles differently');
  const sizes = [0, 0, 0, 0, 0];
  for (const f of a) sizes[f]!++;
  assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `fold sizes ${sizes}`);
  for (const [cls, total] of [[0, 60], [1, 35]] as const) {
    for (let f = 0; f < 5; f++) {
      const inFold = Array.from(strata).filter((s, i) => s === cls && a[i] === f).length;
      assert.equal(inFold, total / 5, `class ${cls} in fold ${f}`);
    }
  }
  const { train, test: held } = splitFold(a, 2);
  assert.equal(train.length + held.length, 103);
  assert.ok(held.every((row) => a[row] === 2) && train.every((row) => a[row] !== 2));
  assert.throws(() => stratifiedFolds(new Int32Array(3), 5, 1), /5-fold cross-validation needs at least 5 labelled images; there are 3/);
  assert.throws(() => stratifiedFolds(new Int32Array(10), 1, 1), /at least 2 folds/);
});

test('out-of-fold probabilities never see their own label: on noise they are at chance while the in-sample fit memorises', () => {
  const rng = new SeededRandom(5);
  const n = 100;
  const dim = 90;
  const x = Float32Array.from({ length: n * dim }, () => rng.normal());
  const y = Int32Array.from({ length: n }, () => rng.int(0, 1));
  const rows = Int32Array.from({ length: n }, (_, i) => i);
  const argmaxAccuracy = (p: Float64Array) => Array.from(y).filter((label, i) => (p[i * 2 + 1]! > p[i * 2]! ? 1 : 0) === label).length / n;
  const inSample = argmaxAccuracy(predictLogisticProba(fitLogistic(x, dim, rows, y, 2, { l2: 1e-3 }), x, dim, rows));
  assert.ok(inSample > 0.95, `in-sample accuracy ${inSample}`);
  for (const head of ['logistic', 'ordinal'] as const) {
    const oof = outOfFoldProbabilities(x, dim, y, 2, { head, folds: 5, seed: 1, l2: 1e-3 });
    assert.equal(oof.length, n * 2);
    for (let i = 0; i < n; i++) assert.ok(Math.abs(oof[i * 2]! + oof[i * 2 + 1]! - 1) < 1e-9);
    const acc = argmaxAccuracy(oof);
    assert.ok(acc < 0.65, `${head} out-of-fold accuracy ${acc} on pure noise`);
  }
});

test('out-of-fold probabilities of an informative embedding rank the true class first', () => {
  const rng = new SeededRandom(8);
  const n = 300;
  const dim = 8;
  const x = new Float32Array(n * dim);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 3;
    for (let j = 0; j < dim; j++) x[i * dim + j] = rng.normal() + (j === y[i] ? 3 : 0);
  }
  for (const head of ['logistic', 'ordinal'] as const) {
    const oof = outOfFoldProbabilities(x, dim, y, 3, { head, folds: 5, seed: 2 });
    const hits = Array.from(y).filter((label, i) => {
      const row = Array.from(oof.subarray(i * 3, i * 3 + 3));
      return row.indexOf(Math.max(...row)) === label;
    }).length;
    // The ordinal head can only order classes along one direction, so it is held to a lower bar here.
    assert.ok(hits / n > (head === 'logistic' ? 0.9 : 0.6), `${head}: ${hits}/${n}`);
  }
});

test('bad input is refused with a message naming the problem', () => {
  const x = new Float32Array(20);
  assert.throws(() => outOfFoldProbabilities(x, 2, new Int32Array(9), 2, { head: 'logistic', folds: 2, seed: 1 }), /10 vectors but 9 labels/);
  assert.throws(() => outOfFoldProbabilities(x, 3, new Int32Array(6), 2, { head: 'logistic', folds: 2, seed: 1 }), /20 values are not whole rows of 3/);
  assert.throws(() => outOfFoldProbabilities(x, 2, Int32Array.from({ length: 10 }, (_, i) => i % 4), 3, { head: 'ordinal', folds: 2, seed: 1 }), /label 3, outside the classes 0\.\.2/);
  assert.throws(() => outOfFoldProbabilities(x, 2, new Int32Array(10), 2, { head: 'logistic', folds: 20, seed: 1 }), /needs at least 20 labelled images; there are 10/);
  assert.throws(() => fitRidge(x, 2, [0], new Float64Array(10)), /at least 2 labelled images/);
});
