// Gradient-boosted regression trees (least squares), small and deterministic, for feature attribution
// (issue 4). npm has no maintained gradient-boosting package for continuous features: ml-xgboost is an
// unmaintained emscripten build, decision-tree's "XGBoost" splits on categorical values only, and ml-cart's
// regression tree evaluates each split point in O(n), which is too slow to boost. So this file grows its own.
//
// The method is Friedman's stochastic gradient boosting with histogram splits, as LightGBM and scikit-learn's
// HistGradientBoostingRegressor do it:
// - each feature is cut into at most `bins` bins at training-set quantiles; a split is "x <= threshold" with
//   the threshold half-way between two neighbouring training values, so prediction works on raw values;
// - every tree fits the current residuals on a seeded subsample of the rows, depth-first to `maxDepth`, choosing
//   the split that most reduces squared error (gain = SL^2/(nL+l2) + SR^2/(nR+l2) - S^2/(n+l2)) among those
//   leaving at least `minSamplesLeaf` rows per side; a leaf predicts its residual sum / (count + l2);
// - the model is the training mean plus learningRate times the sum of the trees.
import { SeededRandom } from '../synth/random.js';

export interface BoostingOptions {
  trees: number;
  learningRate: number;
  maxDepth: number;
  minSamplesLeaf: number;
  /** Share of the rows each tree is grown on (stochastic gradient boosting); 1 uses all. */
  subsample: number;
  /** Most bins per feature. */
  bins: number;
  /** L2 shrinkage of leaf values (in rows): a leaf of c rows predicts sum / (c + l2). */
  l2: number;
  seed: number;
}

export const defaultBoostingOptions: BoostingOptions = {
  trees: 200,
  learningRate: 0.05,
  maxDepth: 3,
  minSamplesLeaf: 8,
  subsample: 0.8,
  bins: 32,
  l2: 1,
  seed: 1,
};

/** One tree in flat arrays; node 0 is the root. A leaf has feature -1. */
interface Tree {
  feature: Int32Array;
  threshold: Float64Array;
  left: Int32Array;
  right: Int32Array;
  value: Float64Array;
}

export interface BoostedTrees {
  base: number;
  learningRate: number;
  trees: Tree[];
  featureCount: number;
}

/** Split thresholds of one feature: half-way points between neighbouring distinct values at quantile cuts. */
function featureThresholds(values: ArrayLike<number>, rows: ArrayLike<number>, bins: number): Float64Array {
  const sorted = Float64Array.from({ length: rows.length }, (_, k) => values[rows[k]!]!).sort();
  const distinct: number[] = [];
  for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) distinct.push(sorted[i]!);
  if (distinct.length <= 1) return new Float64Array(0);
  if (distinct.length <= bins) {
    return Float64Array.from({ length: distinct.length - 1 }, (_, i) => (distinct[i]! + distinct[i + 1]!) / 2);
  }
  const cuts: number[] = [];
  for (let b = 1; b < bins; b++) {
    const at = Math.min(sorted.length - 1, Math.floor((b * sorted.length) / bins));
    const lo = sorted[at - 1]!;
    const hi = sorted[at]!;
    // A cut inside a run of equal values moves to the run's end (the next distinct value).
    let cut: number;
    if (lo < hi) cut = (lo + hi) / 2;
    else {
      const next = distinct.findIndex((v) => v > hi);
      if (next < 0) continue;
      cut = (hi + distinct[next]!) / 2;
    }
    if (cuts.length === 0 || cut > cuts[cuts.length - 1]!) cuts.push(cut);
  }
  return Float64Array.from(cuts);
}

