// Krippendorff's alpha for sparse reliability data (any subset of raters per unit), computed the way
// Krippendorff's "Computing Krippendorff's Alpha-Reliability" (2011) does: from the coincidence matrix over the
// values actually used. Units with fewer than two values are not pairable and take no part (Krippendorff's
// definition), so a rater who alone rated an image changes nothing.
//
// Cost: one pass over the ratings to count values per unit, then per unit a loop over the distinct values it
// holds (at most V each), then O(V²) for each metric: fast enough for millions of ratings, where building all
// rating pairs would not be.

import type { AlphaMetricName } from '../api/types/raterReport.js';

// The metric names are declared with the rater report the renderer reads.
export type AlphaMetric = AlphaMetricName;
export const ALPHA_METRICS: readonly AlphaMetric[] = ['nominal', 'ordinal', 'interval', 'ratio'];

/** The coincidence matrix and what it was built from. */
export interface Coincidences {
  /** The distinct values used in pairable units, ascending. */
  values: number[];
  /** V×V row-major: o[c*V + k] = coincidences of values c and k (symmetric, sums to n). */
  o: Float64Array;
  /** Per value: n_c = row sum of o (how often it was pairable). */
  marginals: Float64Array;
  /** Pairable values: the total of the matrix. */
  n: number;
  /** Units with at least two values. */
  pairableUnits: number;
  /** Units left out because they hold a single value. */
  unpairableUnits: number;
}

export interface AlphaResult {
  metric: AlphaMetric;
  /** null when alpha is undefined here; `reason` says why. */
  alpha: number | null;
  reason?: string;
  observedDisagreement: number | null;
  expectedDisagreement: number | null;
  pairableUnits: number;
  pairableValues: number;
}

/**
 * Builds the coincidence matrix from ratings given as parallel arrays: `units[i]` names the unit (any integer,
 * e.g. an image id) of rating i and `values[i]` its value. Order does not matter. Non-finite values are refused
 * with their position, since a NaN would silently poison every sum.
 */
export function buildCoincidences(units: ArrayLike<number>, values: ArrayLike<number>): Coincidences {
  if (units.length !== values.length) throw new Error(`Krippendorff's alpha: ${units.length} unit ids but ${values.length} values; pass one unit id per rating.`);
  const count = values.length;
  for (let i = 0; i < count; i++) {
    if (!Number.isFinite(values[i]!)) throw new Error(`Krippendorff's alpha: rating ${i} has the value ${values[i]}; every rating must be a finite number.`);
  }
  // Dense ids for units and values.
  const valueList = [...new Set(Array.from(values))].sort((a, b) => a - b);
  const valueIndex = new Map(valueList.map((v, i) => [v, i]));
  const V = valueList.length;
  const unitIndex = new Map<number, number>();
  const unitOf = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    let u = unitIndex.get(units[i]!);
    if (u === undefined) {
      u = unitIndex.size;
      unitIndex.set(units[i]!, u);
    }
    unitOf[i] = u;
  }
  const U = unitIndex.size;
  // Counting sort of the ratings by unit, so each unit's values sit together.
  const start = new Int32Array(U + 1);
  for (let i = 0; i < count; i++) start[unitOf[i]! + 1]!++;
  for (let u = 0; u < U; u++) start[u + 1]! += start[u]!;
  const fill = start.slice(0, U);
  const sortedValue = new Int32Array(count);
  for (let i = 0; i < count; i++) sortedValue[fill[unitOf[i]!]!++] = valueIndex.get(values[i]!)!;

  const o = new Float64Array(V * V);
  const perUnit = new Float64Array(V);
  const present: number[] = [];
  let pairableUnits = 0;
  for (let u = 0; u < U; u++) {
    const m = start[u + 1]! - start[u]!;
    if (m < 2) continue;
    pairableUnits++;
    present.length = 0;
    for (let j = start[u]!; j < start[u + 1]!; j++) {
      const c = sortedValue[j]!;
      if (perUnit[c] === 0) present.push(c);
      perUnit[c]! += 1;
    }
    // Each ordered pair of values from different raters within the unit, weighted 1/(m_u - 1).
    const w = 1 / (m - 1);
    for (const c of present) {
      const nc = perUnit[c]!;
      for (const k of present) o[c * V + k]! += (c === k ? nc * (nc - 1) : nc * perUnit[k]!) * w;
    }
    for (const c of present) perUnit[c] = 0;
  }
  const marginals = new Float64Array(V);
  let n = 0;
  for (let c = 0; c < V; c++) {
    for (let k = 0; k < V; k++) marginals[c]! += o[c * V + k]!;
    n += marginals[c]!;
  }
  // Values only used in unpairable units have zero marginals; drop them so "values actually used" holds.
  const keep = valueList.map((_, c) => marginals[c]! > 1e-12);
  if (keep.every(Boolean)) return { values: valueList, o, marginals, n, pairableUnits, unpairableUnits: U - pairableUnits };
  const kept = valueList.map((_, c) => c).filter((c) => keep[c]);
  const W = kept.length;
  const o2 = new Float64Array(W * W);
  kept.forEach((c, a) => kept.forEach((k, b) => (o2[a * W + b] = o[c * V + k]!)));
  return {
    values: kept.map((c) => valueList[c]!),
    o: o2,
    marginals: Float64Array.from(kept, (c) => marginals[c]!),
    n,
    pairableUnits,
    unpairableUnits: U - pairableUnits,
  };
}

