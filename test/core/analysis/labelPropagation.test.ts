import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../helpers/paths.js';
import { knnAll, type KnnResult } from '../../../core/analysis/knnIndex.js';
import { certaintyWeight, normalizedAffinity, spreadLabels, type PropagationAffinity } from '../../../core/analysis/labelPropagation.js';

interface PropagationFixture {
  k: number;
  classes: number;
  dim: number;
  vectors: number[][];
  y: number[];
  truth: number[];
  neighbors: number[][];
  cases: { name: string; affinity: PropagationAffinity; gamma: number; alpha: number; balanced: boolean; labels: number[]; distributions: number[][] }[];
}

const fixture = JSON.parse(readFileSync(path.join(repoRoot, 'test/fixtures/analysis/propagation.json'), 'utf8')) as PropagationFixture;
const matrix = { vectors: Float32Array.from(fixture.vectors.flat()), dim: fixture.dim };
const seeds = Int32Array.from(fixture.y);

test('the cosine kNN graph from knnAll is the one scikit-learn built for the reference', async () => {
  const graph = await knnAll(matrix, fixture.k, { metric: 'cosine', exact: true });
  fixture.neighbors.forEach((row, i) => assert.deepEqual(Array.from(graph.indices.subarray(i * fixture.k, (i + 1) * fixture.k)), row, `row ${i}`));
});

test('label spreading matches scikit-learn LabelSpreading on the same graph (connectivity and similarity affinities, two alphas, class-balanced)', async () => {
  const graph = await knnAll(matrix, fixture.k, { metric: 'cosine', exact: true });
  for (const c of fixture.cases) {
    const result = spreadLabels(graph, seeds, fixture.classes, { alpha: c.alpha, affinity: c.affinity, gamma: c.gamma, balanced: c.balanced, tolerance: 1e-12 });
    assert.deepEqual(Array.from(result.labels), c.labels, `${c.name}: labels`);
    let worst = 0;
    c.distributions.forEach((row, i) => row.forEach((p, q) => (worst = Math.max(worst, Math.abs(p - result.distributions[i * fixture.classes + q]!)))));
    // float32 storage of the distributions and float32 cosines in the graph leave ~1e-7; 1e-5 still catches any
    // wrong normalisation, symmetrisation or missing edge (those move shares by 1e-2 and more).
    assert.ok(worst < 1e-5, `${c.name}: largest difference ${worst}`);
    assert.equal(result.unreachable, 0);
    assert.ok(result.residual < 1e-12, `${c.name}: residual ${result.residual}`);
    for (let i = 0; i < seeds.length; i++) {
      const row = result.distributions.subarray(i * fixture.classes, (i + 1) * fixture.classes);
      assert.equal(result.confidence[i], Math.max(...row));
      assert.ok(Math.abs(result.certainty[i]! - certaintyWeight(row)) < 1e-6);
    }
  }
});

test('the default tolerance stops conjugate gradient early and still gives scikit-learn\'s labels', async () => {
  const graph = await knnAll(matrix, fixture.k, { metric: 'cosine', exact: true });
  const c = fixture.cases.find((x) => x.name === 'similarity3-alpha0.99')!;
  const loose = spreadLabels(graph, seeds, fixture.classes, { alpha: c.alpha, affinity: c.affinity, gamma: c.gamma });
  const tight = spreadLabels(graph, seeds, fixture.classes, { alpha: c.alpha, affinity: c.affinity, gamma: c.gamma, tolerance: 1e-12 });
  assert.deepEqual(Array.from(loose.labels), c.labels);
  assert.ok(loose.iterations < tight.iterations, `${loose.iterations} vs ${tight.iterations} iterations`);
  assert.ok(loose.residual <= 1e-6);
});

test('S is symmetric with rows scaled by 1/sqrt(degree): mutual neighbours count twice, cosine ≤ 0 drops an edge', () => {
  // Rows 0-1-2 in a chain; row 0 and row 1 are each other's neighbour, row 2 points at 1; row 3 points at 0 with
  // cosine distance 1.2 (cos -0.2), which 'similarity' leaves out.
  const graph: KnnResult = { k: 1, indices: Int32Array.from([1, 0, 1, 0]), distances: Float32Array.from([0.5, 0.5, 0.2, 1.2]) };
  const s = normalizedAffinity(graph, 4, 'connectivity', 1);
  const dense = (m: ReturnType<typeof normalizedAffinity>) => {
    const out = Array.from({ length: 4 }, () => [0, 0, 0, 0]);
    for (let i = 0; i < 4; i++) for (let p = m.rowStart[i]!; p < m.rowStart[i + 1]!; p++) out[i]![m.columns[p]!]! += m.values[p]!;
    return out;
  };
  // W: w01 = 2 (mutual), w12 = 1, w03 = 1; degrees 3, 3, 1, 1.
  const d = [3, 3, 1, 1];
  const expected = [
    [0, 2 / Math.sqrt(d[0]! * d[1]!), 0, 1 / Math.sqrt(d[0]! * d[3]!)],
    [2 / Math.sqrt(d[1]! * d[0]!), 0, 1 / Math.sqrt(d[1]! * d[2]!), 0],
    [0, 1 / Math.sqrt(d[2]! * d[1]!), 0, 0],
    [1 / Math.sqrt(d[3]! * d[0]!), 0, 0, 0],
  ];
  dense(s).forEach((row, i) => row.forEach((v, j) => assert.ok(Math.abs(v - expected[i]![j]!) < 1e-12, `S[${i}][${j}] = ${v}`)));
  const sim = dense(normalizedAffinity(graph, 4, 'similarity', 1));
  assert.equal(sim[3]![0], 0);
  assert.equal(sim[0]![3], 0);
  // w01 = 0.5 + 0.5; degree of row 0 is 1 without the dropped edge, of row 1 is 1 + 0.8 (row 2's edge).
  assert.ok(Math.abs(sim[0]![1]! - 1 / Math.sqrt(1.8)) < 1e-7);
});

