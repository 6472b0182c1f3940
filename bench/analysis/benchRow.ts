/** One line of `npm run bench:analysis`: a measurement beside its same-run baseline. */
export interface BenchRow {
  name: string;
  /** The same-run baseline (same unit as value); null where the row has none (e.g. a recall figure). */
  baseline: number | null;
  value: number | null;
  /** value / baseline, or a dimensionless figure such as a recall. */
  ratio: number | null;
  note: string;
}
