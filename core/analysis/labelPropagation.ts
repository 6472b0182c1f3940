// Label spreading on a kNN graph of embeddings (Zhou et al. 2004, "Learning with Local and Global Consistency"),
// solved as Iscen et al. 2019 ("Label Propagation for Deep Semi-supervised Learning") do: the closed form
// (I - αS) F = Y by conjugate gradient, one right-hand side per class, instead of sklearn's fixed-point iteration or
// a dense inverse, so 100k+ images need only a sparse matrix and a few hundred matrix-vector products.
//
// The graph: W = A + Aᵀ where A holds each image's k nearest other images (from knnIndex.knnAll with the cosine
// metric) with affinity 1 ("connectivity") or max(0, cos)^γ ("similarity", Iscen et al.); S = D^-1/2 W D^-1/2.
// Row-normalised F equals scikit-learn's LabelSpreading(kernel=<callable returning W>).label_distributions_
// (test/fixtures/analysis/propagation.json, written by scripts/analysis/make_propagation_reference.py).
import type { KnnResult } from './knnIndex.js';

export type PropagationAffinity = 'connectivity' | 'similarity';

export interface PropagationOptions {
  /** Weight of the graph against the given labels, in (0, 1); 0.99 as in Zhou et al. and Iscen et al. */
  alpha?: number;
  affinity?: PropagationAffinity;
  /** Exponent of the cosine similarity for affinity 'similarity' (Iscen et al. use 3). */
  gamma?: number;
  /**
   * Divide each class's column of Y by its number of labelled images (Iscen et al.), so a frequent class does not
   * spread further just because it has more seeds. Off by default: sklearn does not, and ordinal aesthetic classes
   * are imbalanced for real, not by sampling.
   */
  balanced?: boolean;
  /** Conjugate gradient stops when every class's residual is below tolerance × its right-hand side's norm. */
  tolerance?: number;
  maxIterations?: number;
}

export const PROPAGATION_DEFAULTS = { alpha: 0.99, affinity: 'similarity', gamma: 3, balanced: false, tolerance: 1e-6, maxIterations: 1000 } as const;

export interface PropagationResult {
  classes: number;
  /** n × classes, each row summing to 1; all zeros for unreachable rows. */
  distributions: Float32Array;
  /** Class index of each row's largest share; -1 where no labelled image can be reached through the graph. */
  labels: Int32Array;
  /** The largest share of each row (0 when unreachable). */
  confidence: Float32Array;
  /** Iscen et al.'s certainty weight 1 - H(row) / log(classes) (0 when unreachable). */
  certainty: Float32Array;
  iterations: number;
  /** Largest relative residual over the classes at the end. */
  residual: number;
  unreachable: number;
}

/** Symmetric sparse matrix in CSR form; duplicate (row, column) entries are allowed and add up in products. */
interface CsrMatrix {
  n: number;
  rowStart: Int32Array;
  columns: Int32Array;
  values: Float64Array;
}

function checkOptions(options: PropagationOptions): Required<PropagationOptions> {
  const o = { ...PROPAGATION_DEFAULTS, ...options };
  if (!(o.alpha > 0 && o.alpha < 1)) throw new Error(`alpha must lie strictly between 0 and 1 (got ${o.alpha}); 0.99 is the usual choice.`);
  if (o.affinity !== 'connectivity' && o.affinity !== 'similarity') throw new Error(`affinity must be connectivity or similarity (got ${JSON.stringify(o.affinity)}).`);
  if (!(o.gamma > 0) || !Number.isFinite(o.gamma)) throw new Error(`gamma must be a positive number (got ${o.gamma}).`);
  if (!(o.tolerance > 0)) throw new Error(`tolerance must be positive (got ${o.tolerance}).`);
  if (!Number.isInteger(o.maxIterations) || o.maxIterations < 1) throw new Error(`maxIterations must be a positive whole number (got ${o.maxIterations}).`);
  return o;
}

/**
 * S = D^-1/2 (A + Aᵀ) D^-1/2 from a kNN result over n rows. Self-loops never occur (knnAll leaves each row out of
 * its own neighbours); an edge of affinity 0 (cosine ≤ 0 under 'similarity') is left out, and a row left with no
 * edges keeps an empty row (degree 0), as scipy's normalised Laplacian treats isolated nodes.
 */
