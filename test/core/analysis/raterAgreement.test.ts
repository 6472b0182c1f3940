import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../helpers/paths.js';
import { weightedKappa } from '../../../core/analysis/weightedKappa.js';
import { pairwiseAgreement, ratingSetFrom, raterStats } from '../../../core/analysis/raterAgreement.js';

interface Reference {
  kappa: ({ a: number[]; b: number[]; labels: number[] | null } & Record<'none' | 'linear' | 'quadratic', number>)[];
  ratingSet: {
    rows: { rater: string; image: number; value: number }[];
    minCommon: number;
    labels: number[];
    raterStats: Record<string, { overlap: number; spearman: number | null; bias: number | null }>;
    pairwise: Record<string, { common: number; kappa?: number; spearman?: number | null }>;
  };
}
const reference = JSON.parse(readFileSync(path.join(repoRoot, 'test/fixtures/analysis/rater_reference.json'), 'utf8')) as Reference;
const close = (a: number | null | undefined, b: number | null | undefined, what: string) => {
  if (b === null || b === undefined) return assert.ok(a === null || a === undefined || Number.isNaN(a), `${what}: expected none, got ${a}`);
  assert.ok(a !== null && a !== undefined && Math.abs(a - b) < 1e-9, `${what}: ${a} vs ${b}`);
};

test("weighted kappa (reused for rater pairs) matches scikit-learn's cohen_kappa_score", () => {
  for (const c of reference.kappa) {
    for (const w of ['none', 'linear', 'quadratic'] as const) close(weightedKappa(c.a, c.b, { weights: w, labels: c.labels ?? undefined }), c[w], `${w} ${JSON.stringify(c.a)}`);
  }
});

const set = ratingSetFrom(reference.ratingSet.rows.map((r) => ({ rater: r.rater, imageId: r.image, value: r.value })));

test('per rater: Spearman with the leave-one-out consensus and bias match scipy; too few or constant ratings give null with a reason', () => {
  const stats = raterStats(set);
  for (const s of stats) {
    const ref = reference.ratingSet.raterStats[s.rater]!;
    assert.equal(s.overlap, ref.overlap, s.rater);
    close(s.spearman, ref.spearman, `${s.rater} spearman`);
    close(s.bias, ref.bias, `${s.rater} bias`);
  }
  const fay = stats.find((s) => s.rater === 'fay')!;
  assert.equal(fay.spearman, null);
  assert.match(fay.spearmanNote!, /only 2 images shared with other raters \(Spearman needs 3\)/);
  const gus = stats.find((s) => s.rater === 'gus')!;
  assert.equal(gus.spearman, null);
  assert.match(gus.spearmanNote!, /every rating of this rater is 3/);
  // Scale usage: gus uses one value (entropy 0) of the five; dan rates generously (positive bias).
  assert.deepEqual(gus.scale.histogram, [{ value: 3, count: 6 }]);
  assert.equal(gus.scale.entropy, 0);
  assert.equal(gus.scale.coverage, 1 / 5);
  assert.ok(stats.find((s) => s.rater === 'dan')!.bias! > 0.2);
  const eve = stats.find((s) => s.rater === 'eve')!;
  assert.ok(eve.scale.entropy > 2, 'a random rater spreads over the whole scale');
});

test('pairwise quadratic kappa (on the library-wide label list) and Spearman match scikit-learn and scipy; pairs below --min-common are NaN', () => {
  const pairs = pairwiseAgreement(set, reference.ratingSet.minCommon);
  assert.deepEqual(pairs.labels, reference.ratingSet.labels);
  const R = set.raters.length;
  let compared = 0;
  for (const [key, ref] of Object.entries(reference.ratingSet.pairwise)) {
    const [a, b] = key.split('|').map((name) => set.raters.indexOf(name));
    assert.equal(pairs.common[a! * R + b!], ref.common, key);
    if (ref.kappa === undefined) {
      assert.ok(Number.isNaN(pairs.kappa[a! * R + b!]!), `${key} shares ${ref.common} images, below --min-common`);
      continue;
    }
    compared++;
    close(pairs.kappa[a! * R + b!]!, ref.kappa, `${key} kappa`);
    close(pairs.kappa[b! * R + a!]!, ref.kappa, `${key} kappa (symmetric)`);
    close(pairs.spearman[a! * R + b!]!, ref.spearman, `${key} spearman`);
  }
  assert.ok(compared >= 10);
  assert.throws(() => pairwiseAgreement(set, 1), /--min-common must be a whole number of at least 2/);
});

test('a rating set refuses duplicate and non-finite ratings, naming the rater and image', () => {
  assert.throws(() => ratingSetFrom([{ rater: 'a', imageId: 1, value: 2 }, { rater: 'a', imageId: 1, value: 3 }]), /Rater "a" rated image 1 twice \(rating 2\)/);
  assert.throws(() => ratingSetFrom([{ rater: 'a', imageId: 7, value: NaN }]), /Rating 1 \(rater "a", image 7\) has the value NaN/);
});
