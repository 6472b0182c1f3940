// Rater clusters: which raters share a taste. Each rater is represented by its co-rating correlation profile (its
// Spearman correlation with every other rater on the images both rated, shrunk toward 0 where they share few
// images); two raters are close when their profiles correlate, i.e. they agree and disagree with the same people.
// Profiles are steadier than a single pairwise correlation, which with sparse ratings rests on few images.
// Raters are clustered hierarchically (average linkage, UPGMA); the dendrogram is returned for the heatmap, and
// k is given or chosen by the mean silhouette. Spammers (no agreement with the consensus, robustly thresholded)
// and raters with too little overlap are kept out, with the reason.
import type { PairwiseAgreement, RaterRows, RaterStats, RatingSet } from './raterAgreement.js';
import { pearson, spearman } from './correlation.js';
import type { RaterDendrogramMerge, RaterSpammerThresholds } from '../api/types/raterReport.js';

/** A merge of the dendrogram (scipy linkage numbering); declared with the rater report the renderer reads. */
export type Merge = RaterDendrogramMerge;

/**
 * Average-linkage agglomerative clustering of n items from a full symmetric distance matrix (row-major n×n).
 * Merges come out in order of height, each pair with the smaller id first (scipy.cluster.hierarchy.linkage's
 * convention, method='average'). O(n³), fine for the few hundred raters of a study.
 */
export function averageLinkage(distance: ArrayLike<number>, n: number): Merge[] {
  if (distance.length !== n * n) throw new Error(`averageLinkage: a ${n}×${n} distance matrix needs ${n * n} entries, got ${distance.length}.`);
  const d = Float64Array.from(distance);
  const active = new Uint8Array(n).fill(1);
  const id = Int32Array.from({ length: n }, (_, i) => i);
  const size = new Int32Array(n).fill(1);
  const merges: Merge[] = [];
  for (let step = 0; step < n - 1; step++) {
    let best = Infinity;
    let bi = -1;
    let bj = -1;
    for (let i = 0; i < n; i++) {
      if (!active[i]) continue;
      for (let j = i + 1; j < n; j++) {
        if (!active[j]) continue;
        const v = d[i * n + j]!;
        if (v < best || bi < 0) {
          best = v;
          bi = i;
          bj = j;
        }
      }
    }
    const [left, right] = id[bi]! < id[bj]! ? [id[bi]!, id[bj]!] : [id[bj]!, id[bi]!];
    const merged = size[bi]! + size[bj]!;
    merges.push({ left, right, height: best, size: merged });
    // Lance-Williams update for average linkage: the size-weighted mean of the two distances.
    for (let k = 0; k < n; k++) {
      if (!active[k] || k === bi || k === bj) continue;
      const v = (size[bi]! * d[bi * n + k]! + size[bj]! * d[bj * n + k]!) / merged;
      d[bi * n + k] = d[k * n + bi] = v;
    }
    active[bj] = 0;
    size[bi] = merged;
    id[bi] = n + step;
  }
  return merges;
}

/** Leaves in dendrogram order (pre-order from the root, left before right), as scipy's leaves_list gives. */
export function leafOrder(merges: readonly Merge[], n: number): number[] {
  if (n === 0) return [];
  if (merges.length === 0) return [0];
  const out: number[] = [];
  const stack = [n + merges.length - 1];
  while (stack.length) {
    const node = stack.pop()!;
    if (node < n) out.push(node);
    else {
      const m = merges[node - n]!;
      stack.push(m.right, m.left);
    }
  }
  return out;
}

/** Cluster labels 0..k-1 after undoing the last k-1 merges, numbered in order of first appearance in `order`. */
export function cutTree(merges: readonly Merge[], n: number, k: number, order: readonly number[] = leafOrder(merges, n)): Int32Array {
  if (!Number.isInteger(k) || k < 1 || k > n) throw new Error(`Cannot cut ${n} raters into ${k} clusters: k must be between 1 and ${n}.`);
  const parent = Int32Array.from({ length: 2 * n }, (_, i) => i);
  const find = (x: number): number => {
    while (parent[x] !== x) x = parent[x] = parent[parent[x]!]!;
    return x;
  };
  merges.slice(0, n - k).forEach((m, s) => {
    parent[find(m.left)] = n + s;
    parent[find(m.right)] = n + s;
  });
  const labelOf = new Map<number, number>();
  const labels = new Int32Array(n);
  for (const leaf of order) {
    const root = find(leaf);
    if (!labelOf.has(root)) labelOf.set(root, labelOf.size);
    labels[leaf] = labelOf.get(root)!;
  }
  return labels;
}