export function normalizedAffinity(graph: KnnResult, n: number, affinity: PropagationAffinity, gamma: number): CsrMatrix {
  const { k, indices, distances } = graph;
  if (indices.length !== n * k) throw new Error(`The kNN graph has ${indices.length / k} rows, the labels ${n}; build both from the same embedding rows.`);
  const weight = new Float64Array(n * k);
  const count = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < k; t++) {
      const e = i * k + t;
      const j = indices[e]!;
      if (j < 0 || j >= n || j === i) throw new Error(`The kNN graph's row ${i} names row ${j} as a neighbour; it must name other rows 0..${n - 1}.`);
      // Cosine distance is 1 - cos; clamp rounding noise that makes a near-duplicate's cosine exceed 1.
      const w = affinity === 'connectivity' ? 1 : Math.max(0, Math.min(1, 1 - distances[e]!)) ** gamma;
      weight[e] = w;
      if (w > 0) {
        count[i + 1]!++;
        count[j + 1]!++;
      }
    }
  }
  for (let i = 0; i < n; i++) count[i + 1]! += count[i]!;
  const rowStart = Int32Array.from(count);
  const fill = Int32Array.from(count.subarray(0, n));
  const columns = new Int32Array(count[n]!);
  const values = new Float64Array(count[n]!);
  const degree = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < k; t++) {
      const e = i * k + t;
      const w = weight[e]!;
      if (w === 0) continue;
      const j = indices[e]!;
      columns[fill[i]!] = j;
      values[fill[i]!++] = w;
      columns[fill[j]!] = i;
      values[fill[j]!++] = w;
      degree[i]! += w;
      degree[j]! += w;
    }
  }
  for (let i = 0; i < n; i++) {
    const di = degree[i]!;
    for (let p = rowStart[i]!; p < rowStart[i + 1]!; p++) values[p]! /= Math.sqrt(di * degree[columns[p]!]!);
  }
  return { n, rowStart, columns, values };
}

/** out = (I - αS) x for an n × c block (row-major). */
function applySystem(s: CsrMatrix, alpha: number, x: Float64Array, out: Float64Array, c: number): void {
  const { n, rowStart, columns, values } = s;
  for (let i = 0; i < n; i++) {
    const oi = i * c;
    for (let q = 0; q < c; q++) out[oi + q] = x[oi + q]!;
    for (let p = rowStart[i]!; p < rowStart[i + 1]!; p++) {
      const w = alpha * values[p]!;
      const oj = columns[p]! * c;
      for (let q = 0; q < c; q++) out[oi + q]! -= w * x[oj + q]!;
    }
  }
}

/**
 * Conjugate gradient for (I - αS) X = B with all c columns advanced together (one sparse pass per iteration);
 * each column has its own step sizes and stops updating once converged. I - αS is symmetric positive definite
 * for 0 < α < 1 because S's eigenvalues lie in [-1, 1].
 */
function conjugateGradient(s: CsrMatrix, alpha: number, b: Float64Array, c: number, tolerance: number, maxIterations: number): { x: Float64Array; iterations: number; residual: number } {
  const n = s.n;
  const x = new Float64Array(n * c);
  const r = Float64Array.from(b);
  const p = Float64Array.from(b);
  const ap = new Float64Array(n * c);
  const rr = new Float64Array(c);
  const bNorm = new Float64Array(c);
  for (let i = 0; i < n * c; i++) rr[i % c]! += b[i]! * b[i]!;
  for (let q = 0; q < c; q++) bNorm[q] = Math.sqrt(rr[q]!);
  const active = Array.from({ length: c }, (_, q) => bNorm[q]! > 0);
  const relative = (q: number) => (bNorm[q]! > 0 ? Math.sqrt(rr[q]!) / bNorm[q]! : 0);
  let iterations = 0;
  while (iterations < maxIterations && active.some(Boolean)) {
    applySystem(s, alpha, p, ap, c);
    iterations++;
    const pAp = new Float64Array(c);
    for (let i = 0; i < n * c; i++) pAp[i % c]! += p[i]! * ap[i]!;
    const step = Array.from({ length: c }, (_, q) => (active[q] && pAp[q]! > 0 ? rr[q]! / pAp[q]! : 0));
    // A column that takes no step (converged, empty, or p·Ap ≤ 0, which an SPD system never gives) keeps its residual.
    const rrNext = Float64Array.from(step, (a, q) => (a === 0 ? rr[q]! : 0));
    for (let i = 0; i < n * c; i++) {
      const q = i % c;
      if (step[q] === 0) continue;
      x[i]! += step[q]! * p[i]!;
      r[i]! -= step[q]! * ap[i]!;
      rrNext[q]! += r[i]! * r[i]!;
    }
    const beta = new Float64Array(c);
    for (let q = 0; q < c; q++) {
      if (!active[q]) continue;
      beta[q] = rrNext[q]! / rr[q]!;
      rr[q] = rrNext[q]!;
      if (Math.sqrt(rr[q]!) <= tolerance * bNorm[q]! || pAp[q]! <= 0) active[q] = false;
    }
    for (let i = 0; i < n * c; i++) {
      const q = i % c;
      if (active[q]) p[i] = r[i]! + beta[q]! * p[i]!;
    }
  }
  let residual = 0;
  for (let q = 0; q < c; q++) residual = Math.max(residual, relative(q));
  return { x, iterations, residual };
}

