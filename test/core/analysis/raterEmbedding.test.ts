import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../helpers/paths.js';
import { classicalMds, raterEmbedding } from '../../../core/analysis/raterEmbedding.js';
import { ratingSetFrom } from '../../../core/analysis/raterAgreement.js';
import { analyzeRatingSet } from '../../../core/analysis/raterAnalysis.js';
import { silhouetteScore } from '../../../core/analysis/raterClusters.js';
import { SeededRandom } from '../../../core/synth/random.js';
import { drawAttributes } from '../../../core/synth/attributes.js';
import { groupWeights, preferenceGroupNames, quantilePositions, weightedScore, type PreferenceGroup } from '../../../core/synth/aestheticTruth.js';
import { makeRaters, simulateRatings } from '../../../core/synth/raters.js';

// Written by scripts/analysis/make_rater_embedding_reference.py (numpy).
interface Reference {
  mds: { name: string; distance: number[][]; coords: number[][]; eigenvalues: number[]; explained: number[] }[];
  profiles: {
    name: string;
    raters: string[];
    matrix: (number | null)[][];
    common: number[][];
    minCommon: number;
    shrinkage: number;
    members: string[];
    excluded: string[];
    coords: number[][];
    explained: number[];
  }[];
}
const reference = JSON.parse(readFileSync(path.join(repoRoot, 'test/fixtures/analysis/rater-embedding.json'), 'utf8')) as Reference;

const near = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

for (const c of reference.mds) {
  test(`classical MDS matches numpy (${c.name}): coordinates with the same axis signs, eigenvalues, explained shares`, () => {
    const n = c.distance.length;
    const mds = classicalMds(c.distance.flat(), n, 2);
    for (let k = 0; k < 2; k++) {
      assert.ok(near(mds.eigenvalues[k]!, c.eigenvalues[k]!, 1e-9), `eigenvalue ${k}: ${mds.eigenvalues[k]} vs ${c.eigenvalues[k]}`);
      assert.ok(near(mds.explained[k]!, c.explained[k]!, 1e-9), `explained ${k}`);
      for (let i = 0; i < n; i++) assert.ok(near(mds.coords[i * 2 + k]!, c.coords[i]![k]!, 1e-7), `point ${i} axis ${k}: ${mds.coords[i * 2 + k]} vs ${c.coords[i]![k]}`);
    }
  });
}

test('classical MDS of points in a plane gives back their distances exactly (the layout is the points, rotated)', () => {
  const c = reference.mds.find((m) => m.name === 'points in a plane')!;
  const n = c.distance.length;
  const { coords, explained } = classicalMds(c.distance.flat(), n, 2);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const d = Math.hypot(coords[2 * i]! - coords[2 * j]!, coords[2 * i + 1]! - coords[2 * j + 1]!);
      assert.ok(Math.abs(d - c.distance[i]![j]!) < 1e-9, `(${i}, ${j}): ${d} vs ${c.distance[i]![j]}`);
    }
  }
  assert.ok(Math.abs(explained[0]! + explained[1]! - 1) < 1e-12, 'two axes show all of a planar spread');
  // A third axis asked of planar points has nothing to show: zeros, not rounding noise.
  const three = classicalMds(c.distance.flat(), n, 3);
  assert.deepEqual(Array.from({ length: n }, (_, i) => three.coords[i * 3 + 2]), new Array(n).fill(0));
  assert.equal(three.explained[2], 0);
});

test('classical MDS: two points sit on the first axis, the larger-magnitude one positive; zero and one point are trivial', () => {
  const two = classicalMds([0, 3, 3, 0], 2, 2);
  assert.ok(Math.abs(Math.abs(two.coords[0]!) - 1.5) < 1e-12 && Math.abs(two.coords[0]! + two.coords[2]!) < 1e-12);
  assert.deepEqual([two.coords[1], two.coords[3]], [0, 0]);
  assert.deepEqual(two.explained, [1, 0]);
  assert.deepEqual(Array.from(classicalMds([0], 1).coords), [0, 0]);
  assert.equal(classicalMds([], 0).coords.length, 0);
});

test('classical MDS refuses a matrix that is not a distance matrix, naming the entry', () => {
  assert.throws(() => classicalMds([0, 1, 2, 0], 2), /not symmetric: \(0, 1\) is 1 but \(1, 0\) is 2/);
  assert.throws(() => classicalMds([0, -1, -1, 0], 2), /distance \(0, 1\) is -1; distances must be finite and not negative/);
  assert.throws(() => classicalMds([0, NaN, NaN, 0], 2), /distance \(0, 1\) is NaN/);
  assert.throws(() => classicalMds([1, 1, 1, 0], 2), /distance of point 0 to itself is 1, not 0/);
  assert.throws(() => classicalMds([0, 1, 1], 2), /a 2×2 distance matrix needs 4 entries, got 3/);
});

