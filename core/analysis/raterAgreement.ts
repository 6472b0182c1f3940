// How each rater agrees with the others: counts, Spearman with the leave-one-out consensus (the mean of the OTHER
// raters on the same images, so a rater is never compared with itself), bias against that consensus, how much of
// the scale a rater uses, and pairwise statistics (quadratic weighted kappa, Spearman) between raters who rated
// enough images in common. A statistic that cannot be computed is null with a reason, never a made-up number.
import { spearman } from './correlation.js';
import { weightedKappa } from './weightedKappa.js';

/**
 * Ratings as parallel arrays (one entry per rating) with dense indices, the shape every rater analysis works on.
 * `rater[i]` indexes `raters`, `image[i]` indexes `imageIds`.
 */
export interface RatingSet {
  raters: string[];
  /** Library image ids (or any item ids), one per image index. */
  imageIds: number[];
  rater: Int32Array;
  image: Int32Array;
  value: Float64Array;
}

/** Builds a RatingSet from (rater name, image id, value) triples; a rater rating an image twice is an error. */
export function ratingSetFrom(rows: Iterable<{ rater: string; imageId: number; value: number }>): RatingSet {
  const raterIndex = new Map<string, number>();
  const imageIndex = new Map<number, number>();
  const r: number[] = [];
  const im: number[] = [];
  const v: number[] = [];
  const seen = new Set<string>();
  let row = 0;
  for (const x of rows) {
    row++;
    if (!Number.isFinite(x.value)) throw new Error(`Rating ${row} (rater ${JSON.stringify(x.rater)}, image ${x.imageId}) has the value ${x.value}; ratings must be finite numbers.`);
    const key = `${x.rater}\u0000${x.imageId}`;
    if (seen.has(key)) throw new Error(`Rater ${JSON.stringify(x.rater)} rated image ${x.imageId} twice (rating ${row}); keep one rating per rater and image.`);
    seen.add(key);
    let ri = raterIndex.get(x.rater);
    if (ri === undefined) raterIndex.set(x.rater, (ri = raterIndex.size));
    let ii = imageIndex.get(x.imageId);
    if (ii === undefined) imageIndex.set(x.imageId, (ii = imageIndex.size));
    r.push(ri);
    im.push(ii);
    v.push(x.value);
  }
  return { raters: [...raterIndex.keys()], imageIds: [...imageIndex.keys()], rater: Int32Array.from(r), image: Int32Array.from(im), value: Float64Array.from(v) };
}

/** Per-image sums and counts: what every consensus and the leave-one-out means are built from. */
export interface ImageTotals {
  count: Int32Array;
  sum: Float64Array;
}

export function imageTotals(set: RatingSet): ImageTotals {
  const count = new Int32Array(set.imageIds.length);
  const sum = new Float64Array(set.imageIds.length);
  for (let i = 0; i < set.value.length; i++) {
    count[set.image[i]!]!++;
    sum[set.image[i]!]! += set.value[i]!;
  }
  return { count, sum };
}

/** Each rater's ratings sorted by image index: the layout pairwise comparisons merge over. */
export interface RaterRows {
  /** offsets[r]..offsets[r+1] index `images` / `values` for rater r. */
  offsets: Int32Array;
  images: Int32Array;
  values: Float64Array;
}

export function raterRows(set: RatingSet): RaterRows {
  const R = set.raters.length;
  const offsets = new Int32Array(R + 1);
  for (let i = 0; i < set.rater.length; i++) offsets[set.rater[i]! + 1]!++;
  for (let r = 0; r < R; r++) offsets[r + 1]! += offsets[r]!;
  const fill = offsets.slice(0, R);
  const order = new Int32Array(set.rater.length);
  for (let i = 0; i < set.rater.length; i++) order[fill[set.rater[i]!]!++] = i;
  const images = new Int32Array(order.length);
  const values = new Float64Array(order.length);
  for (let r = 0; r < R; r++) {
    const idx = Array.from(order.subarray(offsets[r]!, offsets[r + 1]!)).sort((a, b) => set.image[a]! - set.image[b]!);
    idx.forEach((i, k) => {
      images[offsets[r]! + k] = set.image[i]!;
      values[offsets[r]! + k] = set.value[i]!;
    });
  }
  return { offsets, images, values };
}