/** Mean silhouette (scikit-learn's silhouette_score with a precomputed metric); a singleton's silhouette is 0. */
export function silhouetteScore(distance: ArrayLike<number>, labels: ArrayLike<number>): number | null {
  const n = labels.length;
  const k = new Set(Array.from(labels)).size;
  if (k < 2 || k > n - 1) return null;
  const sizes = new Map<number, number>();
  for (let i = 0; i < n; i++) sizes.set(labels[i]!, (sizes.get(labels[i]!) ?? 0) + 1);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const sums = new Map<number, number>();
    for (let j = 0; j < n; j++) if (j !== i) sums.set(labels[j]!, (sums.get(labels[j]!) ?? 0) + distance[i * n + j]!);
    const own = sizes.get(labels[i]!)!;
    if (own === 1) continue;
    const a = (sums.get(labels[i]!) ?? 0) / (own - 1);
    let b = Infinity;
    for (const [label, sum] of sums) if (label !== labels[i]) b = Math.min(b, sum / sizes.get(label)!);
    const s = Math.max(a, b) > 0 ? (b - a) / Math.max(a, b) : 0;
    total += s;
  }
  return total / n;
}

/** Adjusted Rand index (Hubert & Arabie), as scikit-learn's adjusted_rand_score computes it. */
export function adjustedRandIndex(a: readonly (string | number)[], b: readonly (string | number)[]): number {
  if (a.length !== b.length) throw new Error(`adjustedRandIndex: ${a.length} and ${b.length} labels; pass one label per item in each.`);
  const n = a.length;
  const pairs = (x: number) => (x * (x - 1)) / 2;
  const table = new Map<string, number>();
  const rows = new Map<string | number, number>();
  const cols = new Map<string | number, number>();
  for (let i = 0; i < n; i++) {
    const key = `${typeof a[i]}:${a[i]}\u0000${typeof b[i]}:${b[i]}`;
    table.set(key, (table.get(key) ?? 0) + 1);
    rows.set(a[i]!, (rows.get(a[i]!) ?? 0) + 1);
    cols.set(b[i]!, (cols.get(b[i]!) ?? 0) + 1);
  }
  let index = 0;
  for (const c of table.values()) index += pairs(c);
  let sumA = 0;
  for (const c of rows.values()) sumA += pairs(c);
  let sumB = 0;
  for (const c of cols.values()) sumB += pairs(c);
  const expected = n > 1 ? (sumA * sumB) / pairs(n) : 0;
  const max = (sumA + sumB) / 2;
  // scikit-learn: identical trivial partitions (one cluster each, or all singletons) score 1.
  if (max === expected) return 1;
  return (index - expected) / (max - expected);
}

export interface SpammerCheck {
  spammer: boolean;
  /** Why a rater was or was not flagged, in words. */
  reason: string;
}

/** How the spammer flags were decided; declared with the rater report the renderer reads. */
export type SpammerThresholds = RaterSpammerThresholds;

/** Agreement evidence for one rater: a Spearman over n images, and what it was measured against. */
export interface AgreementEvidence {
  rho: number | null;
  n: number;
  against: string;
  /** Why there is no rho. */
  note?: string;
}

/** One-sided z for p = 0.01. */
const Z_CRITICAL = 2.326;

