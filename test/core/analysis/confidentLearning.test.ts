import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  computeConfidentJoint,
  confidentThresholds,
  expectedScoreResidual,
  findLabelIssues,
  labelQualityScores,
  numLabelIssues,
  pairwiseSum,
  roundHalfEven,
  FILTER_BY,
  RANK_BY,
  type FilterBy,
  type LabelInputs,
  type LabelIssueOptions,
  type RankBy,
} from '../../../core/analysis/confidentLearning.js';
import { repoRoot } from '../../helpers/paths.js';

// Reference outputs of cleanlab itself, written by scripts/analysis/make_cleanlab_reference.py.
interface Case {
  name: string;
  classes: number;
  labels: number[];
  predProbs: number[][];
  thresholds: number[];
  confidentJoint: number[][];
  calibratedJoint: number[][];
  offDiagonal: number[];
  numLabelIssues: { off_diagonal: number; off_diagonal_calibrated: number };
  scoreRows: number;
  scores: Record<RankBy, number[]>;
  adjustedScores: Record<'self_confidence' | 'normalized_margin', number[]>;
  issues: Record<FilterBy, Record<RankBy, number[]>>;
  variants: Array<{
    options: { filterBy?: FilterBy; rankBy?: RankBy; fracNoise?: number; minExamplesPerClass?: number; numToRemovePerClass?: number | number[]; adjustPredProbs?: boolean };
    issues: number[];
  }>;
}

function loadCases(file: string): Case[] {
  return (JSON.parse(readFileSync(path.join(repoRoot, 'test/fixtures/analysis', file), 'utf8')) as { cases: Case[] }).cases;
}

function inputsOf(c: Case): LabelInputs {
  return { labels: Int32Array.from(c.labels), probs: Float64Array.from(c.predProbs.flat()), classes: c.classes };
}

const cases = [...loadCases('cleanlab_reference.json'), ...loadCases('cleanlab_examples.json')];

test('the fixtures cover every filter, ranking and option cleanlab has', () => {
  assert.ok(cases.length >= 25);
  const sizes = cases.map((c) => c.labels.length);
  assert.ok(Math.min(...sizes) <= 10 && Math.max(...sizes) >= 2000);
  assert.deepEqual(new Set(cases.map((c) => c.classes)), new Set([2, 3, 4, 5, 6, 7]));
  const used = new Set(cases.flatMap((c) => c.variants.flatMap((v) => Object.keys(v.options))));
  for (const option of ['fracNoise', 'minExamplesPerClass', 'numToRemovePerClass', 'adjustPredProbs']) assert.ok(used.has(option), option);
  for (const c of cases) for (const f of FILTER_BY) for (const r of RANK_BY) assert.ok(Array.isArray(c.issues[f][r]), `${c.name} ${f} ${r}`);
  // Some cases must actually flag something under every filter, or equality would prove little.
  for (const f of FILTER_BY) assert.ok(cases.filter((c) => c.issues[f].self_confidence.length > 0).length >= 15, f);
});

for (const c of cases) {
  test(`matches cleanlab on ${c.name} (${c.labels.length} rows, ${c.classes} classes)`, () => {
    const inputs = inputsOf(c);
    const k = c.classes;
    assert.deepEqual(Array.from(confidentThresholds(inputs)), c.thresholds, 'thresholds');
    const raw = computeConfidentJoint(inputs, { calibrate: false });
    assert.deepEqual(Array.from(raw.joint), c.confidentJoint.flat(), 'confident joint');
    assert.deepEqual(Array.from(raw.offDiagonal), c.offDiagonal, 'off-diagonal rows');
    assert.deepEqual(Array.from(computeConfidentJoint(inputs).joint), c.calibratedJoint.flat(), 'calibrated joint');
    assert.equal(numLabelIssues(inputs, 'off_diagonal'), c.numLabelIssues.off_diagonal, 'num_label_issues off_diagonal');
    assert.equal(numLabelIssues(inputs, 'off_diagonal_calibrated'), c.numLabelIssues.off_diagonal_calibrated, 'num_label_issues calibrated');

    for (const method of RANK_BY) {
      const scores = labelQualityScores(inputs, method).subarray(0, c.scoreRows);
      assertClose(scores, c.scores[method], `${method} scores`);
    }
    for (const method of ['self_confidence', 'normalized_margin'] as const) {
      const scores = labelQualityScores(inputs, method, { adjustPredProbs: true }).subarray(0, c.scoreRows);
      assertClose(scores, c.adjustedScores[method], `adjusted ${method} scores`);
    }

    for (const filterBy of FILTER_BY) {
      for (const rankBy of RANK_BY) {
        const result = findLabelIssues(inputs, { filterBy, rankBy });
        assert.deepEqual(Array.from(result.ranked), c.issues[filterBy][rankBy], `${filterBy} ranked by ${rankBy}`);
        assert.equal(result.isIssue.reduce((a, b) => a + b, 0), result.ranked.length);
      }
    }
    for (const v of c.variants) {
      const options: LabelIssueOptions = { ...v.options };
      assert.deepEqual(Array.from(findLabelIssues(inputs, options).ranked), v.issues, `variant ${JSON.stringify(v.options)}`);
    }
    assert.equal(k, inputs.classes);
  });
}

function assertClose(actual: Float64Array, expected: number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (Math.abs(actual[i] - expected[i]) > 1e-12) assert.fail(`${what}: row ${i} is ${actual[i]}, cleanlab ${expected[i]}`);
  }
}