export interface ScaleUsage {
  /** Each value the rater used, with how often, ascending by value. */
  histogram: { value: number; count: number }[];
  min: number;
  max: number;
  /** Shannon entropy of the rater's value distribution in bits (0: one value for everything). */
  entropy: number;
  /** Share of the library's scale values (those any rater used) that this rater used. */
  coverage: number;
}

export interface RaterStats {
  rater: string;
  count: number;
  mean: number;
  /** Images this rater shares with at least one other rater: the pairs behind spearman and bias. */
  overlap: number;
  /** Spearman between the rater's values and the leave-one-out consensus; null with `spearmanNote` when undefined. */
  spearman: number | null;
  spearmanNote?: string;
  /** Mean of (rating − leave-one-out consensus): positive rates more generously than the others. */
  bias: number | null;
  scale: ScaleUsage;
}

/** Fewer pairs than this give no Spearman: with two points it is always ±1, which says nothing. */
export const MIN_SPEARMAN_PAIRS = 3;

export function raterStats(set: RatingSet, rows: RaterRows = raterRows(set), totals: ImageTotals = imageTotals(set)): RaterStats[] {
  const scaleValues = [...new Set(set.value)].sort((a, b) => a - b);
  return set.raters.map((name, r) => {
    const from = rows.offsets[r]!;
    const to = rows.offsets[r + 1]!;
    const own: number[] = [];
    const others: number[] = [];
    const counts = new Map<number, number>();
    let total = 0;
    for (let k = from; k < to; k++) {
      const v = rows.values[k]!;
      const img = rows.images[k]!;
      total += v;
      counts.set(v, (counts.get(v) ?? 0) + 1);
      const m = totals.count[img]!;
      if (m < 2) continue;
      own.push(v);
      others.push((totals.sum[img]! - v) / (m - 1));
    }
    const count = to - from;
    const histogram = [...counts].map(([value, c]) => ({ value, count: c })).sort((a, b) => a.value - b.value);
    let entropy = 0;
    for (const h of histogram) entropy -= (h.count / count) * Math.log2(h.count / count);
    const scale: ScaleUsage = {
      histogram,
      min: histogram[0]?.value ?? NaN,
      max: histogram[histogram.length - 1]?.value ?? NaN,
      entropy: entropy === 0 ? 0 : entropy,
      coverage: scaleValues.length ? histogram.length / scaleValues.length : 0,
    };
    const stats: RaterStats = { rater: name, count, mean: count ? total / count : NaN, overlap: own.length, spearman: null, bias: null, scale };
    if (own.length === 0) {
      stats.spearmanNote = 'no image of this rater was rated by anyone else';
      return stats;
    }
    stats.bias = own.reduce((s, v, i) => s + v - others[i]!, 0) / own.length;
    if (own.length < MIN_SPEARMAN_PAIRS) {
      stats.spearmanNote = `only ${own.length} image${own.length === 1 ? '' : 's'} shared with other raters (Spearman needs ${MIN_SPEARMAN_PAIRS})`;
      return stats;
    }
    const rho = spearman(own, others);
    if (Number.isNaN(rho)) {
      stats.spearmanNote = histogram.length === 1 ? `every rating of this rater is ${histogram[0]!.value}, so it has no ranking to compare` : 'the other raters gave these images one and the same consensus';
      return stats;
    }
    stats.spearman = rho;
    return stats;
  });
}

/**
 * Spearman's rho for values from a small label set: average ranks come from counting each label (the rank of
 * label j is the count of smaller labels plus (count_j − 1) / 2), O(n + K) instead of a sort per pair. Equal to
 * correlation.ts spearman() on the same input; NaN where either side is constant.
 */
