import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../helpers/paths.js';
import { adjustedRandIndex, averageLinkage, cutTree, judgeSpammers, leafOrder, silhouetteScore } from '../../../core/analysis/raterClusters.js';
import { ratingSetFrom } from '../../../core/analysis/raterAgreement.js';
import { analyzeRatingSet } from '../../../core/analysis/raterAnalysis.js';
import { SeededRandom } from '../../../core/synth/random.js';
import { drawAttributes } from '../../../core/synth/attributes.js';
import { groupWeights, preferenceGroupNames, quantilePositions, weightedScore, type PreferenceGroup } from '../../../core/synth/aestheticTruth.js';
import { makeRaters, simulateRatings } from '../../../core/synth/raters.js';

interface Reference {
  clustering: { distance: number[][]; linkage: [number, number, number, number][]; leaves: number[]; silhouette3: number; silhouetteMixed: number };
  ari: { a: number[]; b: number[]; ari: number }[];
}
const reference = JSON.parse(readFileSync(path.join(repoRoot, 'test/fixtures/analysis/rater_reference.json'), 'utf8')) as Reference;

test("average linkage, leaf order and silhouette match scipy's linkage/leaves_list and scikit-learn's silhouette_score", () => {
  const { distance, linkage, leaves } = reference.clustering;
  const n = distance.length;
  const merges = averageLinkage(distance.flat(), n);
  assert.equal(merges.length, n - 1);
  merges.forEach((m, s) => {
    const [a, b, h, size] = linkage[s]!;
    assert.deepEqual([m.left, m.right, m.size], [a, b, size], `merge ${s}`);
    assert.ok(Math.abs(m.height - h) < 1e-12, `merge ${s} height ${m.height} vs ${h}`);
  });
  assert.deepEqual(leafOrder(merges, n), leaves);
  const three = cutTree(merges, n, 3);
  // The three simulated blobs of six points each come back whole.
  for (let blob = 0; blob < 3; blob++) assert.equal(new Set(Array.from(three.subarray(blob * 6, blob * 6 + 6))).size, 1);
  assert.ok(Math.abs(silhouetteScore(distance.flat(), three)! - reference.clustering.silhouette3) < 1e-12);
  assert.ok(Math.abs(silhouetteScore(distance.flat(), [0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1])! - reference.clustering.silhouetteMixed) < 1e-12);
  assert.equal(silhouetteScore(distance.flat(), new Array(n).fill(0)), null, 'one cluster has no silhouette');
  assert.throws(() => cutTree(merges, n, n + 1), /Cannot cut 18 raters into 19 clusters/);
});

test("adjusted Rand index matches scikit-learn's adjusted_rand_score", () => {
  for (const c of reference.ari) assert.ok(Math.abs(adjustedRandIndex(c.a, c.b) - c.ari) < 1e-12, `${adjustedRandIndex(c.a, c.b)} vs ${c.ari}`);
  assert.equal(adjustedRandIndex(['x', 'x', 'y'], [2, 2, 7]), 1, 'the same partition under other names');
});

