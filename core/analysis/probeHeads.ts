// Probe heads: small models trained on frozen embeddings to predict human labels (issue 6, "Probes across
// backbones" and "Data quality"). How well a cheap head recovers the labels from a backbone's embedding is the
// measure of how much of the raters' judgement that backbone already encodes.
//
// - ridge: closed-form ridge regression on standardised features (scikit-learn's StandardScaler + Ridge).
// - logistic: multinomial logistic regression with an L2 penalty on the weights (not the intercepts), fitted with
//   L-BFGS; the same minimiser as scikit-learn's LogisticRegression(multi_class='multinomial', C = 1 / l2).
// - ordinal: proportional-odds (cumulative logit) regression, P(y <= k) = sigmoid(theta_k - w.x), with ordered
//   thresholds and an L2 penalty on w. It uses the order of the rating scale, which a multinomial head ignores.
// - knn: cosine k-nearest neighbours (exact search), uniformly or 1/distance weighted.
// Features are standardised with the training rows' mean and population standard deviation, so a test fold never
// leaks into its own scaling.
import { SeededRandom } from '../synth/random.js';
import { exactKnn, type KnnResult } from './knnIndex.js';
import { minimizeLbfgs } from './lbfgs.js';
import type { ProbeHeadName } from '../api/types/probeReport.js';

// The head names are declared once, with the probe report the renderer reads.
export type { ProbeHeadName };
export const PROBE_HEADS: readonly ProbeHeadName[] = ['ridge', 'logistic', 'ordinal', 'knn'];

/** Row indices into a row-major n x dim matrix. */
export type Rows = ArrayLike<number>;

function checkMatrix(vectors: ArrayLike<number>, dim: number, what: string): number {
  if (!Number.isInteger(dim) || dim < 1) throw new Error(`${what}: the embedding dimension must be a positive integer (got ${dim}).`);
  if (vectors.length % dim !== 0) throw new Error(`${what}: ${vectors.length} values are not whole rows of ${dim}.`);
  return vectors.length / dim;
}

// ---------------------------------------------------------------------------------------------------------------
// Folds and standardisation

/**
 * Assigns each row a fold 0..folds-1 so every stratum (class) is spread evenly over the folds: rows of each
 * stratum are shuffled with a seeded generator and dealt out in turn, continuing the deal across strata so the
 * fold sizes differ by at most one.
 */
export function stratifiedFolds(strata: ArrayLike<number>, folds: number, seed: number): Int32Array {
  const n = strata.length;
  if (!Number.isInteger(folds) || folds < 2) throw new Error(`Cross-validation needs at least 2 folds (got ${folds}).`);
  if (n < folds) throw new Error(`${folds}-fold cross-validation needs at least ${folds} labelled images; there are ${n}. Add labels or use fewer folds (--folds).`);
  const groups = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const key = strata[i]!;
    const group = groups.get(key);
    if (group) group.push(i);
    else groups.set(key, [i]);
  }
  const assignment = new Int32Array(n);
  let dealt = 0;
  for (const key of [...groups.keys()].sort((a, b) => a - b)) {
    const members = SeededRandom.derive(seed, 'folds', key).shuffle(groups.get(key)!);
    for (const row of members) assignment[row] = dealt++ % folds;
  }
  return assignment;
}

/** Rows of fold f (test) and the others (train), in ascending row order. */
export function splitFold(assignment: Int32Array, fold: number): { train: Int32Array; test: Int32Array } {
  const train: number[] = [];
  const test: number[] = [];
  for (let i = 0; i < assignment.length; i++) (assignment[i] === fold ? test : train).push(i);
  return { train: Int32Array.from(train), test: Int32Array.from(test) };
}

/** Per-column mean and population standard deviation (StandardScaler's definition; a constant column gets 1). */
export interface Standardizer {
  mean: Float64Array;
  scale: Float64Array;
}

export function fitStandardizer(vectors: ArrayLike<number>, dim: number, rows: Rows): Standardizer {
  const mean = new Float64Array(dim);
  const sq = new Float64Array(dim);
  const n = rows.length;
  if (n === 0) throw new Error('fitStandardizer: no training rows.');
  for (let r = 0; r < n; r++) {
    const base = rows[r]! * dim;
    for (let j = 0; j < dim; j++) mean[j]! += vectors[base + j]!;
  }
  for (let j = 0; j < dim; j++) mean[j]! /= n;
  // Two passes: the textbook E[x^2] - E[x]^2 loses all precision on columns with a large mean.
  for (let r = 0; r < n; r++) {
    const base = rows[r]! * dim;
    for (let j = 0; j < dim; j++) {
      const d = vectors[base + j]! - mean[j]!;
      sq[j]! += d * d;
    }
  }
  const scale = new Float64Array(dim);
  for (let j = 0; j < dim; j++) {
    const sd = Math.sqrt(sq[j]! / n);
    scale[j] = sd > 1e-12 * Math.max(1, Math.abs(mean[j]!)) ? sd : 1;
  }
  return { mean, scale };
}