test('numpy arithmetic helpers: pairwise summation order and round half to even', () => {
  assert.equal(roundHalfEven(2.5), 2);
  assert.equal(roundHalfEven(3.5), 4);
  assert.equal(roundHalfEven(0.5), 0);
  assert.equal(roundHalfEven(-1.5), -2);
  assert.equal(roundHalfEven(1.4999999), 1);
  // Under 8 values numpy adds left to right; from 8 on it uses eight accumulators, which changes the result here.
  const values = [1e16, 1, 1, 1, 1, 1, 1, 1, -1e16];
  let sequential = 0;
  for (const v of values) sequential += v;
  assert.equal(sequential, 0);
  assert.equal(pairwiseSum(values, 0, values.length), 6);
});

test('cleanlab test example: every filter flags only the row labelled 1 with p = 0.9 for class 2', () => {
  const probs = [
    [0.9, 0.1, 0],
    [0.6, 0.2, 0.2],
    [0.1, 0, 0.9],
    [0.1, 0.8, 0.1],
    [0.1, 0.8, 0.1],
    [0.1, 0.8, 0.1],
    [0.1, 0.8, 0.1],
    [0.1, 0.8, 0.1],
    [0.1, 0.8, 0.1],
    [0.1, 0.1, 0.8],
  ];
  const inputs = { labels: Int32Array.from([0, 0, 1, 1, 1, 1, 1, 1, 1, 2]), probs: Float64Array.from(probs.flat()), classes: 3 };
  for (const filterBy of FILTER_BY) assert.deepEqual(Array.from(findLabelIssues(inputs, { filterBy }).ranked), [2], filterBy);
  // Row 1 (0.6 for class 0) is below class 0's threshold (0.75), so only row 0 is counted in (0, 0); row 2 is
  // counted as (given 1, true 2). Calibration scales row 0 back to its 2 examples.
  assert.deepEqual(Array.from(computeConfidentJoint(inputs, { calibrate: false }).joint), [1, 0, 0, 0, 6, 1, 0, 0, 1]);
  assert.deepEqual(Array.from(computeConfidentJoint(inputs).joint), [2, 0, 0, 0, 6, 1, 0, 0, 1]);
});

test('bad input is refused with a message naming the row and the value', () => {
  const good = { labels: Int32Array.from([0, 1, 1]), probs: Float64Array.from([0.9, 0.1, 0.2, 0.8, 0.3, 0.7]), classes: 2 };
  assert.throws(() => findLabelIssues({ ...good, labels: Int32Array.from([0, 2, 1]) }), /Row 1: label 2 is not a class index 0\.\.1/);
  assert.throws(() => findLabelIssues({ ...good, probs: Float64Array.from([0.9, 0.1, 0.2, 0.8, 0.3]) }), /hold 5 values, but 3 labels × 2 classes need 6/);
  assert.throws(() => findLabelIssues({ ...good, probs: Float64Array.from([0.9, 0.1, NaN, 0.8, 0.3, 0.7]) }), /Row 1, class 0: probability NaN/);
  assert.throws(() => findLabelIssues({ ...good, probs: Float64Array.from([0.9, 0.1, 1.5, -0.5, 0.3, 0.7]) }), /Row 1, class 0: probability 1.5 is not in \[0, 1\]/);
  assert.throws(() => findLabelIssues({ ...good, labels: Int32Array.from([1, 1, 1]) }), /at least 2 classes/);
  assert.throws(() => findLabelIssues(good, { filterBy: 'confident_learning', numToRemovePerClass: 1 }), /only with prune_by_noise_rate/);
  assert.throws(() => findLabelIssues(good, { fracNoise: 0 }), /frac_noise must be in \(0, 1\]/);
  assert.throws(() => findLabelIssues(good, { filterBy: 'nope' as FilterBy }), /Unknown filter "nope"/);
});

test('expected-score residual: distance from the label to the mean class, over K - 1', () => {
  const inputs = { labels: Int32Array.from([0, 4, 2]), probs: Float64Array.from([1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0.5, 0, 0, 0, 0.5]), classes: 5 };
  // Row 0: expected 0, label 0 -> 0. Row 1: expected 4 vs label 4 -> 0. Row 2: expected 0.5*0 + 0.5*4 = 2 vs label 2 -> 0.
  assert.deepEqual(Array.from(expectedScoreResidual(inputs)), [0, 0, 0]);
  const off = { labels: Int32Array.from([4, 0]), probs: Float64Array.from([1, 0, 0, 0, 0, 0, 0, 0.5, 0.5, 0]), classes: 5 };
  // Row 0: expected 0, label 4 -> 4/4 = 1. Row 1: expected 2.5, label 0 -> 2.5/4.
  assert.deepEqual(Array.from(expectedScoreResidual(off)), [1, 0.625]);
});

test('1M x 7 probabilities finish in seconds (no per-row objects)', () => {
  const n = 1_000_000;
  const k = 7;
  const labels = new Int32Array(n);
  const probs = new Float64Array(n * k);
  let s = 12345;
  const rand = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  for (let i = 0; i < n; i++) {
    const y = Math.floor(rand() * k);
    labels[i] = rand() < 0.1 ? Math.floor(rand() * k) : y;
    let total = 0;
    for (let c = 0; c < k; c++) total += probs[i * k + c] = rand() + (c === y ? 3 : 0);
    for (let c = 0; c < k; c++) probs[i * k + c] /= total;
  }
  const result = findLabelIssues({ labels, probs, classes: k });
  // About 10% of labels were redrawn (6/7 of them to another class) and the model favours the true class: most
  // of those should be found, and few others.
  assert.ok(result.ranked.length > 0.05 * n && result.ranked.length < 0.15 * n, `${result.ranked.length} issues`);
  assert.equal(result.quality.length, n);
});
