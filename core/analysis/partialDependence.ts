// Partial dependence (Friedman 2001): the model's mean prediction over the data when one feature is set to x
// for every row, for x on a grid. It shows the shape of a feature's effect (linear, saturating, U-shaped) that
// a single coefficient or importance cannot. The grid sits at quantiles of the feature, so it covers where the
// data are and spends no points on a long empty tail.

/** Observed values at evenly spaced quantiles from `lo` to `hi` of `values`, duplicates removed. */
export function quantileGrid(values: ArrayLike<number>, points = 20, lo = 0.05, hi = 0.95): number[] {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  if (n === 0) return [];
  const grid: number[] = [];
  for (let k = 0; k < points; k++) {
    const q = points === 1 ? (lo + hi) / 2 : lo + ((hi - lo) * k) / (points - 1);
    // The nearest observed value, not an interpolation: a 0/1 feature gets the grid [0, 1], never 0.5.
    const v = sorted[Math.round(q * (n - 1))]!;
    if (grid.length === 0 || v > grid[grid.length - 1]!) grid.push(v);
  }
  return grid;
}

export interface PartialDependencePoint {
  x: number;
  /** Mean prediction with the feature set to x in every row. */
  y: number;
}

/**
 * @param predict the model: predictions for `rows` of the given columns
 * @param columns feature columns; column `feature` is replaced by a constant for each grid point
 * @param rows the rows to average over
 */
export function partialDependence(
  predict: (columns: ArrayLike<number>[], rows: ArrayLike<number>) => Float64Array,
  columns: ArrayLike<number>[],
  feature: number,
  grid: readonly number[],
  rows: ArrayLike<number>,
): PartialDependencePoint[] {
  const n = columns[0]?.length ?? 0;
  const constant = new Float64Array(n);
  const replaced = columns.slice();
  replaced[feature] = constant;
  return grid.map((x) => {
    constant.fill(x);
    const predictions = predict(replaced, rows);
    let sum = 0;
    for (const v of predictions) sum += v;
    return { x, y: predictions.length ? sum / predictions.length : NaN };
  });
}
