// How well a probe's predictions match the human labels, per test fold, and the mean with a confidence interval
// across folds. Every measure returns null when it is undefined (a constant prediction has no rank correlation),
// never a made-up number.
import { pearson, spearman } from './correlation.js';
import { tQuantile } from './linearModel.js';
import { weightedKappa } from './weightedKappa.js';
import type { ProbeMetricInterval, ProbeMetricName } from '../api/types/probeReport.js';

// The metric names and the interval's shape are declared once, with the probe report the renderer reads.
export type { ProbeMetricName };
export const PROBE_METRICS: readonly ProbeMetricName[] = ['spearman', 'pearson', 'qwk', 'accuracy', 'mae', 'emd'];
export type ProbeMetricValues = Record<ProbeMetricName, number | null>;

/** Metrics where a smaller value is better (the others: larger is better). */
export const LOWER_IS_BETTER: ReadonlySet<ProbeMetricName> = new Set(['mae', 'emd']);

/**
 * Earth mover's distance between two distributions over the same ordered classes one step apart: the area
 * between their cumulative distributions, sum_k |P(<= k) - Q(<= k)|. Both are normalised first.
 */
export function ordinalEmd(p: ArrayLike<number>, q: ArrayLike<number>): number {
  if (p.length !== q.length) throw new Error(`ordinalEmd: distributions over ${p.length} and ${q.length} classes.`);
  let sp = 0;
  let sq = 0;
  for (let i = 0; i < p.length; i++) {
    sp += p[i]!;
    sq += q[i]!;
  }
  if (!(sp > 0) || !(sq > 0)) throw new Error('ordinalEmd: a distribution has no mass.');
  let cp = 0;
  let cq = 0;
  let emd = 0;
  for (let i = 0; i < p.length - 1; i++) {
    cp += p[i]! / sp;
    cq += q[i]! / sq;
    emd += Math.abs(cp - cq);
  }
  return emd;
}

export function accuracy(predicted: ArrayLike<number>, target: ArrayLike<number>): number | null {
  if (predicted.length !== target.length) throw new Error(`accuracy: ${predicted.length} predictions for ${target.length} labels.`);
  if (target.length === 0) return null;
  let hits = 0;
  for (let i = 0; i < target.length; i++) if (predicted[i] === target[i]) hits++;
  return hits / target.length;
}

export function meanAbsoluteError(predicted: ArrayLike<number>, target: ArrayLike<number>): number | null {
  if (predicted.length !== target.length) throw new Error(`meanAbsoluteError: ${predicted.length} predictions for ${target.length} targets.`);
  if (target.length === 0) return null;
  let s = 0;
  for (let i = 0; i < target.length; i++) s += Math.abs(predicted[i]! - target[i]!);
  return s / target.length;
}

/** What a probe predicted for a set of test images, and the labels it is judged against. */
export interface ProbePredictions {
  /** Continuous prediction on the rating scale (regression output or expected score). */
  predicted: ArrayLike<number>;
  /** The continuous target (e.g. the mean rating). */
  target: ArrayLike<number>;
  /** Predicted class index 0..classes-1. */
  predictedClass: ArrayLike<number>;
  /** Target class index 0..classes-1. */
  targetClass: ArrayLike<number>;
  classes: number;
  /** Row-major n x classes; with targetDistribution, gives the EMD. */
  predictedDistribution?: ArrayLike<number>;
  targetDistribution?: ArrayLike<number>;
}

function finiteOrNull(v: number | null): number | null {
  return v !== null && Number.isFinite(v) ? v : null;
}

export function probeMetrics(p: ProbePredictions): ProbeMetricValues {
  const n = p.target.length;
  if (p.predicted.length !== n || p.predictedClass.length !== n || p.targetClass.length !== n) {
    throw new Error(`probeMetrics: ${n} targets but ${p.predicted.length} predictions, ${p.predictedClass.length} predicted and ${p.targetClass.length} target classes.`);
  }
  const predicted = Array.from(p.predicted);
  const target = Array.from(p.target);
  const labels = Array.from({ length: p.classes }, (_, i) => i);
  let emd: number | null = null;
  if (p.predictedDistribution && p.targetDistribution && n > 0) {
    const k = p.classes;
    if (p.predictedDistribution.length !== n * k || p.targetDistribution.length !== n * k) {
      throw new Error(`probeMetrics: distributions must be ${n} x ${k} values.`);
    }
    let s = 0;
    const pd = Array.from(p.predictedDistribution);
    const td = Array.from(p.targetDistribution);
    for (let i = 0; i < n; i++) s += ordinalEmd(pd.slice(i * k, (i + 1) * k), td.slice(i * k, (i + 1) * k));
    emd = s / n;
  }
  return {
    spearman: finiteOrNull(spearman(predicted, target)),
    pearson: finiteOrNull(pearson(predicted, target)),
    qwk: finiteOrNull(weightedKappa(p.targetClass, p.predictedClass, { weights: 'quadratic', labels })),
    accuracy: accuracy(p.predictedClass, p.targetClass),
    mae: meanAbsoluteError(predicted, target),
    emd,
  };
}

export type MetricInterval = ProbeMetricInterval;

/** Mean and t-based confidence interval (mean +- t(1 - (1-level)/2, m-1) * sd / sqrt(m)) of per-fold values. */
export function foldInterval(values: readonly (number | null)[], level = 0.95): MetricInterval {
  const v = values.filter((x): x is number => x !== null && Number.isFinite(x));
  const m = v.length;
  if (m === 0) return { mean: null, lo: null, hi: null, folds: 0 };
  const mean = v.reduce((s, x) => s + x, 0) / m;
  if (m < 2) return { mean, lo: null, hi: null, folds: 1 };
  const sd = Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / (m - 1));
  const half = tQuantile(1 - (1 - level) / 2, m - 1) * (sd / Math.sqrt(m));
  return { mean, lo: mean - half, hi: mean + half, folds: m };
}

/** The range each metric can take: a t-interval from five folds easily runs past a correlation of 1. */
const METRIC_RANGE: Record<ProbeMetricName, [number, number]> = {
  spearman: [-1, 1],
  pearson: [-1, 1],
  qwk: [-1, 1],
  accuracy: [0, 1],
  mae: [0, Infinity],
  emd: [0, Infinity],
};

/** Per-metric fold intervals from one ProbeMetricValues per fold, clipped to the range each metric can take. */
export function summarizeFolds(perFold: readonly ProbeMetricValues[], level = 0.95): Record<ProbeMetricName, MetricInterval> {
  return Object.fromEntries(
    PROBE_METRICS.map((name) => {
      const interval = foldInterval(perFold.map((f) => f[name]), level);
      const [min, max] = METRIC_RANGE[name];
      const clip = (x: number | null) => (x === null ? null : Math.min(max, Math.max(min, x)));
      return [name, { ...interval, lo: clip(interval.lo), hi: clip(interval.hi) }];
    }),
  ) as Record<ProbeMetricName, MetricInterval>;
}