/** The squared difference δ²(c, k) of a metric between value positions c and k (Krippendorff 2011). */
export function metricDifferences(metric: AlphaMetric, values: readonly number[], marginals: ArrayLike<number>): Float64Array {
  const V = values.length;
  const delta = new Float64Array(V * V);
  // Ordinal: ranks are spaced by how many pairable values lie between them, (Σ_{g=c..k} n_g − (n_c + n_k)/2)².
  const cumulative = new Float64Array(V + 1);
  for (let g = 0; g < V; g++) cumulative[g + 1] = cumulative[g]! + marginals[g]!;
  for (let c = 0; c < V; c++) {
    for (let k = 0; k < V; k++) {
      if (c === k) continue;
      const vc = values[c]!;
      const vk = values[k]!;
      let d: number;
      if (metric === 'nominal') d = 1;
      else if (metric === 'interval') d = (vc - vk) ** 2;
      else if (metric === 'ratio') d = vc + vk === 0 ? 0 : ((vc - vk) / (vc + vk)) ** 2;
      else {
        const lo = Math.min(c, k);
        const hi = Math.max(c, k);
        d = (cumulative[hi + 1]! - cumulative[lo]! - (marginals[c]! + marginals[k]!) / 2) ** 2;
      }
      delta[c * V + k] = d;
    }
  }
  return delta;
}

/** Alpha of one metric from a coincidence matrix: 1 − D_o / D_e, or null when it is undefined. */
export function alphaFromCoincidences(co: Coincidences, metric: AlphaMetric): AlphaResult {
  const base = { metric, pairableUnits: co.pairableUnits, pairableValues: co.n };
  if (co.pairableUnits === 0) {
    return { ...base, alpha: null, observedDisagreement: null, expectedDisagreement: null, reason: 'no unit has two or more ratings, so nothing can be compared' };
  }
  if (metric === 'ratio' && co.values.some((v) => v < 0)) {
    return { ...base, alpha: null, observedDisagreement: null, expectedDisagreement: null, reason: `the ratio metric needs values of 0 or more (found ${co.values[0]})` };
  }
  const V = co.values.length;
  const delta = metricDifferences(metric, co.values, co.marginals);
  let observed = 0;
  let expected = 0;
  for (let c = 0; c < V; c++) {
    for (let k = 0; k < V; k++) {
      const d = delta[c * V + k]!;
      if (d === 0) continue;
      observed += co.o[c * V + k]! * d;
      expected += co.marginals[c]! * co.marginals[k]! * d;
    }
  }
  const Do = observed / co.n;
  const De = expected / (co.n * (co.n - 1));
  if (!(De > 0)) {
    return {
      ...base,
      alpha: null,
      observedDisagreement: Do,
      expectedDisagreement: De,
      reason: V < 2 ? `every pairable rating has the same value (${co.values[0]}), so agreement cannot be told from chance` : 'no disagreement is possible by chance under this metric',
    };
  }
  return { ...base, alpha: 1 - Do / De, observedDisagreement: Do, expectedDisagreement: De };
}

/** Alpha for each metric (one coincidence matrix serves all four). */
export function krippendorffAlpha(
  units: ArrayLike<number>,
  values: ArrayLike<number>,
  metrics: readonly AlphaMetric[] = ALPHA_METRICS,
): Record<AlphaMetric, AlphaResult> {
  const co = buildCoincidences(units, values);
  const out = {} as Record<AlphaMetric, AlphaResult>;
  for (const metric of metrics) out[metric] = alphaFromCoincidences(co, metric);
  return out;
}

/**
 * Convenience for reliability data in Krippendorff's table form: rows are raters, columns units, null/NaN
 * where a rater gave no value.
 */
export function alphaFromTable(table: readonly (readonly (number | null)[])[], metrics: readonly AlphaMetric[] = ALPHA_METRICS): Record<AlphaMetric, AlphaResult> {
  const units: number[] = [];
  const values: number[] = [];
  table.forEach((row) =>
    row.forEach((v, unit) => {
      if (v === null || Number.isNaN(v)) return;
      units.push(unit);
      values.push(v);
    }),
  );
  return krippendorffAlpha(units, values, metrics);
}