/** Bin of a value: how many thresholds it exceeds, so bin <= b exactly when value <= thresholds[b]. */
function binOf(thresholds: Float64Array, value: number): number {
  let lo = 0;
  let hi = thresholds.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (value > thresholds[mid]!) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Fits a boosted-tree regression.
 * @param columns one array of feature values per feature (all of length n)
 * @param y the target, length n
 * @param rows the training rows (indices into columns and y); all rows when left out
 */
export function fitBoostedTrees(
  columns: ArrayLike<number>[],
  y: ArrayLike<number>,
  options: Partial<BoostingOptions> = {},
  rows?: ArrayLike<number>,
): BoostedTrees {
  const opts = { ...defaultBoostingOptions, ...options };
  const train = rows ? Int32Array.from(rows as ArrayLike<number>) : Int32Array.from({ length: y.length }, (_, i) => i);
  const m = train.length;
  const p = columns.length;
  if (m === 0) throw new Error('fitBoostedTrees: no training rows.');
  const thresholds = columns.map((c) => featureThresholds(c, train, Math.max(2, Math.min(255, opts.bins))));
  // Binned training matrix, feature-major, indexed by position in `train`.
  const binned = thresholds.map((t, j) => {
    const out = new Uint8Array(m);
    const col = columns[j]!;
    for (let k = 0; k < m; k++) out[k] = binOf(t, col[train[k]!]!);
    return out;
  });
  let base = 0;
  for (let k = 0; k < m; k++) base += y[train[k]!]!;
  base /= m;
  const prediction = new Float64Array(m).fill(base);
  const residual = new Float64Array(m);
  const rng = SeededRandom.derive(opts.seed, 'boosted-trees');
  const trees: Tree[] = [];
  const all = Array.from({ length: m }, (_, k) => k);
  const sampleSize = Math.max(1, Math.round(Math.min(1, Math.max(0, opts.subsample)) * m));
  const maxBins = thresholds.reduce((a, t) => Math.max(a, t.length + 1), 1);
  const histSum = new Float64Array(maxBins);
  const histCount = new Int32Array(maxBins);

  for (let t = 0; t < opts.trees; t++) {
    for (let k = 0; k < m; k++) residual[k] = y[train[k]!]! - prediction[k]!;
    const sample = sampleSize === m ? Int32Array.from(all) : Int32Array.from(rng.sample(all, sampleSize)).sort();
    const nodes = { feature: [] as number[], threshold: [] as number[], left: [] as number[], right: [] as number[], value: [] as number[] };
    // The split's bin per node, for updating the training predictions on bins instead of raw values.
    const splitBin: number[] = [];

    const grow = (idx: Int32Array, depth: number): number => {
      const id = nodes.feature.length;
      nodes.feature.push(-1);
      nodes.threshold.push(0);
      splitBin.push(-1);
      nodes.left.push(-1);
      nodes.right.push(-1);
      let total = 0;
      for (const k of idx) total += residual[k]!;
      nodes.value.push(total / (idx.length + opts.l2));
      if (depth >= opts.maxDepth || idx.length < 2 * opts.minSamplesLeaf) return id;
      const parentScore = (total * total) / (idx.length + opts.l2);
      let bestGain = 1e-12;
      let bestFeature = -1;
      let bestBin = -1;
      for (let j = 0; j < p; j++) {
        const nb = thresholds[j]!.length + 1;
        if (nb < 2) continue;
        histSum.fill(0, 0, nb);
        histCount.fill(0, 0, nb);
        const bins = binned[j]!;
        for (const k of idx) {
          histSum[bins[k]!] += residual[k]!;
          histCount[bins[k]!]++;
        }
        let sl = 0;
        let cl = 0;
        for (let b = 0; b < nb - 1; b++) {
          sl += histSum[b]!;
          cl += histCount[b]!;
          const cr = idx.length - cl;
          if (cl < opts.minSamplesLeaf) continue;
          if (cr < opts.minSamplesLeaf) break;
          const sr = total - sl;
          const gain = (sl * sl) / (cl + opts.l2) + (sr * sr) / (cr + opts.l2) - parentScore;
          if (gain > bestGain) {
            bestGain = gain;
            bestFeature = j;
            bestBin = b;
          }
        }
      }
      if (bestFeature < 0) return id;
      const bins = binned[bestFeature]!;
      let nLeft = 0;
      for (const k of idx) if (bins[k]! <= bestBin) nLeft++;
      const leftIdx = new Int32Array(nLeft);
      const rightIdx = new Int32Array(idx.length - nLeft);
      let li = 0;
      let ri = 0;
      for (const k of idx) {
        if (bins[k]! <= bestBin) leftIdx[li++] = k;
        else rightIdx[ri++] = k;
      }
      nodes.feature[id] = bestFeature;
      nodes.threshold[id] = thresholds[bestFeature]![bestBin]!;
      splitBin[id] = bestBin;
      const l = grow(leftIdx, depth + 1);
      const r = grow(rightIdx, depth + 1);
      nodes.left[id] = l;
      nodes.right[id] = r;
      return id;
    };
    grow(sample, 0);
    const tree: Tree = {
      feature: Int32Array.from(nodes.feature),
      threshold: Float64Array.from(nodes.threshold),
      left: Int32Array.from(nodes.left),
      right: Int32Array.from(nodes.right),
      value: Float64Array.from(nodes.value),
    };
    trees.push(tree);
    // Update every training row (not only the subsample) by walking the new tree on its bins.
    for (let k = 0; k < m; k++) {
      let node = 0;
      while (tree.feature[node]! >= 0) {
        const f = tree.feature[node]!;
        node = binned[f]![k]! <= splitBin[node]! ? tree.left[node]! : tree.right[node]!;
      }
      prediction[k] += opts.learningRate * tree.value[node]!;
    }
  }
  return { base, learningRate: opts.learningRate, trees, featureCount: p };
}

/**
 * Predictions for rows of `columns` (raw feature values; a column may be a shuffled or constant stand-in).
 * @param rows which rows to predict; all when left out
 */
export function predictBoostedTrees(model: BoostedTrees, columns: ArrayLike<number>[], rows?: ArrayLike<number>): Float64Array {
  if (columns.length !== model.featureCount) throw new Error(`predictBoostedTrees: the model has ${model.featureCount} features, got ${columns.length} columns.`);
  const count = rows ? rows.length : columns[0]?.length ?? 0;
  const out = new Float64Array(count).fill(model.base);
  for (const tree of model.trees) {
    for (let k = 0; k < count; k++) {
      const i = rows ? rows[k]! : k;
      let node = 0;
      while (tree.feature[node]! >= 0) node = columns[tree.feature[node]!]![i]! <= tree.threshold[node]! ? tree.left[node]! : tree.right[node]!;
      out[k] += model.learningRate * tree.value[node]!;
    }
  }
  return out;
}