/** The chosen rows, standardised, as a dense row-major rows.length x dim matrix. */
export function standardizeRows(vectors: ArrayLike<number>, dim: number, rows: Rows, s: Standardizer): Float64Array {
  const out = new Float64Array(rows.length * dim);
  for (let r = 0; r < rows.length; r++) {
    const base = rows[r]! * dim;
    const o = r * dim;
    for (let j = 0; j < dim; j++) out[o + j] = (vectors[base + j]! - s.mean[j]!) / s.scale[j]!;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Ridge regression

export interface RidgeHead {
  head: 'ridge';
  standardizer: Standardizer;
  /** Coefficients on the standardised features. */
  coef: Float64Array;
  intercept: number;
  alpha: number;
}

/**
 * Sufficient statistics of ridge regression for a set of rows: sums and cross-products of the features (shifted
 * by a fixed vector to keep them well conditioned) and the target. They add and subtract, so the statistics of a
 * training fold are those of all rows minus those of the test fold: k folds cost two passes over the data, not k.
 */
export interface RidgeStatistics {
  count: number;
  shift: Float64Array;
  sum: Float64Array;
  /** dim x dim, upper triangle filled (row a, column b >= a). */
  gram: Float64Array;
  sumY: number;
  sumYY: number;
  xty: Float64Array;
}

export function ridgeStatistics(vectors: ArrayLike<number>, dim: number, rows: Rows, targets: ArrayLike<number>, shift: Float64Array): RidgeStatistics {
  const sum = new Float64Array(dim);
  const gram = new Float64Array(dim * dim);
  const xty = new Float64Array(dim);
  let sumY = 0;
  let sumYY = 0;
  // Four rows at a time: each pass over the (large) Gram matrix then does four rank-1 updates, not one.
  const block = new Float64Array(4 * dim);
  const n = rows.length;
  for (let start = 0; start < n; start += 4) {
    const m = Math.min(4, n - start);
    block.fill(0);
    for (let r = 0; r < m; r++) {
      const row = rows[start + r]!;
      const base = row * dim;
      const y = targets[row]!;
      sumY += y;
      sumYY += y * y;
      for (let j = 0; j < dim; j++) {
        const v = vectors[base + j]! - shift[j]!;
        block[r * dim + j] = v;
        sum[j]! += v;
        xty[j]! += v * y;
      }
    }
    const d2 = 2 * dim;
    const d3 = 3 * dim;
    for (let a = 0; a < dim; a++) {
      const x0 = block[a]!;
      const x1 = block[dim + a]!;
      const x2 = block[d2 + a]!;
      const x3 = block[d3 + a]!;
      const rowBase = a * dim;
      for (let b = a; b < dim; b++) {
        gram[rowBase + b]! += x0 * block[b]! + x1 * block[dim + b]! + x2 * block[d2 + b]! + x3 * block[d3 + b]!;
      }
    }
  }
  return { count: n, shift, sum, gram, sumY, sumYY, xty };
}

export function subtractRidgeStatistics(all: RidgeStatistics, part: RidgeStatistics): RidgeStatistics {
  if (all.shift !== part.shift) throw new Error('subtractRidgeStatistics: both sides must use the same shift vector.');
  const minus = (a: Float64Array, b: Float64Array) => a.map((v, i) => v - b[i]!);
  return {
    count: all.count - part.count,
    shift: all.shift,
    sum: minus(all.sum, part.sum),
    gram: minus(all.gram, part.gram),
    sumY: all.sumY - part.sumY,
    sumYY: all.sumYY - part.sumYY,
    xty: minus(all.xty, part.xty),
  };
}

/**
 * Solves A x = b in place for a symmetric positive definite A (dim x dim, upper triangle read) by Cholesky.
 * Returns false when A is not positive definite.
 */
function choleskySolve(a: Float64Array, dim: number, b: Float64Array): boolean {
  // L is written into the lower triangle of a copy.
  const l = new Float64Array(dim * dim);
  for (let j = 0; j < dim; j++) {
    let d = a[j * dim + j]!;
    const lj = j * dim;
    for (let k = 0; k < j; k++) d -= l[lj + k]! * l[lj + k]!;
    if (!(d > 0)) return false;
    const djj = Math.sqrt(d);
    l[lj + j] = djj;
    for (let i = j + 1; i < dim; i++) {
      const li = i * dim;
      let s = a[j * dim + i]!; // upper triangle: A[j][i] = A[i][j]
      for (let k = 0; k < j; k++) s -= l[li + k]! * l[lj + k]!;
      l[li + j] = s / djj;
    }
  }
  for (let i = 0; i < dim; i++) {
    let s = b[i]!;
    const li = i * dim;
    for (let k = 0; k < i; k++) s -= l[li + k]! * b[k]!;
    b[i] = s / l[li + i]!;
  }
  for (let i = dim - 1; i >= 0; i--) {
    let s = b[i]!;
    for (let k = i + 1; k < dim; k++) s -= l[k * dim + i]! * b[k]!;
    b[i] = s / l[i * dim + i]!;
  }
  return true;
}

/** Ridge on the standardised features of the rows the statistics describe (intercept unpenalised). */
export function solveRidge(stats: RidgeStatistics, alpha: number): RidgeHead {
  const { count: n, shift } = stats;
  const dim = shift.length;
  if (n < 2) throw new Error(`Ridge regression needs at least 2 labelled images (got ${n}).`);
  if (!(alpha >= 0)) throw new Error(`Ridge alpha must be zero or positive (got ${alpha}).`);
  const meanShifted = stats.sum.map((s) => s / n);
  const meanY = stats.sumY / n;
  const scale = new Float64Array(dim);
  for (let j = 0; j < dim; j++) {
    const variance = stats.gram[j * dim + j]! / n - meanShifted[j]! ** 2;
    const sd = Math.sqrt(Math.max(variance, 0));
    scale[j] = sd > 1e-12 * Math.max(1, Math.abs(meanShifted[j]! + shift[j]!)) ? sd : 1;
  }
  // Z'Z + alpha I and Z'(y - mean y) for Z the standardised, centred features.
  const a = new Float64Array(dim * dim);
  const b = new Float64Array(dim);
  for (let i = 0; i < dim; i++) {
    for (let j = i; j < dim; j++) {
      a[i * dim + j] = (stats.gram[i * dim + j]! - n * meanShifted[i]! * meanShifted[j]!) / (scale[i]! * scale[j]!);
    }
    a[i * dim + i]! += alpha;
    b[i] = (stats.xty[i]! - n * meanShifted[i]! * meanY) / scale[i]!;
  }
  if (!choleskySolve(a, dim, b)) {
    throw new Error(`Ridge regression is singular with alpha ${alpha} (more features than independent images); use a positive alpha.`);
  }
  const mean = meanShifted.map((m, j) => m + shift[j]!);
  return { head: 'ridge', standardizer: { mean, scale }, coef: b, intercept: meanY, alpha };
}

export function addRidgeStatistics(a: RidgeStatistics, b: RidgeStatistics): RidgeStatistics {
  if (a.shift !== b.shift) throw new Error('addRidgeStatistics: both sides must use the same shift vector.');
  const plus = (x: Float64Array, y: Float64Array) => x.map((v, i) => v + y[i]!);
  return { count: a.count + b.count, shift: a.shift, sum: plus(a.sum, b.sum), gram: plus(a.gram, b.gram), sumY: a.sumY + b.sumY, sumYY: a.sumYY + b.sumYY, xty: plus(a.xty, b.xty) };
}

/**
 * The alphas tried when ridge chooses its own penalty, as multiples of the number of training images: on
 * standardised features each diagonal entry of Z'Z is n, so these run from "almost no shrinkage" to "mostly the
 * mean" whatever the data size.
 */
export const RIDGE_ALPHA_GRID = [1e-4, 1e-3, 1e-2, 1e-1, 1, 10] as const;

export interface RidgeAlphaChoice {
  alpha: number;
  /** Mean squared error of each tried alpha in the inner cross-validation. */
  tried: { alpha: number; mse: number }[];
}

/**
 * Picks ridge's alpha by inner k-fold cross-validation on the given (training) rows only, so the choice never sees
 * the outer test fold. Mean squared error decides; a tie goes to the larger alpha.
 */
export function chooseRidgeAlpha(vectors: ArrayLike<number>, dim: number, rows: Rows, targets: ArrayLike<number>, options: { folds?: number; seed?: number; grid?: readonly number[] } = {}): RidgeAlphaChoice {
  const n = rows.length;
  const folds = options.folds ?? 3;
  if (n < 2 * folds) throw new Error(`Choosing ridge's alpha by ${folds}-fold cross-validation needs at least ${2 * folds} training images (got ${n}); pass a fixed alpha instead.`);
  const order = SeededRandom.derive(options.seed ?? 1, 'ridge-alpha').shuffle(Array.from(rows));
  const parts = Array.from({ length: folds }, (_, f) => Int32Array.from(order.filter((_, i) => i % folds === f)));
  const grid = (options.grid ?? RIDGE_ALPHA_GRID).map((m) => m * Math.max(n - n / folds, 1));
  const squaredError = new Float64Array(grid.length);
  const score = (models: RidgeHead[], part: Int32Array) =>
    models.forEach((model, a) => {
      const predicted = predictRidge(model, vectors, dim, part);
      for (let r = 0; r < part.length; r++) squaredError[a]! += (predicted[r]! - targets[part[r]!]!) ** 2;
    });
  if (n - n / folds < dim) {
    // Fewer training images than features: the n x n dual solve is the cheaper one, one kernel per inner fold.
    parts.forEach((part, f) => {
      const train = Int32Array.from(parts.flatMap((p, g) => (g === f ? [] : Array.from(p))));
      score(ridgeDualPath(vectors, dim, train, targets, grid), part);
    });
  } else {
    // The inner folds' statistics are accumulated once and recombined: each alpha then costs one dim x dim
    // Cholesky solve per inner fold, not a pass over the data.
    const shift = fitStandardizer(vectors, dim, rows).mean;
    const stats = parts.map((part) => ridgeStatistics(vectors, dim, part, targets, shift));
    const total = stats.reduce((x, y) => addRidgeStatistics(x, y));
    parts.forEach((part, f) => {
      const trainStats = subtractRidgeStatistics(total, stats[f]!);
      score(grid.map((alpha) => solveRidge(trainStats, alpha)), part);
    });
  }
  const tried = grid.map((alpha, a) => ({ alpha, mse: squaredError[a]! / n }));
  // Ties (e.g. a constant target) go to the larger alpha: the simpler model.
  const best = tried.reduce((x, y) => (y.mse <= x.mse ? y : x));
  return { alpha: best.alpha, tried };
}

/**
 * Ridge for several alphas through the dual (kernel) form, beta = Z'(ZZ' + alpha I)^-1 (y - mean y), with Z the
 * standardised, centred training rows: the same solution as the primal form, at n^2 dim + n^3/6 cost instead of
 * n dim^2 + dim^3/6, so it is the cheaper one whenever there are fewer training images than features.
 */
export function ridgeDualPath(vectors: ArrayLike<number>, dim: number, rows: Rows, targets: ArrayLike<number>, alphas: readonly number[]): RidgeHead[] {
  const n = rows.length;
  if (n < 2) throw new Error(`Ridge regression needs at least 2 labelled images (got ${n}).`);
  const standardizer = fitStandardizer(vectors, dim, rows);
  const z = standardizeRows(vectors, dim, rows, standardizer); // centred too: the standardizer's mean is the rows' mean
  let meanY = 0;
  for (let r = 0; r < n; r++) meanY += targets[rows[r]!]!;
  meanY /= n;
  const kernel = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let d = 0; d < dim; d++) s += z[i * dim + d]! * z[j * dim + d]!;
      kernel[i * n + j] = s;
      kernel[j * n + i] = s;
    }
  }
  return alphas.map((alpha) => {
    if (!(alpha > 0)) throw new Error(`Ridge alpha must be positive with fewer images (${n}) than features (${dim}) (got ${alpha}).`);
    const a = kernel.slice();
    for (let i = 0; i < n; i++) a[i * n + i]! += alpha;
    const c = Float64Array.from({ length: n }, (_, r) => targets[rows[r]!]! - meanY);
    if (!choleskySolve(a, n, c)) throw new Error(`Ridge regression is numerically singular with alpha ${alpha}; use a larger alpha.`);
    const coef = new Float64Array(dim);
    for (let r = 0; r < n; r++) for (let d = 0; d < dim; d++) coef[d]! += z[r * dim + d]! * c[r]!;
    return { head: 'ridge' as const, standardizer, coef, intercept: meanY, alpha };
  });
}

