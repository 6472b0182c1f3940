// Ordinary least squares on z-scored features and target (issue 4, "Feature attribution"). With every column
// scaled to unit variance, a coefficient reads as "standard deviations of the target per standard deviation of
// the feature", so features in different units (brightness 0..1, megapixels, a model's logit) compare directly.
// The confidence intervals are the textbook ones: beta_j +- t(0.975, n - p - 1) * sqrt(s^2 * [(X'X)^-1]_jj) with
// s^2 = RSS / (n - p - 1). They assume independent, homoscedastic errors; the permutation importance of the
// non-linear model (featureAttribution.ts) is the check that needs neither.
import { createRequire } from 'node:module';
import { inverse, Matrix, solve } from 'ml-matrix';

// jstat ships no type declarations; this is the one function Miru uses from it.
const require = createRequire(import.meta.url);
const { jStat } = require('jstat') as { jStat: { studentt: { inv(p: number, dof: number): number } } };

/** Student's t quantile: the value t with P(T <= t) = p for dof degrees of freedom. */
export function tQuantile(p: number, dof: number): number {
  if (!(dof > 0)) throw new Error(`tQuantile: degrees of freedom must be positive (got ${dof}).`);
  return jStat.studentt.inv(p, dof);
}

export interface ColumnSummary {
  mean: number;
  /** Sample standard deviation (n - 1 in the denominator); 0 for a constant column. */
  sd: number;
  min: number;
  max: number;
}

export function summarizeColumn(values: ArrayLike<number>): ColumnSummary {
  const n = values.length;
  let mean = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    mean += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  mean /= n || 1;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (values[i]! - mean) ** 2;
  // A column whose values are all equal can still show a tiny spread from float rounding of the mean.
  const sd = max === min || n < 2 ? 0 : Math.sqrt(ss / (n - 1));
  return { mean, sd, min, max };
}

export function zScore(values: ArrayLike<number>, summary: ColumnSummary = summarizeColumn(values)): Float64Array {
  const out = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = (values[i]! - summary.mean) / summary.sd;
  return out;
}

export interface LinearCoefficient {
  /** Index of the feature in the columns passed in. */
  index: number;
  /** Standardized coefficient (target sd per feature sd). */
  beta: number;
  stdError: number;
  /** 95% (or the requested level) confidence interval of beta. */
  ciLow: number;
  ciHigh: number;
  /** Change of the target, in its own units, per unit of the feature, the others held fixed. */
  perUnit: number;
  /** Variance inflation factor: 1 for a feature uncorrelated with the others; above ~5-10 the CI is wide because of collinearity. */
  vif: number;
}

export interface LinearFit {
  n: number;
  /** Residual degrees of freedom, n - p - 1. */
  dof: number;
  r2: number;
  adjustedR2: number;
  /** The confidence level of the intervals, e.g. 0.95. */
  level: number;
  /** The t quantile the intervals were built with. */
  t: number;
  coefficients: LinearCoefficient[];
  /** Features left out because they are (numerically) a linear combination of earlier ones. */
  collinear: { index: number; with: number[] }[];
}

/** 1 - R^2 of a feature regressed on the kept ones, below which it counts as a linear combination of them. */
const COLLINEAR_TOLERANCE = 1e-9;

/**
 * Fits y ~ features by OLS on z-scored columns. Constant columns must be removed by the caller (they cannot be
 * z-scored); exactly collinear columns are left out here and reported in `collinear`.
 * @param columns one array per feature, each of length n
 */
export function fitStandardizedOls(columns: ArrayLike<number>[], y: ArrayLike<number>, level = 0.95): LinearFit {
  const n = y.length;
  const ySummary = summarizeColumn(y);
  if (ySummary.sd === 0) throw new Error('The target has the same value for every image: there is nothing to explain.');
  const summaries = columns.map((c) => summarizeColumn(c));
  summaries.forEach((s, j) => {
    if (s.sd === 0) throw new Error(`fitStandardizedOls: column ${j} is constant; drop it before fitting.`);
  });
  const z = columns.map((c, j) => zScore(c, summaries[j]));
  const zy = zScore(y, ySummary);

  // Z'Z accumulated in one pass per pair (no n x p matrix is built: n may be a million images).
  const p = z.length;
  const gram = Array.from({ length: p }, () => new Float64Array(p));
  const xty = new Float64Array(p);
  for (let a = 0; a < p; a++) {
    const za = z[a]!;
    for (let b = a; b < p; b++) {
      const zb = z[b]!;
      let s = 0;
      for (let i = 0; i < n; i++) s += za[i]! * zb[i]!;
      gram[a]![b] = s;
      gram[b]![a] = s;
    }
    let s = 0;
    for (let i = 0; i < n; i++) s += za[i]! * zy[i]!;
    xty[a] = s;
  }

  // Keep features in order, leaving out any that the kept ones already span.
  const kept: number[] = [];
  const collinear: { index: number; with: number[] }[] = [];
  for (let j = 0; j < p; j++) {
    if (kept.length > 0) {
      const sub = new Matrix(kept.map((a) => kept.map((b) => gram[a]![b]!)));
      const rhs = Matrix.columnVector(kept.map((a) => gram[a]![j]!));
      const coef = solve(sub, rhs, true);
      let explained = 0;
      kept.forEach((a, k) => (explained += coef.get(k, 0) * gram[a]![j]!));
      const tolerance = 1 - explained / gram[j]![j]!;
      if (tolerance < COLLINEAR_TOLERANCE) {
        collinear.push({ index: j, with: kept.filter((_, k) => Math.abs(coef.get(k, 0)) > 1e-6) });
        continue;
      }
    }
    kept.push(j);
  }

  const k = kept.length;
  const dof = n - k - 1;
  if (dof < 1) throw new Error(`${n} images are too few for ${k} features: the linear model needs at least ${k + 2}.`);
  const inv = inverse(new Matrix(kept.map((a) => kept.map((b) => gram[a]![b]!))));
  const beta = kept.map((_, r) => kept.reduce((s, b, c) => s + inv.get(r, c) * xty[b]!, 0));
  let rss = 0;
  for (let i = 0; i < n; i++) {
    let fit = 0;
    for (let r = 0; r < k; r++) fit += beta[r]! * z[kept[r]!]![i]!;
    rss += (zy[i]! - fit) ** 2;
  }
  const tss = n - 1; // z-scored target: sum of squares about its mean is n - 1
  const r2 = Math.max(0, 1 - rss / tss);
  const s2 = rss / dof;
  const t = tQuantile(1 - (1 - level) / 2, dof);
  const coefficients = kept.map((index, r): LinearCoefficient => {
    const stdError = Math.sqrt(Math.max(0, s2 * inv.get(r, r)));
    return {
      index,
      beta: beta[r]!,
      stdError,
      ciLow: beta[r]! - t * stdError,
      ciHigh: beta[r]! + t * stdError,
      perUnit: (beta[r]! * ySummary.sd) / summaries[index]!.sd,
      // With centred columns X'X = (n - 1) R, so diag(R^-1) = (n - 1) diag((X'X)^-1).
      vif: (n - 1) * inv.get(r, r),
    };
  });
  return { n, dof, r2, adjustedR2: 1 - ((1 - r2) * (n - 1)) / dof, level, t, coefficients, collinear };
}