/** One-sided normal quantile for p = 0.01 / comparisons (Bonferroni), by bisection on erfc. */
function zCritical(comparisons: number): number {
  const p = 0.01 / Math.max(1, comparisons);
  let lo = 0;
  let hi = 10;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (0.5 * erfc(mid / Math.SQRT2) > p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Complementary error function (Numerical Recipes' erfcc, relative error < 1.2e-7). */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851973 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? r : 2 - r;
}

/**
 * A spammer agrees with the others far less than the panel does. Its Spearman must be below `low`, the larger of
 * the robust fence (median − 3 × 1.4826 × MAD) and half the panel's median, and the data must show it, one way
 * or the other (one-sided p < 0.01 on Fisher's z):
 *  - its agreement is not significantly above 0 (atanh(ρ)·√(n−3) below the one-sided 1% quantile, Bonferroni-
 *    corrected when ρ is the best of `comparisons` clusters): indistinguishable from random, where
 *    n is large enough that a rater agreeing like the panel's median would have passed that test; or
 *  - it is significantly below half the panel's median ((atanh(median/2) − atanh(ρ))·√(n−3) ≥ 2.326): with many
 *    ratings, a small but "significant" agreement is still far from the panel's. Half the median, not the fence:
 *    with a thousand ratings an honest rater on a compressed scale (3..5 only) sits measurably below a tight
 *    fence, but not at half the panel's agreement.
 * The bar at `low` keeps a weak but honest rater of a consistent panel; half the median matters when honest
 * raters spread widely (several tastes, compressed scales) and the MAD fence falls below 0. Raters without a
 * Spearman are not judged.
 */
export function judgeSpammers(evidence: readonly AgreementEvidence[], against: SpammerThresholds['against'], comparisons = 1): { checks: SpammerCheck[]; thresholds: SpammerThresholds } {
  // A best-of-k agreement is the largest of k chances to look good: its test above 0 is corrected for that.
  const zAbove = zCritical(comparisons);
  const rhos = evidence.map((e) => e.rho).filter((x): x is number => x !== null).sort((a, b) => a - b);
  const median = rhos.length ? quantileSorted(rhos, 0.5) : null;
  const mad = median === null ? null : quantileSorted(rhos.map((r) => Math.abs(r - median)).sort((a, b) => a - b), 0.5);
  const fence = median === null || mad === null ? null : median - 3 * 1.4826 * mad;
  const low = median === null ? null : Math.max(fence!, median / 2);
  const clamp = (r: number) => Math.max(-0.999999, Math.min(0.999999, r));
  const checks = evidence.map((e): SpammerCheck => {
    if (e.rho === null) return { spammer: false, reason: `not judged: ${e.note ?? 'no Spearman'}` };
    if (low === null || e.rho >= low) return { spammer: false, reason: `Spearman ${e.rho.toFixed(3)} with ${e.against} is within the panel's range` };
    const root = e.n > 3 ? Math.sqrt(e.n - 3) : 0;
    const zAboveZero = Math.atanh(clamp(e.rho)) * root;
    const half = median! / 2;
    const zBelowHalf = e.rho < half ? (Math.atanh(clamp(half)) - Math.atanh(clamp(e.rho))) * root : 0;
    const where = `Spearman ${e.rho.toFixed(3)} with ${e.against} over ${e.n} images`;
    const bar = `${low.toFixed(3)} (the larger of the robust fence and half the panel's median ${median!.toFixed(3)})`;
    // "Not above 0" only counts where a rater agreeing like the panel's median would have shown it.
    const informative = Math.atanh(clamp(median!)) * root >= zAbove;
    if (zAboveZero < zAbove && informative) return { spammer: true, reason: `its best agreement, ${where}, is below ${bar} and not significantly above 0 (z ${zAboveZero.toFixed(2)})` };
    if (zBelowHalf >= Z_CRITICAL) return { spammer: true, reason: `its best agreement, ${where}, is significantly below half the panel's median, ${half.toFixed(3)} (z ${zBelowHalf.toFixed(2)})` };
    return { spammer: false, reason: informative ? `${where} is low, but neither indistinguishable from 0 nor clearly below the panel's` : `${where} is low, but ${e.n} images are too few to tell` };
  });
  return { checks, thresholds: { against, fence, low, median, zCritical: zAbove } };
}

/** First pass: agreement with the leave-one-out consensus of all other raters. */
export function flagSpammers(stats: readonly RaterStats[]): { checks: SpammerCheck[]; thresholds: SpammerThresholds } {
  return judgeSpammers(
    stats.map((s) => ({ rho: s.spearman, n: s.overlap, against: 'the consensus', note: s.spearmanNote })),
    'consensus',
  );
}

/**
 * Each rater's Spearman with the leave-one-out consensus of each cluster (the mean of the cluster's OTHER members
 * on the images they share with the rater), and the best of them. A rater of a minority taste agrees weakly with
 * the overall consensus but strongly with its own cluster; a spammer agrees with none.
 */
export function clusterAgreement(set: RatingSet, rows: RaterRows, clusterOf: Int32Array, k: number): AgreementEvidence[] {
  const N = set.imageIds.length;
  const sum = Array.from({ length: k }, () => new Float64Array(N));
  const count = Array.from({ length: k }, () => new Int32Array(N));
  for (let i = 0; i < set.value.length; i++) {
    const c = clusterOf[set.rater[i]!]!;
    if (c < 0) continue;
    sum[c]![set.image[i]!]! += set.value[i]!;
    count[c]![set.image[i]!]!++;
  }
  return set.raters.map((_, r) => {
    let best: AgreementEvidence = { rho: null, n: 0, against: 'any cluster', note: 'shares too few images with any cluster' };
    for (let c = 0; c < k; c++) {
      const own: number[] = [];
      const peers: number[] = [];
      const self = clusterOf[r] === c ? 1 : 0;
      for (let x = rows.offsets[r]!; x < rows.offsets[r + 1]!; x++) {
        const img = rows.images[x]!;
        const m = count[c]![img]! - self;
        if (m < 1) continue;
        own.push(rows.values[x]!);
        peers.push((sum[c]![img]! - self * rows.values[x]!) / m);
      }
      if (own.length < 3) continue;
      const rho = spearman(own, peers);
      if (Number.isFinite(rho) && (best.rho === null || rho > best.rho)) best = { rho, n: own.length, against: `cluster ${c + 1}'s consensus` };
    }
    return best;
  });
}

function quantileSorted(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export interface ClusterOptions {
  /** A number of clusters, or 'auto' to pick k in 2..maxK by the mean silhouette. */
  k: number | 'auto';
  /** Pairs sharing n images have their correlation multiplied by n / (n + shrinkage). Default 10. */
  shrinkage?: number;
  /** Largest k tried by 'auto'. Default 10. */
  maxK?: number;
  /** 'auto' keeps one cluster when no k reaches this mean silhouette. Default 0.25 (Kaufman & Rousseeuw: "no substantial structure" below it). */
  minSilhouette?: number;
  /**
   * 'auto' also keeps one cluster when raters correlate across clusters at least this share of how they
   * correlate within them (mean shrunk Spearman over pairs with enough shared images). Default 0.75.
   */
  minSeparation?: number;
}

export interface RaterClustering {
  /** Indices (into the rater list) of the clustered raters, in the order merges and distance refer to. */
  members: number[];
  /** Per clustered rater (same order as members): cluster label 0..k-1. */
  labels: Int32Array;
  k: number;
  merges: Merge[];
  /** Positions into `members`, in dendrogram order. */
  leafOrder: number[];
  /** Mean silhouette per k tried (k → score), and of the chosen k. */
  silhouettes: { k: number; silhouette: number | null }[];
  silhouette: number | null;
  /** Mean shrunk Spearman between raters of the same cluster and of different clusters (null where no such pair). */
  separation: { within: number | null; between: number | null };
  /** Raters kept out, with why. */
  excluded: { rater: number; reason: string }[];
  notes: string[];
  /** Profile distances between clustered raters (members order, row-major). */
  distance: Float64Array;
}

/** Shrunk correlation between raters: NaN correlations and pairs below minCommon count as 0 (unknown). */
function shrunkCorrelation(pairs: PairwiseAgreement, shrinkage: number): Float64Array {
  const R = pairs.raters.length;
  const out = new Float64Array(R * R);
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < R; j++) {
      if (i === j) {
        out[i * R + j] = 1;
        continue;
      }
      const n = pairs.common[i * R + j]!;
      const r = pairs.spearman[i * R + j]!;
      out[i * R + j] = n >= pairs.minCommon && Number.isFinite(r) ? (r * n) / (n + shrinkage) : 0;
    }
  }
  return out;
}

function clusterSeparation(corr: Float64Array, R: number, members: readonly number[], labels: Int32Array, pairs: PairwiseAgreement): RaterClustering['separation'] {
  let within = 0;
  let nWithin = 0;
  let between = 0;
  let nBetween = 0;
  for (let x = 0; x < members.length; x++) {
    for (let y = x + 1; y < members.length; y++) {
      const a = members[x]!;
      const b = members[y]!;
      if (pairs.common[a * R + b]! < pairs.minCommon) continue;
      if (labels[x] === labels[y]) {
        within += corr[a * R + b]!;
        nWithin++;
      } else {
        between += corr[a * R + b]!;
        nBetween++;
      }
    }
  }
  return { within: nWithin ? within / nWithin : null, between: nBetween ? between / nBetween : null };
}

/**
 * Profile distance 1 − Pearson(profile_i, profile_j), where a profile is a rater's row of shrunk correlations
 * with the other clustered raters; the entries for i and j themselves are left out (each profile's own 1 would
 * otherwise pull every pair apart).
 */
export function profileDistances(corr: Float64Array, R: number, members: readonly number[]): Float64Array {
  const n = members.length;
  const dist = new Float64Array(n * n);
  const a: number[] = [];
  const b: number[] = [];
  for (let x = 0; x < n; x++) {
    for (let y = x + 1; y < n; y++) {
      a.length = 0;
      b.length = 0;
      for (let z = 0; z < n; z++) {
        if (z === x || z === y) continue;
        a.push(corr[members[x]! * R + members[z]!]!);
        b.push(corr[members[y]! * R + members[z]!]!);
      }
      const r = pearson(a, b);
      // A flat profile (no known correlations) carries no taste: as far from everyone as unrelated raters are.
      const d = Number.isFinite(r) ? 1 - r : 1;
      dist[x * n + y] = dist[y * n + x] = d;
    }
  }
  return dist;
}

export function clusterRaters(pairs: PairwiseAgreement, stats: readonly RaterStats[], spammers: readonly SpammerCheck[], options: ClusterOptions): RaterClustering {
  const R = pairs.raters.length;
  const shrinkage = options.shrinkage ?? 10;
  const maxK = options.maxK ?? 10;
  const minSilhouette = options.minSilhouette ?? 0.25;
  const minSeparation = options.minSeparation ?? 0.75;
  const excluded: RaterClustering['excluded'] = [];
  const candidates: number[] = [];
  for (let r = 0; r < R; r++) {
    if (spammers[r]!.spammer) excluded.push({ rater: r, reason: 'flagged as a spammer' });
    else if (stats[r]!.spearman === null) excluded.push({ rater: r, reason: stats[r]!.spearmanNote ?? 'no agreement statistic' });
    else candidates.push(r);
  }
  // A profile needs correlations with at least two other raters to say anything.
  const members: number[] = [];
  for (const r of candidates) {
    const known = candidates.filter((s) => s !== r && pairs.common[r * R + s]! >= pairs.minCommon).length;
    if (known >= 2) members.push(r);
    else excluded.push({ rater: r, reason: `shares ${pairs.minCommon} or more images with only ${known} other rater${known === 1 ? '' : 's'} (--min-common ${pairs.minCommon})` });
  }
  const notes: string[] = [];
  const n = members.length;
  const corr = shrunkCorrelation(pairs, shrinkage);
  const distance = profileDistances(corr, R, members);
  const merges = averageLinkage(distance, n);
  const order = leafOrder(merges, n);
  const silhouettes: RaterClustering['silhouettes'] = [];
  let k: number;
  if (n === 0) {
    notes.push('No rater could be clustered.');
    return { members, labels: new Int32Array(0), k: 0, merges, leafOrder: order, silhouettes, silhouette: null, separation: { within: null, between: null }, excluded, notes, distance };
  }
  if (options.k === 'auto') {
    let best: { k: number; s: number } | null = null;
    for (let kk = 2; kk <= Math.min(maxK, n - 1); kk++) {
      const s = silhouetteScore(distance, cutTree(merges, n, kk, order));
      silhouettes.push({ k: kk, silhouette: s });
      if (s !== null && (best === null || s > best.s)) best = { k: kk, s };
    }
    if (best && best.s >= minSilhouette) k = best.k;
    else {
      k = 1;
      notes.push(
        best
          ? `No clear cluster structure: the best mean silhouette is ${best.s.toFixed(3)} (k = ${best.k}), below ${minSilhouette}; all raters form one cluster.`
          : `Too few raters (${n}) to choose k by silhouette; all raters form one cluster.`,
      );
    }
  } else {
    if (!Number.isInteger(options.k) || options.k < 1) throw new Error(`--clusters must be a whole number of at least 1 or "auto" (got ${options.k}).`);
    if (options.k > n) throw new Error(`--clusters ${options.k} is more than the ${n} raters that can be clustered (${R - n} of ${R} are spammers or share too few images with others).`);
    k = options.k;
  }
  let labels = cutTree(merges, n, k, order);
  const separation = clusterSeparation(corr, R, members, labels, pairs);
  if (options.k === 'auto' && k > 1 && separation.within !== null && separation.between !== null && separation.between >= minSeparation * separation.within) {
    // Profile distances turn the noise of a one-taste panel into spurious structure; clusters whose raters agree
    // across clusters about as well as within them are not tastes.
    notes.push(
      `No clear cluster structure: the best split (k = ${k}, silhouette ${silhouetteScore(distance, labels)?.toFixed(3)}) has raters correlating ${separation.between.toFixed(3)} across clusters against ${separation.within.toFixed(3)} within them; all raters form one cluster.`,
    );
    k = 1;
    labels = cutTree(merges, n, 1, order);
  }
  const silhouette = silhouetteScore(distance, labels);
  return { members, labels, k, merges, leafOrder: order, silhouettes, silhouette, separation, excluded, notes, distance };
}