/** Rows connected to at least one seed through the graph's edges (breadth-first). */
function reachableFromSeeds(s: CsrMatrix, seeds: Int32Array): Uint8Array {
  const seen = new Uint8Array(s.n);
  const queue = new Int32Array(s.n);
  let head = 0;
  let tail = 0;
  for (let i = 0; i < s.n; i++) if (seeds[i]! >= 0) (seen[i] = 1), (queue[tail++] = i);
  while (head < tail) {
    const i = queue[head++]!;
    for (let p = s.rowStart[i]!; p < s.rowStart[i + 1]!; p++) {
      const j = s.columns[p]!;
      if (!seen[j]) (seen[j] = 1), (queue[tail++] = j);
    }
  }
  return seen;
}

/** 1 - H(p) / log(classes): 1 for a one-hot row, 0 for a uniform one (Iscen et al.'s per-image weight). */
export function certaintyWeight(distribution: ArrayLike<number>, classes = distribution.length): number {
  if (classes < 2) return 1;
  let h = 0;
  for (let q = 0; q < distribution.length; q++) {
    const p = distribution[q]!;
    if (p > 0) h -= p * Math.log(p);
  }
  return Math.max(0, 1 - h / Math.log(classes));
}

/**
 * Spreads the seed labels (class index per row, -1 for unlabelled) over the kNN graph. Every row gets a class
 * distribution, including the seeds (spreading may overrule a seed that disagrees with its neighbourhood).
 */
export function spreadLabels(graph: KnnResult, seeds: Int32Array, classes: number, options: PropagationOptions = {}): PropagationResult {
  const o = checkOptions(options);
  const n = seeds.length;
  if (!Number.isInteger(classes) || classes < 2) throw new Error(`Label spreading needs at least 2 classes (got ${classes}).`);
  const seedCount = new Int32Array(classes);
  for (let i = 0; i < n; i++) {
    const y = seeds[i]!;
    if (y < -1 || y >= classes) throw new Error(`Row ${i} has class ${y}; classes are 0..${classes - 1}, or -1 for unlabelled.`);
    if (y >= 0) seedCount[y]!++;
  }
  const present = Array.from(seedCount).filter((c) => c > 0).length;
  if (present === 0) throw new Error('No row is labelled, so there is nothing to spread.');
  if (present === 1) {
    throw new Error(`Every labelled row has the same class (${seedCount.findIndex((c) => c > 0)}), so spreading would give every row that class. Label images of at least two classes.`);
  }
  const s = normalizedAffinity(graph, n, o.affinity, o.gamma);
  const b = new Float64Array(n * classes);
  for (let i = 0; i < n; i++) if (seeds[i]! >= 0) b[i * classes + seeds[i]!] = o.balanced ? 1 / seedCount[seeds[i]!]! : 1;
  const solved = conjugateGradient(s, o.alpha, b, classes, o.tolerance, o.maxIterations);
  const reachable = reachableFromSeeds(s, seeds);

  const distributions = new Float32Array(n * classes);
  const labels = new Int32Array(n).fill(-1);
  const confidence = new Float32Array(n);
  const certainty = new Float32Array(n);
  const row = new Float64Array(classes);
  let unreachable = 0;
  for (let i = 0; i < n; i++) {
    if (!reachable[i]) {
      unreachable++;
      continue;
    }
    let sum = 0;
    for (let q = 0; q < classes; q++) {
      // F = (I - αS)^-1 Y is non-negative (a power series of non-negative matrices); CG leaves rounding-size
      // negatives, which are not mass.
      row[q] = Math.max(0, solved.x[i * classes + q]!);
      sum += row[q]!;
    }
    if (!(sum > 0)) {
      unreachable++;
      continue;
    }
    let best = 0;
    for (let q = 0; q < classes; q++) {
      row[q]! /= sum;
      distributions[i * classes + q] = row[q]!;
      if (row[q]! > row[best]!) best = q;
    }
    labels[i] = best;
    confidence[i] = row[best]!;
    certainty[i] = certaintyWeight(row, classes);
  }
  return { classes, distributions, labels, confidence, certainty, iterations: solved.iterations, residual: solved.residual, unreachable };
}