function discreteSpearman(a: readonly number[], b: readonly number[], position: Map<number, number>, scratch: Float64Array): number {
  const K = position.size;
  const ca = scratch.subarray(0, K).fill(0);
  const cb = scratch.subarray(K, 2 * K).fill(0);
  for (let i = 0; i < a.length; i++) {
    ca[position.get(a[i]!)!]!++;
    cb[position.get(b[i]!)!]!++;
  }
  // Turn counts into each label's average rank, in place.
  for (const c of [ca, cb]) {
    let below = 0;
    for (let j = 0; j < K; j++) {
      const n = c[j]!;
      c[j] = below + (n - 1) / 2;
      below += n;
    }
  }
  const n = a.length;
  const mean = (n - 1) / 2;
  let num = 0;
  let da = 0;
  let db = 0;
  for (let i = 0; i < n; i++) {
    const x = ca[position.get(a[i]!)!]! - mean;
    const y = cb[position.get(b[i]!)!]! - mean;
    num += x * y;
    da += x * x;
    db += y * y;
  }
  return da === 0 || db === 0 ? NaN : num / Math.sqrt(da * db);
}

export interface PairwiseAgreement {
  /** Rater names in matrix order. */
  raters: string[];
  /** R×R row-major; images both raters rated. */
  common: Int32Array;
  /** R×R quadratic weighted kappa (NaN where the pair shares fewer than minCommon images or kappa is undefined). */
  kappa: Float64Array;
  /** R×R Spearman on common images (NaN where undefined), diagonal 1. */
  spearman: Float64Array;
  minCommon: number;
  /** Labels the kappa weights are positions in: every value used in the ratings, ascending. */
  labels: number[];
}

/**
 * Pairwise kappa and Spearman for every pair of raters with at least `minCommon` images in common, by merging
 * the two raters' image-sorted rows (O(R² + Σ over compared pairs of their rating counts)). Kappa uses the whole
 * library's label list, so a rater who only uses 2..4 is weighted on the same positions as one who uses 1..5.
 */
export function pairwiseAgreement(set: RatingSet, minCommon: number, rows: RaterRows = raterRows(set)): PairwiseAgreement {
  if (!Number.isInteger(minCommon) || minCommon < 2) throw new Error(`--min-common must be a whole number of at least 2 (got ${minCommon}).`);
  const R = set.raters.length;
  const labels = [...new Set(set.value)].sort((a, b) => a - b);
  const common = new Int32Array(R * R);
  const kappa = new Float64Array(R * R).fill(NaN);
  const rho = new Float64Array(R * R).fill(NaN);
  const position = new Map(labels.map((v, i) => [v, i]));
  const counts = new Float64Array(2 * labels.length);
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < R; r++) {
    common[r * R + r] = rows.offsets[r + 1]! - rows.offsets[r]!;
    rho[r * R + r] = 1;
    kappa[r * R + r] = 1;
    for (let s = r + 1; s < R; s++) {
      a.length = 0;
      b.length = 0;
      let i = rows.offsets[r]!;
      let j = rows.offsets[s]!;
      const iEnd = rows.offsets[r + 1]!;
      const jEnd = rows.offsets[s + 1]!;
      while (i < iEnd && j < jEnd) {
        const di = rows.images[i]!;
        const dj = rows.images[j]!;
        if (di === dj) {
          a.push(rows.values[i++]!);
          b.push(rows.values[j++]!);
        } else if (di < dj) i++;
        else j++;
      }
      common[r * R + s] = common[s * R + r] = a.length;
      if (a.length < minCommon) continue;
      const k = weightedKappa(a, b, { weights: 'quadratic', labels });
      kappa[r * R + s] = kappa[s * R + r] = k ?? NaN;
      rho[r * R + s] = rho[s * R + r] = discreteSpearman(a, b, position, counts);
    }
  }
  return { raters: set.raters, common, kappa, spearman: rho, minCommon, labels };
}