/**
 * Fits ridge regression of targets[row] on the rows' standardised vectors (primal form, or the dual form when
 * there are fewer rows than features and alpha is positive; both give the same coefficients).
 */
export function fitRidge(vectors: ArrayLike<number>, dim: number, rows: Rows, targets: ArrayLike<number>, alpha = 1): RidgeHead {
  checkMatrix(vectors, dim, 'fitRidge');
  if (rows.length >= 2 && rows.length < dim && alpha > 0) return ridgeDualPath(vectors, dim, rows, targets, [alpha])[0]!;
  const shift = fitStandardizer(vectors, dim, rows).mean;
  return solveRidge(ridgeStatistics(vectors, dim, rows, targets, shift), alpha);
}

export function predictRidge(model: RidgeHead, vectors: ArrayLike<number>, dim: number, rows: Rows): Float64Array {
  const { mean, scale } = model.standardizer;
  const out = new Float64Array(rows.length);
  for (let r = 0; r < rows.length; r++) {
    const base = rows[r]! * dim;
    let s = model.intercept;
    for (let j = 0; j < dim; j++) s += (model.coef[j]! * (vectors[base + j]! - mean[j]!)) / scale[j]!;
    out[r] = s;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Multinomial logistic regression

export interface LogisticOptions {
  /** L2 penalty on the weights, lambda in sum(loss) + lambda/2 ||W||^2 (scikit-learn's 1 / C). Default 1. */
  l2?: number;
  maxIterations?: number;
  /** Gradient tolerance of the mean loss. Default 1e-5. */
  tolerance?: number;
}

export interface LogisticHead {
  head: 'logistic';
  standardizer: Standardizer;
  classes: number;
  /** classes x dim, row-major, on the standardised features. */
  weights: Float64Array;
  intercepts: Float64Array;
  iterations: number;
  converged: boolean;
}

function checkLabels(labels: ArrayLike<number>, rows: Rows, classes: number, what: string): void {
  if (!Number.isInteger(classes) || classes < 2) throw new Error(`${what}: needs at least 2 classes (got ${classes}).`);
  for (let r = 0; r < rows.length; r++) {
    const y = labels[rows[r]!]!;
    if (!Number.isInteger(y) || y < 0 || y >= classes) throw new Error(`${what}: row ${rows[r]} has label ${y}, outside the classes 0..${classes - 1}.`);
  }
}

export function fitLogistic(vectors: ArrayLike<number>, dim: number, rows: Rows, labels: ArrayLike<number>, classes: number, options: LogisticOptions = {}): LogisticHead {
  checkMatrix(vectors, dim, 'fitLogistic');
  checkLabels(labels, rows, classes, 'fitLogistic');
  const n = rows.length;
  if (n === 0) throw new Error('fitLogistic: no training rows.');
  const l2 = options.l2 ?? 1;
  const standardizer = fitStandardizer(vectors, dim, rows);
  const x = standardizeRows(vectors, dim, rows, standardizer);
  const y = Int32Array.from({ length: n }, (_, r) => labels[rows[r]!]!);
  const k = classes;
  const wSize = k * dim;
  const logits = new Float64Array(k);

  // Mean over rows of -log p(y_i | x_i) plus l2 / (2n) ||W||^2: scikit-learn's objective divided by n.
  const objective = (params: Float64Array, grad: Float64Array): number => {
    grad.fill(0);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const xo = i * dim;
      let max = -Infinity;
      for (let c = 0; c < k; c++) {
        let s = params[wSize + c]!;
        const wo = c * dim;
        for (let j = 0; j < dim; j++) s += params[wo + j]! * x[xo + j]!;
        logits[c] = s;
        if (s > max) max = s;
      }
      let z = 0;
      for (let c = 0; c < k; c++) z += Math.exp(logits[c]! - max);
      const logZ = max + Math.log(z);
      loss += logZ - logits[y[i]!]!;
      for (let c = 0; c < k; c++) {
        const residual = Math.exp(logits[c]! - logZ) - (c === y[i] ? 1 : 0);
        grad[wSize + c]! += residual;
        const wo = c * dim;
        for (let j = 0; j < dim; j++) grad[wo + j]! += residual * x[xo + j]!;
      }
    }
    let penalty = 0;
    for (let j = 0; j < wSize; j++) {
      penalty += params[j]! * params[j]!;
      grad[j]! += l2 * params[j]!;
    }
    for (let j = 0; j < grad.length; j++) grad[j]! /= n;
    return (loss + 0.5 * l2 * penalty) / n;
  };

  // Start from the class log-frequencies (smoothed so an absent class starts finite).
  const start = new Float64Array(wSize + k);
  const counts = new Float64Array(k);
  for (let i = 0; i < n; i++) counts[y[i]!]! += 1;
  for (let c = 0; c < k; c++) start[wSize + c] = Math.log((counts[c]! + 0.5) / (n + 0.5 * k));
  const result = minimizeLbfgs(objective, start, { gradientTolerance: options.tolerance ?? 1e-5, maxIterations: options.maxIterations ?? 500 });
  // Adding one constant to every intercept changes no probability (and they are unpenalised), so report the
  // representative with intercepts summing to zero: the one scikit-learn's zero start keeps (the penalty already
  // makes the weights sum to zero over classes).
  const intercepts = result.x.slice(wSize);
  const meanIntercept = intercepts.reduce((s, v) => s + v, 0) / k;
  for (let c = 0; c < k; c++) intercepts[c]! -= meanIntercept;
  return {
    head: 'logistic',
    standardizer,
    classes: k,
    weights: result.x.slice(0, wSize),
    intercepts,
    iterations: result.iterations,
    converged: result.converged,
  };
}

/** Class probabilities, rows.length x classes row-major. */
export function predictLogisticProba(model: LogisticHead, vectors: ArrayLike<number>, dim: number, rows: Rows): Float64Array {
  const k = model.classes;
  const x = standardizeRows(vectors, dim, rows, model.standardizer);
  const out = new Float64Array(rows.length * k);
  for (let i = 0; i < rows.length; i++) {
    let max = -Infinity;
    for (let c = 0; c < k; c++) {
      let s = model.intercepts[c]!;
      for (let j = 0; j < dim; j++) s += model.weights[c * dim + j]! * x[i * dim + j]!;
      out[i * k + c] = s;
      if (s > max) max = s;
    }
    let z = 0;
    for (let c = 0; c < k; c++) z += out[i * k + c] = Math.exp(out[i * k + c]! - max);
    for (let c = 0; c < k; c++) out[i * k + c]! /= z;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Ordinal (proportional-odds) logistic regression

export interface OrdinalHead {
  head: 'ordinal';
  standardizer: Standardizer;
  classes: number;
  /** On the standardised features; a larger w.x means a higher class. */
  coef: Float64Array;
  /** classes - 1 increasing cut points: P(y <= k) = sigmoid(thresholds[k] - w.x). */
  thresholds: Float64Array;
  iterations: number;
  converged: boolean;
}

/** log(sigmoid(t)) without overflow. */
function logSigmoid(t: number): number {
  return t >= 0 ? -Math.log1p(Math.exp(-t)) : t - Math.log1p(Math.exp(t));
}

function sigmoid(t: number): number {
  return t >= 0 ? 1 / (1 + Math.exp(-t)) : Math.exp(t) / (1 + Math.exp(t));
}

export function fitOrdinal(vectors: ArrayLike<number>, dim: number, rows: Rows, labels: ArrayLike<number>, classes: number, options: LogisticOptions = {}): OrdinalHead {
  checkMatrix(vectors, dim, 'fitOrdinal');
  checkLabels(labels, rows, classes, 'fitOrdinal');
  const n = rows.length;
  if (n === 0) throw new Error('fitOrdinal: no training rows.');
  const l2 = options.l2 ?? 1;
  const standardizer = fitStandardizer(vectors, dim, rows);
  const x = standardizeRows(vectors, dim, rows, standardizer);
  const y = Int32Array.from({ length: n }, (_, r) => labels[rows[r]!]!);
  const cuts = classes - 1;
  const thresholds = new Float64Array(cuts);
  const thresholdGrad = new Float64Array(cuts);

  // Parameters: w (dim), then theta_0, then log-gaps u_k with theta_k = theta_{k-1} + exp(u_k): any parameter
  // vector gives ordered thresholds, so the optimiser needs no constraints.
  const toThresholds = (params: Float64Array) => {
    thresholds[0] = params[dim]!;
    for (let c = 1; c < cuts; c++) thresholds[c] = thresholds[c - 1]! + Math.exp(params[dim + c]!);
  };
  const objective = (params: Float64Array, grad: Float64Array): number => {
    grad.fill(0);
    thresholdGrad.fill(0);
    toThresholds(params);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      const xo = i * dim;
      let eta = 0;
      for (let j = 0; j < dim; j++) eta += params[j]! * x[xo + j]!;
      const label = y[i]!;
      // p = sigmoid(a) - sigmoid(b) with a = theta_y - eta, b = theta_{y-1} - eta (the outer ones are +-infinity).
      let dA = 0; // d log p / d a
      let dB = 0; // d log p / d b
      if (label === 0) {
        const a = thresholds[0]! - eta;
        loss -= logSigmoid(a);
        dA = sigmoid(-a);
      } else if (label === cuts) {
        const b = thresholds[cuts - 1]! - eta;
        loss -= logSigmoid(-b);
        dB = -sigmoid(b);
      } else {
        const a = thresholds[label]! - eta;
        const b = thresholds[label - 1]! - eta;
        // sigmoid(a) - sigmoid(b) = sigmoid(a) sigmoid(-b) (1 - e^(b - a)): stable even when both are near 1.
        const gap = Math.expm1(a - b);
        loss -= logSigmoid(a) + logSigmoid(-b) + Math.log(-Math.expm1(b - a));
        dA = sigmoid(-a) + 1 / gap;
        dB = -sigmoid(b) - 1 / gap;
      }
      if (label < cuts) thresholdGrad[label]! -= dA;
      if (label > 0) thresholdGrad[label - 1]! -= dB;
      const dEta = dA + dB; // d(-log p)/d eta: a and b both fall by eta
      for (let j = 0; j < dim; j++) grad[j]! += dEta * x[xo + j]!;
    }
    let penalty = 0;
    for (let j = 0; j < dim; j++) {
      penalty += params[j]! * params[j]!;
      grad[j]! += l2 * params[j]!;
    }
    // Chain rule through theta_k = theta_0 + sum_{m<=k} exp(u_m).
    let tail = 0;
    for (let c = cuts - 1; c >= 0; c--) {
      tail += thresholdGrad[c]!;
      grad[dim + c] = c === 0 ? tail : tail * Math.exp(params[dim + c]!);
    }
    for (let j = 0; j < grad.length; j++) grad[j]! /= n;
    return (loss + 0.5 * l2 * penalty) / n;
  };

  // Start with w = 0 and thresholds at the logits of the (smoothed) cumulative class frequencies.
  const counts = new Float64Array(classes);
  for (let i = 0; i < n; i++) counts[y[i]!]! += 1;
  const start = new Float64Array(dim + cuts);
  let cumulative = 0;
  let previous = 0;
  for (let c = 0; c < cuts; c++) {
    cumulative += counts[c]! + 0.5;
    const p = cumulative / (n + 0.5 * classes);
    const theta = Math.log(p / (1 - p));
    start[dim + c] = c === 0 ? theta : Math.log(Math.max(theta - previous, 1e-3));
    previous = theta;
  }
  const result = minimizeLbfgs(objective, start, { gradientTolerance: options.tolerance ?? 1e-5, maxIterations: options.maxIterations ?? 500 });
  toThresholds(result.x);
  return {
    head: 'ordinal',
    standardizer,
    classes,
    coef: result.x.slice(0, dim),
    thresholds: thresholds.slice(),
    iterations: result.iterations,
    converged: result.converged,
  };
}

export function predictOrdinalProba(model: OrdinalHead, vectors: ArrayLike<number>, dim: number, rows: Rows): Float64Array {
  const k = model.classes;
  const { mean, scale } = model.standardizer;
  const out = new Float64Array(rows.length * k);
  for (let r = 0; r < rows.length; r++) {
    const base = rows[r]! * dim;
    let eta = 0;
    for (let j = 0; j < dim; j++) eta += (model.coef[j]! * (vectors[base + j]! - mean[j]!)) / scale[j]!;
    let below = 0;
    for (let c = 0; c < k; c++) {
      const upTo = c < k - 1 ? sigmoid(model.thresholds[c]! - eta) : 1;
      out[r * k + c] = Math.max(upTo - below, 0);
      below = upTo;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// k-nearest neighbours (cosine)

export interface KnnOptions {
  k: number;
  /**
   * 'distance' weights each neighbour by 1 / cosine distance, as scikit-learn's weights='distance' (where some
   * neighbours are at distance 0, they alone count, equally).
   */
  weighting: 'uniform' | 'distance';
}

/** The chosen rows copied into one Float32 block (the kNN search's input). */
function gatherRows(vectors: ArrayLike<number>, dim: number, rows: Rows): Float32Array {
  const out = new Float32Array(rows.length * dim);
  for (let r = 0; r < rows.length; r++) {
    const base = rows[r]! * dim;
    for (let j = 0; j < dim; j++) out[r * dim + j] = vectors[base + j]!;
  }
  return out;
}

/**
 * The k nearest train rows (cosine) of each query row, by knnIndex.ts's exact blocked search: indices are positions
 * in trainRows, distances 1 - cos. Query rows index `queryVectors` (default: the same matrix as the train rows;
 * then they should be disjoint from the train rows, as test folds are). Exact search keeps a probe's folds
 * reproducible and is fast enough at probe sizes.
 */
export function probeNeighbours(vectors: ArrayLike<number>, dim: number, trainRows: Rows, queryRows: Rows, k: number, queryVectors: ArrayLike<number> = vectors): KnnResult {
  const kk = Math.min(k, trainRows.length);
  if (kk < 1) throw new Error('The kNN probe has no training images to search.');
  return exactKnn({ vectors: gatherRows(vectors, dim, trainRows), dim }, kk, { metric: 'cosine' }, { vectors: gatherRows(queryVectors, dim, queryRows) });
}

/** Weights of query q's neighbours (written into `out`), normalised to sum to one. */
function neighbourWeights(neighbours: KnnResult, q: number, weighting: KnnOptions['weighting'], out: Float64Array): void {
  const k = neighbours.k;
  if (weighting === 'uniform') {
    out.fill(1 / k, 0, k);
    return;
  }
  let exact = 0;
  for (let m = 0; m < k; m++) if (neighbours.distances[q * k + m]! <= 0) exact++;
  let sum = 0;
  for (let m = 0; m < k; m++) {
    const distance = Math.max(neighbours.distances[q * k + m]!, 0);
    out[m] = exact > 0 ? (distance === 0 ? 1 : 0) : 1 / distance;
    sum += out[m]!;
  }
  for (let m = 0; m < k; m++) out[m]! /= sum;
}

/** Weighted mean of the neighbours' targets (targets indexed by train position). */
export function knnRegress(neighbours: KnnResult, trainTargets: ArrayLike<number>, weighting: KnnOptions['weighting']): Float64Array {
  const k = neighbours.k;
  const queries = neighbours.indices.length / k;
  const out = new Float64Array(queries);
  const w = new Float64Array(k);
  for (let q = 0; q < queries; q++) {
    neighbourWeights(neighbours, q, weighting, w);
    let s = 0;
    for (let m = 0; m < k; m++) s += w[m]! * trainTargets[neighbours.indices[q * k + m]!]!;
    out[q] = s;
  }
  return out;
}

/** Weighted class histogram of the neighbours (labels indexed by train position), queries x classes. */
export function knnClassProba(neighbours: KnnResult, trainLabels: ArrayLike<number>, classes: number, weighting: KnnOptions['weighting']): Float64Array {
  const k = neighbours.k;
  const queries = neighbours.indices.length / k;
  const out = new Float64Array(queries * classes);
  const w = new Float64Array(k);
  for (let q = 0; q < queries; q++) {
    neighbourWeights(neighbours, q, weighting, w);
    for (let m = 0; m < k; m++) out[q * classes + trainLabels[neighbours.indices[q * k + m]!]!]! += w[m]!;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Out-of-fold class probabilities (the input of confident learning)

export interface OutOfFoldOptions {
  head: 'logistic' | 'ordinal';
  folds: number;
  seed: number;
  /** L2 penalty (scikit-learn's 1 / C). Default 1. */
  l2?: number;
}

/**
 * n x classes row-major class probabilities where row i comes from a head that never saw row i: stratified
 * k-fold (seeded), features standardised within each training fold.
 */
export function outOfFoldProbabilities(vectors: Float32Array, dim: number, labels: Int32Array, classes: number, options: OutOfFoldOptions): Float64Array {
  const n = checkMatrix(vectors, dim, 'outOfFoldProbabilities');
  if (n !== labels.length) throw new Error(`outOfFoldProbabilities: ${n} vectors but ${labels.length} labels; pass one label per embedding row.`);
  const all = Int32Array.from({ length: n }, (_, i) => i);
  checkLabels(labels, all, classes, 'outOfFoldProbabilities');
  const assignment = stratifiedFolds(labels, options.folds, options.seed);
  const out = new Float64Array(n * classes);
  for (let f = 0; f < options.folds; f++) {
    const { train, test } = splitFold(assignment, f);
    const probs =
      options.head === 'logistic'
        ? predictLogisticProba(fitLogistic(vectors, dim, train, labels, classes, { l2: options.l2 }), vectors, dim, test)
        : predictOrdinalProba(fitOrdinal(vectors, dim, train, labels, classes, { l2: options.l2 }), vectors, dim, test);
    for (let r = 0; r < test.length; r++) out.set(probs.subarray(r * classes, (r + 1) * classes), test[r]! * classes);
  }
  return out;
}