test('rows in a part of the graph with no labelled image get no label, and are counted', () => {
  // Two components: {0, 1, 2} with seeds of classes 0 and 1, {3, 4} with none.
  const graph: KnnResult = { k: 1, indices: Int32Array.from([1, 2, 1, 4, 3]), distances: new Float32Array(5).fill(0.1) };
  const result = spreadLabels(graph, Int32Array.from([0, -1, 1, -1, -1]), 2, { affinity: 'connectivity', alpha: 0.9 });
  assert.equal(result.unreachable, 2);
  assert.deepEqual(Array.from(result.labels.subarray(3)), [-1, -1]);
  assert.deepEqual(Array.from(result.distributions.subarray(6)), [0, 0, 0, 0]);
  assert.equal(result.confidence[3], 0);
  assert.equal(result.labels[0], 0);
  assert.equal(result.labels[2], 1);
  // Row 1 sits between a class-0 seed (one edge) and a class-1 seed (two edges: 1->2 and 2->1).
  assert.equal(result.labels[1], 1);
});

test('certainty weight: 1 for a one-hot row, 0 for a uniform row, in between otherwise', () => {
  assert.equal(certaintyWeight([0, 1, 0]), 1);
  assert.ok(Math.abs(certaintyWeight([1 / 3, 1 / 3, 1 / 3])) < 1e-12);
  const w = certaintyWeight([0.5, 0.5, 0, 0]);
  assert.ok(Math.abs(w - (1 - Math.log(2) / Math.log(4))) < 1e-12);
});

test('conjugate gradient scales: 20,000 rows × 10 neighbours converge without a dense matrix', () => {
  const n = 20_000;
  const k = 10;
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const indices = new Int32Array(n * k);
  const distances = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < k; t++) {
      // Mostly neighbours in the same block of 100 (a class), sometimes anywhere: a graph with structure.
      let j = random() < 0.9 ? Math.floor(i / 100) * 100 + Math.floor(random() * 100) : Math.floor(random() * n);
      if (j === i) j = (i + 1) % n;
      indices[i * k + t] = j;
      distances[i * k + t] = 0.1 + 0.3 * random();
    }
  }
  const classes = 5;
  const labels = new Int32Array(n).fill(-1);
  for (let i = 0; i < n; i += 50) labels[i] = Math.floor(i / 100) % classes;
  const result = spreadLabels({ k, indices, distances }, labels, classes, { alpha: 0.99 });
  assert.ok(result.residual <= 1e-6, `residual ${result.residual}`);
  assert.ok(result.iterations < 400, `${result.iterations} iterations`);
  let correct = 0;
  for (let i = 0; i < n; i++) if (result.labels[i] === Math.floor(i / 100) % classes) correct++;
  assert.ok(correct / n > 0.95, `accuracy ${correct / n}`);
});

test('bad input: alpha outside (0, 1), one class, no labels, labels outside the classes, a graph of another size', () => {
  const graph: KnnResult = { k: 1, indices: Int32Array.from([1, 0, 1]), distances: new Float32Array(3) };
  const two = Int32Array.from([0, 1, -1]);
  for (const alpha of [0, 1, 1.5, -0.1, Number.NaN]) assert.throws(() => spreadLabels(graph, two, 2, { alpha }), /alpha must lie strictly between 0 and 1/);
  assert.throws(() => spreadLabels(graph, Int32Array.from([1, 1, -1]), 2), /Every labelled row has the same class \(1\).*at least two classes/);
  assert.throws(() => spreadLabels(graph, Int32Array.from([-1, -1, -1]), 2), /No row is labelled/);
  assert.throws(() => spreadLabels(graph, Int32Array.from([0, 3, -1]), 2), /Row 1 has class 3; classes are 0\.\.1/);
  assert.throws(() => spreadLabels(graph, Int32Array.from([0, 1]), 2), /kNN graph has 3 rows, the labels 2/);
  assert.throws(() => spreadLabels(graph, two, 1), /at least 2 classes/);
  assert.throws(() => spreadLabels({ k: 1, indices: Int32Array.from([1, 0, 2]), distances: new Float32Array(3) }, two, 2), /row 2 names row 2/);
});
