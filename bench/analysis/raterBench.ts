/**
 * Rater analysis benchmarks for `npm run bench:analysis`:
 * - Krippendorff's alpha (all four metrics from one coincidence matrix) on 1,000,000 synthetic ratings
 *   (100k images × 10 ratings on a 1..5 scale); same-run baseline: one plain pass summing the
 *   ratings, the least any computation over them must cost.
 * - The full rater analysis (alpha, per-rater statistics, pairwise kappa, CROWDLAB, two clustering passes,
 *   stratified consensus) on a synth-sized panel (600 images × 40 raters, ratings drawn exactly as `miru synth`
 *   draws them) and on a larger one (5,000 images × 200 raters); baseline: the mean consensus of the same set.
 */
import { krippendorffAlpha } from '../../core/analysis/krippendorffAlpha.js';
import { ratingSetFrom, type RatingSet } from '../../core/analysis/raterAgreement.js';
import { analyzeRatingSet } from '../../core/analysis/raterAnalysis.js';
import { meanConsensus } from '../../core/analysis/raterConsensus.js';
import { groupWeights, preferenceGroupNames, quantilePositions, weightedScore, type PreferenceGroup } from '../../core/synth/aestheticTruth.js';
import { drawAttributes } from '../../core/synth/attributes.js';
import { SeededRandom } from '../../core/synth/random.js';
import { makeRaters, simulateRatings, type RaterProfile } from '../../core/synth/raters.js';
import { gaussian, median, now, rng } from '../benchUtil.js';
import type { BenchRow } from './benchRow.js';

const REPEATS = 3;

function timeIt(fn: () => void): number {
  const times: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const t = now();
    fn();
    times.push(now() - t);
  }
  return median(times);
}

/** images × perImage ratings, each a noisy read of the image's latent quality (who rated does not enter alpha). */
function syntheticRatings(images: number, perImage: number): { units: Int32Array; values: Float64Array } {
  const random = rng(7);
  const units = new Int32Array(images * perImage);
  const values = new Float64Array(images * perImage);
  let k = 0;
  for (let i = 0; i < images; i++) {
    const latent = 1 + 4 * random();
    for (let j = 0; j < perImage; j++) {
      units[k] = i;
      values[k++] = Math.max(1, Math.min(5, Math.round(latent + 0.8 * gaussian(random))));
    }
  }
  return { units, values };
}

/** Ratings exactly as `miru synth --images N --raters R --seed S` draws them, without rendering images. */
function synthPanel(images: number, raterCount: number, seed: number): { set: RatingSet; raters: RaterProfile[] } {
  const attributes = Array.from({ length: images }, (_, i) => drawAttributes(SeededRandom.derive(seed, 'image', i)));
  const rank = {} as Record<PreferenceGroup, number[]>;
  for (const g of preferenceGroupNames) rank[g] = quantilePositions(attributes.map((a) => weightedScore(a, groupWeights[g])));
  const raters = makeRaters(raterCount, 5, seed);
  const { ratings } = simulateRatings(raters, rank, images, 5, seed);
  return { raters, set: ratingSetFrom(ratings.map((r) => ({ rater: raters[r.rater]!.name, imageId: r.image + 1, value: r.score }))) };
}

export async function runRaterBench(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];

  const { units, values } = syntheticRatings(100_000, 10);
  let sink = 0;
  const sumPass = timeIt(() => {
    let s = 0;
    for (let i = 0; i < values.length; i++) s += values[i]! + units[i]!;
    sink += s;
  });
  // Keeps the baseline loop from being optimised away.
  if (!Number.isFinite(sink)) throw new Error('the baseline sum is not finite');
  let alpha: ReturnType<typeof krippendorffAlpha> | null = null;
  const alphaMs = timeIt(() => {
    alpha = krippendorffAlpha(units, values);
  });
  const a = alpha!;
  rows.push({
    name: "Krippendorff's alpha, 4 metrics, 1M ratings (ms)",
    baseline: round(sumPass),
    value: round(alphaMs),
    ratio: round(alphaMs / sumPass),
    note: `baseline: one pass summing the ratings; alpha nominal ${a.nominal.alpha!.toFixed(3)}, ordinal ${a.ordinal.alpha!.toFixed(3)}, interval ${a.interval.alpha!.toFixed(3)}, ratio ${a.ratio.alpha!.toFixed(3)}`,
  });

  for (const [images, raterCount] of [
    [600, 40],
    [5000, 200],
  ] as const) {
    const { set, raters } = synthPanel(images, raterCount, 1);
    const meanMs = timeIt(() => void meanConsensus(set));
    let result: ReturnType<typeof analyzeRatingSet>['result'] | null = null;
    const fullMs = timeIt(() => {
      result = analyzeRatingSet(set, { clusters: 'auto', consensus: 'crowdlab', truth: { raters } }).result;
    });
    const r = result!;
    rows.push({
      name: `full rater analysis, ${images} images × ${raterCount} raters (ms)`,
      baseline: round(meanMs),
      value: round(fullMs),
      ratio: round(fullMs / meanMs),
      note: `${set.value.length} ratings; baseline: mean consensus; k ${r.clustering.k}, ARI ${r.truth!.ari}, spammers found ${r.truth!.spammers.found}/${r.truth!.spammers.truth.length}, false alarms ${r.truth!.spammers.falseAlarms.length}`,
    });
  }
  return rows;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