test('spammers: low and unsupported agreement is flagged; a weak rater with few ratings and a consistent panel are not', () => {
  const panel = [0.6, 0.62, 0.55, 0.58, 0.65, 0.6, 0.57];
  const evidence = [...panel.map((rho) => ({ rho, n: 80, against: 'the consensus' })), { rho: 0.02, n: 80, against: 'the consensus' }, { rho: 0.2, n: 8, against: 'the consensus' }, { rho: 0.15, n: 1000, against: 'the consensus' }, { rho: null, n: 1, against: 'the consensus', note: 'one rating' }];
  const { checks, thresholds } = judgeSpammers(evidence, 'consensus');
  assert.deepEqual(checks.map((c) => c.spammer), [false, false, false, false, false, false, false, true, false, true, false]);
  assert.match(checks[7]!.reason, /not significantly above 0/);
  assert.match(checks[8]!.reason, /8 images/);
  assert.match(checks[9]!.reason, /significantly below half the panel's median/, 'with 1000 ratings, 0.15 is far below a panel at 0.6 even though it is above 0');
  assert.match(checks[10]!.reason, /not judged: one rating/);
  assert.ok(thresholds.low! > 0.28 && thresholds.low! < 0.5);
  assert.equal(thresholds.zCritical.toFixed(2), '2.33');
  assert.equal(judgeSpammers(evidence, 'best cluster', 3).thresholds.zCritical.toFixed(2), '2.71', 'best of 3 clusters: Bonferroni');
});

/** Ratings exactly as `miru synth --images N --raters R --seed S` draws them, without rendering any image. */
function synthRatings(images: number, raterCount: number, seed: number) {
  const attributes = Array.from({ length: images }, (_, i) => drawAttributes(SeededRandom.derive(seed, 'image', i)));
  const rank = {} as Record<PreferenceGroup, number[]>;
  for (const g of preferenceGroupNames) rank[g] = quantilePositions(attributes.map((a) => weightedScore(a, groupWeights[g])));
  const raters = makeRaters(raterCount, 5, seed);
  const { ratings } = simulateRatings(raters, rank, images, 5, seed);
  return { raters, set: ratingSetFrom(ratings.map((r) => ({ rater: raters[r.rater]!.name, imageId: r.image + 1, value: r.score }))) };
}

test('on synth data (600 images, 40 raters, 3 seeds) the clusters recover the preference groups (ARI 1) and every spammer is flagged', () => {
  // 600 images give each pair of raters ~37 shared images; at 300 the recovery is noisier (ARI 0.6-1 over seeds).
  for (const seed of [1, 2, 3]) {
    const { raters, set } = synthRatings(600, 40, seed);
    const { result } = analyzeRatingSet(set, { clusters: 'auto', truth: { raters } });
    assert.equal(result.clustering.k, 3, `seed ${seed}: k ${result.clustering.k}, silhouettes ${JSON.stringify(result.clustering.silhouettes)}`);
    assert.ok(result.truth!.ari! >= 0.9, `seed ${seed}: ARI ${result.truth!.ari}`);
    assert.deepEqual(result.truth!.spammers.missed, [], `seed ${seed}`);
    assert.deepEqual(result.truth!.spammers.falseAlarms, [], `seed ${seed}`);
    assert.ok(result.truth!.spammers.truth.length >= 2);
    // Spammers are out of every cluster; each cluster is one truth group.
    for (const r of result.raters) if (r.spammer) assert.equal(r.cluster, null);
    const groupOf = new Map(raters.map((r) => [r.name, r.group]));
    for (const c of result.clusters) assert.equal(new Set(c.raters.map((n) => groupOf.get(n))).size, 1, `seed ${seed} cluster ${c.id}`);
    // The dendrogram covers the clustered raters, and its leaf order keeps each cluster contiguous.
    assert.equal(result.dendrogram.leafOrder.length, result.clusters.reduce((s, c) => s + c.size, 0));
    const clusterOfName = new Map(result.raters.map((r) => [r.rater, r.cluster]));
    const runs = result.dendrogram.leafOrder.map((n) => clusterOfName.get(n)).filter((c, i, a) => i === 0 || c !== a[i - 1]);
    assert.equal(runs.length, 3);
    // Stratified consensus follows the plain mean closely but is not it.
    assert.ok(result.stratified!.spearmanWithMean! > 0.8 && result.stratified!.spearmanWithMean! < 1);
    assert.equal(result.stratified!.weights.reduce((s, w) => s + w.weight, 0).toFixed(3), '1.000');
  }
});

test('a panel without taste groups stays one cluster under auto; a given k is honoured; too large a k is refused', () => {
  // Ten raters with one taste (each a noisy copy of the same latent score).
  const rng = new SeededRandom(11);
  const latent = Array.from({ length: 200 }, () => rng.uniform(0, 1));
  const rows: { rater: string; imageId: number; value: number }[] = [];
  for (let r = 0; r < 10; r++) for (let i = 0; i < 200; i++) if (rng.uniform(0, 1) < 0.5) rows.push({ rater: `r${r}`, imageId: i, value: Math.max(1, Math.min(5, Math.round(1 + 4 * latent[i]! + rng.normal(0, 0.5)))) });
  const set = ratingSetFrom(rows);
  const auto = analyzeRatingSet(set, { clusters: 'auto' }).result;
  assert.equal(auto.clustering.k, 1, JSON.stringify(auto.clustering.silhouettes));
  assert.match(auto.notes.join(' '), /No clear cluster structure/);
  assert.equal(analyzeRatingSet(set, { clusters: 2 }).result.clusters.length, 2);
  assert.throws(() => analyzeRatingSet(set, { clusters: 11 }), /--clusters 11 is more than the 10 raters that can be clustered/);
});
