// Cohen's kappa between two raters' labels, unweighted or with linear or quadratic disagreement weights, as
// scikit-learn's cohen_kappa_score defines it: weights are the squared (or absolute) distance between the labels'
// positions in the sorted label list, and the chance table is the outer product of the two marginals.

export type KappaWeights = 'none' | 'linear' | 'quadratic';

export interface KappaOptions {
  weights?: KappaWeights;
  /** The label set in order; default: the sorted union of both inputs (scikit-learn's default). */
  labels?: readonly number[];
}

/** Returns null when kappa is undefined: fewer than one pair, or no disagreement is possible by chance. */
export function weightedKappa(a: ArrayLike<number>, b: ArrayLike<number>, options: KappaOptions = {}): number | null {
  if (a.length !== b.length) throw new Error(`weightedKappa: the raters have ${a.length} and ${b.length} labels; pass the labels of the same items in the same order.`);
  if (a.length === 0) return null;
  const labels = options.labels ? [...options.labels] : [...new Set([...Array.from(a), ...Array.from(b)])].sort((x, y) => x - y);
  const position = new Map(labels.map((label, i) => [label, i]));
  const k = labels.length;
  const observed = new Float64Array(k * k);
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    const pa = position.get(a[i]!);
    const pb = position.get(b[i]!);
    // scikit-learn's confusion_matrix drops pairs whose labels are outside an explicit label list.
    if (pa === undefined || pb === undefined) continue;
    observed[pa * k + pb]! += 1;
    n++;
  }
  if (n === 0) return null;
  const rows = new Float64Array(k);
  const cols = new Float64Array(k);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) {
    rows[i]! += observed[i * k + j]!;
    cols[j]! += observed[i * k + j]!;
  }
  const weights = options.weights ?? 'none';
  let disagreeObserved = 0;
  let disagreeExpected = 0;
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      const w = weights === 'quadratic' ? (i - j) ** 2 : weights === 'linear' ? Math.abs(i - j) : i === j ? 0 : 1;
      disagreeObserved += w * observed[i * k + j]!;
      disagreeExpected += (w * rows[i]! * cols[j]!) / n;
    }
  }
  if (disagreeExpected === 0) return null;
  return 1 - disagreeObserved / disagreeExpected;
}