for (const c of reference.profiles) {
  test(`rater map matches the numpy recipe (${c.name}): who is on it, who is left out and why, and where`, () => {
    const map = raterEmbedding({ raters: c.raters, matrix: c.matrix, common: c.common, minCommon: c.minCommon }, { shrinkage: c.shrinkage });
    assert.equal(map.method, 'classical-mds');
    assert.deepEqual(map.points.map((p) => p.rater), c.members);
    assert.deepEqual(map.excluded.map((e) => e.rater), c.excluded);
    assert.match(map.excluded[0]!.reason, new RegExp(`shares ${c.minCommon} or more images \\(with a defined kappa\\) with only 1 other rater$`));
    map.points.forEach((p, i) => {
      assert.ok(near(p.x, c.coords[i]![0]!, 1e-7), `${p.rater} x: ${p.x} vs ${c.coords[i]![0]}`);
      assert.ok(near(p.y, c.coords[i]![1]!, 1e-7), `${p.rater} y: ${p.y} vs ${c.coords[i]![1]}`);
    });
    assert.ok(near(map.explained[0], c.explained[0]!, 1e-9) && near(map.explained[1], c.explained[1]!, 1e-9));
  });
}

test('rater map: a malformed agreement matrix is an error that says which one and how', () => {
  const ok = { raters: ['a', 'b', 'c'], matrix: [[1, 0.5, 0.2], [0.5, 1, 0.3], [0.2, 0.3, 1]], common: [[9, 9, 9], [9, 9, 9], [9, 9, 9]], minCommon: 5 };
  assert.equal(raterEmbedding(ok).points.length, 3);
  assert.throws(() => raterEmbedding({ ...ok, matrix: ok.matrix.slice(0, 2) }), /the agreement matrix must be 3×3 for 3 raters; it has 2 rows/);
  assert.throws(() => raterEmbedding({ ...ok, common: [[9, 9, 9], [9, 9], [9, 9, 9]] }), /the common-image matrix must be 3×3 for 3 raters; row 1 has 2 entries/);
  assert.throws(() => raterEmbedding(ok, { shrinkage: -1 }), /shrinkage must be a finite number of at least 0/);
});

/** Ratings as `miru synth --images N --raters R --seed S` draws them, without rendering images. */
function synthPanel(images: number, raterCount: number, seed: number) {
  const attributes = Array.from({ length: images }, (_, i) => drawAttributes(SeededRandom.derive(seed, 'image', i)));
  const rank = {} as Record<PreferenceGroup, number[]>;
  for (const g of preferenceGroupNames) rank[g] = quantilePositions(attributes.map((a) => weightedScore(a, groupWeights[g])));
  const raters = makeRaters(raterCount, 5, seed);
  const { ratings } = simulateRatings(raters, rank, images, 5, seed);
  return ratingSetFrom(ratings.map((r) => ({ rater: raters[r.rater]!.name, imageId: r.image + 1, value: r.score })));
}

test('on a synth panel (3 tastes, 40 raters) the map keeps the clusters apart: every rater sits nearest to its own cluster', () => {
  const { result } = analyzeRatingSet(synthPanel(600, 40, 2), { clusters: 'auto' });
  assert.equal(result.clustering.k, 3);
  const map = raterEmbedding(result.kappa);
  assert.equal(map.points.length, 40, 'spammers stay on the map');
  const clusterOf = new Map(result.raters.map((r) => [r.rater, r.cluster]));
  const clustered = map.points.filter((p) => clusterOf.get(p.rater) !== null);
  const n = clustered.length;
  const distance = new Float64Array(n * n);
  clustered.forEach((p, i) => clustered.forEach((q, j) => (distance[i * n + j] = Math.hypot(p.x - q.x, p.y - q.y))));
  // Each rater's mean distance to its own cluster is smaller than to any other cluster's raters.
  const labels = clustered.map((p) => clusterOf.get(p.rater)!);
  clustered.forEach((p, i) => {
    const mean = (c: number) => {
      const others = clustered.map((_, j) => j).filter((j) => j !== i && labels[j] === c);
      return others.reduce((s, j) => s + distance[i * n + j]!, 0) / others.length;
    };
    const own = mean(labels[i]!);
    for (const c of new Set(labels)) if (c !== labels[i]) assert.ok(own < mean(c), `${p.rater} (cluster ${labels[i]}) is closer to cluster ${c}`);
  });
  assert.ok(silhouetteScore(distance, labels)! > 0.5, `2-D silhouette ${silhouetteScore(distance, labels)}`);
  assert.ok(map.explained[0] + map.explained[1] > 0.5, `the two axes show ${map.explained[0] + map.explained[1]} of the spread`);
});
