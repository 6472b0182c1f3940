// Confident learning for single-label multiclass data (Northcutt, Jiang & Chuang, JAIR 2021), with the exact
// semantics of cleanlab's `filter.find_label_issues`, `count.*` and `rank.*` (cleanlab 2.5+, the single-process
// path): per-class thresholds, the confident joint and its calibration, the seven `filter_by` modes, `frac_noise`,
// `num_to_remove_per_class`, `min_examples_per_class`, and the three label-quality scores used for ranking.
// test/fixtures/analysis/cleanlab*.json hold cleanlab's own output on the same inputs (scripts/analysis/
// make_cleanlab_reference.py), and the tests require equality.
//
// Written from the algorithm, not translated. Where numpy's arithmetic order decides a result (a mean compared with
// a probability, a count rounded half-to-even, a float truncated to an int), the same order is used here:
// pairwise summation for contiguous reductions, the memory order of the intermediate matrices cleanlab builds, and
// numpy's stable ordering for the small sorts. Sorting ties: numpy's argsort is a stable insertion sort up to 17
// elements and an unstable introsort beyond; Miru always breaks ties by the lower row index, which equals numpy
// wherever numpy is deterministic (and continuous probabilities practically never tie).
//
// Layout: probabilities are one row-major Float64Array (n rows × K classes), labels an Int32Array; no per-row
// objects; 1M × 7 takes about half a second (bench/analysis/labelIssuesBench.ts).

export const FILTER_BY = [
  'prune_by_noise_rate',
  'prune_by_class',
  'both',
  'confident_learning',
  'predicted_neq_given',
  'low_normalized_margin',
  'low_self_confidence',
] as const;
export type FilterBy = (typeof FILTER_BY)[number];

export const RANK_BY = ['self_confidence', 'normalized_margin', 'confidence_weighted_entropy'] as const;
export type RankBy = (typeof RANK_BY)[number];

/** cleanlab's tolerance for "equal" probabilities (a given label within this of the argmax is not an issue). */
const FLOATING_POINT_COMPARISON = 1e-6;
/** Lower bound for the self-confidence and entropy ratio in confidence-weighted entropy. */
const CLIPPING_LOWER_BOUND = 1e-6;
/** Thresholds are clipped from below so a class whose members all have probability 0 still needs p > 0. */
const CONFIDENT_THRESHOLDS_LOWER_BOUND = 2 * FLOATING_POINT_COMPARISON;
/** A class nobody is labelled with gets a threshold no probability can reach, so nothing is counted into it. */
const MISSING_CLASS_THRESHOLD = 2;
const TINY_VALUE = 1e-100;

/** Labels and predicted probabilities of n examples over `classes` classes, checked by checkLabelInputs. */
export interface LabelInputs {
  labels: Int32Array;
  /** Row-major n × classes. */
  probs: Float64Array;
  classes: number;
}

/**
 * Throws a clear error for input cleanlab would reject (and a few it would silently mangle): lengths that do not
 * fit, labels that are not class indices, probabilities outside [0, 1] (beyond cleanlab's 1e-6 slack) or not
 * finite, and fewer than two classes present in the labels.
 */
export function checkLabelInputs({ labels, probs, classes }: LabelInputs): void {
  if (!Number.isInteger(classes) || classes < 2) throw new Error(`Confident learning needs at least 2 classes (got ${classes}).`);
  const n = labels.length;
  if (n === 0) throw new Error('No examples: the labels are empty.');
  if (probs.length !== n * classes) {
    throw new Error(`The predicted probabilities hold ${probs.length} values, but ${n} labels × ${classes} classes need ${n * classes}.`);
  }
  let distinct = 0;
  const present = new Uint8Array(classes);
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (y < 0 || y >= classes) throw new Error(`Row ${i}: label ${y} is not a class index 0..${classes - 1}.`);
    if (!present[y]) {
      present[y] = 1;
      distinct++;
    }
  }
  // cleanlab accepts a single class only when every label is 0 (its multi-label one-vs-rest case); so does Miru.
  if (distinct < 2 && labels[0] !== 0) throw new Error(`Every label is ${labels[0]}: confident learning needs at least 2 classes among the labels.`);
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i];
    if (!(p >= -FLOATING_POINT_COMPARISON && p <= 1 + FLOATING_POINT_COMPARISON)) {
      const row = Math.floor(i / classes);
      throw new Error(`Row ${row}, class ${i - row * classes}: probability ${p} is not in [0, 1].`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// numpy-faithful arithmetic

/**
 * Sum of n values a[offset], a[offset + stride], ... in numpy's pairwise order (what `np.sum` and `np.mean` do
 * along a contiguous axis): under 8 values a plain loop from 0; up to 128, eight interleaved accumulators combined
 * as a tree, then the remainder; beyond, the two halves (the first a multiple of 8 long) recursively.
 */
export function pairwiseSum(a: ArrayLike<number>, offset: number, n: number, stride = 1): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[offset + i * stride];
    return res;
  }
  if (n <= 128) {
    let r0 = a[offset];
    let r1 = a[offset + stride];
    let r2 = a[offset + 2 * stride];
    let r3 = a[offset + 3 * stride];
    let r4 = a[offset + 4 * stride];
    let r5 = a[offset + 5 * stride];
    let r6 = a[offset + 6 * stride];
    let r7 = a[offset + 7 * stride];
    let i = 8;
    const end = n - (n % 8);
    for (; i < end; i += 8) {
      const o = offset + i * stride;
      r0 += a[o];
      r1 += a[o + stride];
      r2 += a[o + 2 * stride];
      r3 += a[o + 3 * stride];
      r4 += a[o + 4 * stride];
      r5 += a[o + 5 * stride];
      r6 += a[o + 6 * stride];
      r7 += a[o + 7 * stride];
    }
    let res = r0 + r1 + (r2 + r3) + (r4 + r5 + (r6 + r7));
    for (; i < n; i++) res += a[offset + i * stride];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, offset, n2, stride) + pairwiseSum(a, offset + n2 * stride, n - n2, stride);
}

/** numpy's `round`/`rint`: halves go to the even neighbour (2.5 -> 2, 3.5 -> 4), unlike Math.round. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f; // exact for doubles
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Indices of `values` in ascending order, ties keeping index order (numpy's argsort on fewer than 18 values). */
function stableArgsortSmall(values: ArrayLike<number>): number[] {
  const order: number[] = [];
  for (let i = 0; i < values.length; i++) {
    let j = order.length;
    while (j > 0 && values[i] < values[order[j - 1]]) j--;
    order.splice(j, 0, i);
  }
  return order;
}

/**
 * Rounds each value to an integer while keeping the row's rounded total (cleanlab's round_preserving_sum): round
 * half-to-even, then move the values with the largest rounding loss up (or smallest down) one at a time.
 */
function roundPreservingSum(floats: Float64Array): Float64Array {
  const k = floats.length;
  const ints = new Float64Array(k);
  for (let i = 0; i < k; i++) ints[i] = roundHalfEven(floats[i]);
  const origSum = roundHalfEven(pairwiseSum(floats, 0, k));
  let intSum = roundHalfEven(pairwiseSum(ints, 0, k));
  const residual = new Float64Array(k);
  while (Math.abs(intSum - origSum) > FLOATING_POINT_COMPARISON) {
    const diff = roundHalfEven(origSum - intSum);
    const increment = diff < 0 ? -1 : 1;
    const changes = Math.min(Math.trunc(Math.abs(diff)), k);
    for (let i = 0; i < k; i++) residual[i] = floats[i] - ints[i];
    const order = stableArgsortSmall(residual);
    // cleanlab reverses the ascending order to round up: among equal residuals the later index goes first.
    if (increment === 1) order.reverse();
    for (let c = 0; c < changes; c++) ints[order[c]] += increment;
    intSum = roundHalfEven(pairwiseSum(ints, 0, k));
  }
  return ints;
}

/** Rounds a K × K matrix row by row, keeping each row's total (cleanlab's round_preserving_row_totals). */
function roundPreservingRowTotals(matrix: Float64Array, k: number): Float64Array {
  const out = new Float64Array(k * k);
  for (let r = 0; r < k; r++) out.set(roundPreservingSum(matrix.subarray(r * k, r * k + k)), r * k);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Selection with a total order: (key, row index) ascending

/**
 * Reorders ids[0..count) so that its first m entries are the m smallest by (key[id], id), the prefix numpy's
 * `np.argsort(key)[:m]` takes (ties by lower index). Quickselect: linear on average, no allocation.
 */
function selectSmallest(ids: Int32Array, count: number, key: Float64Array, m: number): void {
  if (m <= 0 || m >= count) return;
  const less = (a: number, b: number) => key[a] < key[b] || (key[a] === key[b] && a < b);
  let lo = 0;
  let hi = count - 1;
  while (hi > lo) {
    // Median of three as pivot, moved to ids[lo].
    const mid = (lo + hi) >>> 1;
    if (less(ids[mid], ids[lo])) swap(ids, mid, lo);
    if (less(ids[hi], ids[lo])) swap(ids, hi, lo);
    if (less(ids[hi], ids[mid])) swap(ids, hi, mid);
    swap(ids, lo, mid);
    const pivot = ids[lo];
    let i = lo;
    let j = hi + 1;
    for (;;) {
      do i++;
      while (i <= hi && less(ids[i], pivot));
      do j--;
      while (less(pivot, ids[j]));
      if (i >= j) break;
      swap(ids, i, j);
    }
    swap(ids, lo, j);
    // ids[j] is now in its sorted place.
    if (j === m - 1 || j === m) return;
    if (j < m) lo = j + 1;
    else hi = j - 1;
  }
}

function swap(a: Int32Array, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}

/** Row indices grouped by given label, each group in ascending row order (the rows numpy's `labels == k` selects). */
interface ClassGroups {
  offsets: Int32Array; // length K + 1
  rows: Int32Array;
}

function groupByLabel(labels: Int32Array, k: number): ClassGroups {
  const offsets = new Int32Array(k + 1);
  for (let i = 0; i < labels.length; i++) offsets[labels[i] + 1]++;
  for (let c = 0; c < k; c++) offsets[c + 1] += offsets[c];
  const fill = offsets.slice(0, k);
  const rows = new Int32Array(labels.length);
  for (let i = 0; i < labels.length; i++) rows[fill[labels[i]]++] = i;
  return { offsets, rows };
}

function labelCounts(labels: Int32Array, k: number): Float64Array {
  const counts = new Float64Array(k);
  for (let i = 0; i < labels.length; i++) counts[labels[i]]++;
  return counts;
}

// ---------------------------------------------------------------------------------------------------------------
// Thresholds and the confident joint

/**
 * Per-class threshold t_k: the mean predicted probability of class k over the examples labelled k (cleanlab's
 * get_confident_thresholds), 2 for a class nobody has, clipped below at 2e-6.
 */
export function confidentThresholds({ labels, probs, classes: k }: LabelInputs): Float64Array {
  const groups = groupByLabel(labels, k);
  const thresholds = new Float64Array(k);
  const scratch = new Float64Array(labels.length);
  for (let c = 0; c < k; c++) {
    const start = groups.offsets[c];
    const count = groups.offsets[c + 1] - start;
    let t = MISSING_CLASS_THRESHOLD;
    if (count > 0) {
      // numpy takes the mean of the gathered (contiguous) column with pairwise summation; same here, so a
      // probability sitting exactly at the threshold compares the same way.
      for (let i = 0; i < count; i++) scratch[i] = probs[groups.rows[start + i] * k + c];
      t = pairwiseSum(scratch, 0, count) / count;
    }
    thresholds[c] = Math.max(t, CONFIDENT_THRESHOLDS_LOWER_BOUND);
  }
  return thresholds;
}

export interface ConfidentJoint {
  /** K × K row-major counts: row = given label, column = guessed true label. */
  joint: Float64Array;
  /** Rows counted off the diagonal (confidently guessed to be another class), ascending. */
  offDiagonal: Int32Array;
  thresholds: Float64Array;
}

/**
 * The confident joint C[given][true]: each example whose probability reaches the threshold (less 1e-6) of at least
 * one class is counted under that class, or under its argmax when several qualify; the diagonal is at least 1.
 * With `calibrate` (cleanlab's default) rows are rescaled to the label counts and the total to n, then rounded
 * keeping row totals.
 */
export function computeConfidentJoint(inputs: LabelInputs, options: { calibrate?: boolean; thresholds?: Float64Array } = {}): ConfidentJoint {
  const { labels, probs, classes: k } = inputs;
  const thresholds = options.thresholds ?? confidentThresholds(inputs);
  const cut = new Float64Array(k);
  for (let c = 0; c < k; c++) cut[c] = thresholds[c] - 1e-6;
  const joint = new Float64Array(k * k);
  const off: number[] = [];
  const n = labels.length;
  for (let i = 0; i < n; i++) {
    const o = i * k;
    let confident = 0;
    let firstConfident = -1;
    let argmax = 0;
    let best = probs[o];
    for (let c = 0; c < k; c++) {
      const p = probs[o + c];
      if (p >= cut[c]) {
        confident++;
        if (firstConfident < 0) firstConfident = c;
      }
      if (p > best) {
        best = p;
        argmax = c;
      }
    }
    if (confident === 0) continue;
    const guess = confident > 1 ? argmax : firstConfident;
    joint[labels[i] * k + guess]++;
    if (guess !== labels[i]) off.push(i);
  }
  for (let c = 0; c < k; c++) if (joint[c * k + c] < 1) joint[c * k + c] = 1;
  const result = options.calibrate === false ? joint : calibrateConfidentJoint(joint, labelCounts(labels, k), k, 'column-major');
  return { joint: result, offDiagonal: Int32Array.from(off), thresholds };
}

/**
 * Rescales each row of a confident joint to its label count, then the whole matrix to sum to n, rounding to
 * integers with row totals kept (cleanlab's calibrate_confident_joint). `sumOrder` is the memory order in which
 * numpy adds up the rescaled matrix: column-major when it comes from computeConfidentJoint (cleanlab's joint is a
 * transposed view there), row-major when recalibrating an already calibrated joint.
 */
export function calibrateConfidentJoint(joint: Float64Array, counts: Float64Array, k: number, sumOrder: 'column-major' | 'row-major'): Float64Array {
  const scaled = new Float64Array(k * k);
  let n = 0;
  for (let r = 0; r < k; r++) {
    let rowSum = 0;
    for (let c = 0; c < k; c++) rowSum += joint[r * k + c]; // integer counts: exact in any order
    const denom = Math.max(rowSum, TINY_VALUE);
    for (let c = 0; c < k; c++) scaled[r * k + c] = (joint[r * k + c] / denom) * counts[r];
    n += counts[r];
  }
  const total = Math.max(sumOrder === 'column-major' ? pairwiseSumColumnMajor(scaled, k) : pairwiseSum(scaled, 0, k * k), TINY_VALUE);
  for (let i = 0; i < k * k; i++) scaled[i] = (scaled[i] / total) * n;
  return roundPreservingRowTotals(scaled, k);
}

function pairwiseSumColumnMajor(m: Float64Array, k: number): number {
  const t = new Float64Array(k * k);
  for (let r = 0; r < k; r++) for (let c = 0; c < k; c++) t[c * k + r] = m[r * k + c];
  return pairwiseSum(t, 0, k * k);
}

/** The calibrated confident joint normalised to sum to 1: an estimate of P(given label, true label). */
export function estimateJoint(inputs: LabelInputs): Float64Array {
  const k = inputs.classes;
  const calibrated = computeConfidentJoint(inputs).joint;
  // cleanlab's estimate_joint calibrates the (already calibrated) joint once more.
  const again = calibrateConfidentJoint(calibrated, labelCounts(inputs.labels, k), k, 'row-major');
  let total = 0;
  for (let i = 0; i < k * k; i++) total += again[i]; // integers: exact
  const joint = new Float64Array(k * k);
  for (let i = 0; i < k * k; i++) joint[i] = again[i] / Math.max(total, TINY_VALUE);
  return joint;
}

/**
 * Rows where the label is within 1e-6 of the top probability (argmax after adding 1e-6 to the given label's
 * probability, first maximum wins): never reported as issues by the confident-joint filters.
 */
function givenLabelIsTop(labels: Int32Array, probs: Float64Array, k: number): Uint8Array {
  const out = new Uint8Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    const o = i * k;
    const y = labels[i];
    const py = probs[o + y] + FLOATING_POINT_COMPARISON;
    let top = true;
    for (let c = 0; c < k && top; c++) {
      if (c === y) continue;
      const p = probs[o + c];
      if (p > py || (p === py && c < y)) top = false;
    }
    out[i] = top ? 1 : 0;
  }
  return out;
}

/** Index of each row's largest probability (first one on ties), as numpy's argmax. */
export function predictedLabels(probs: Float64Array, k: number): Int32Array {
  const n = probs.length / k;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * k;
    let best = probs[o];
    let arg = 0;
    for (let c = 1; c < k; c++) {
      if (probs[o + c] > best) {
        best = probs[o + c];
        arg = c;
      }
    }
    out[i] = arg;
  }
  return out;
}

export type NumIssuesMethod = 'off_diagonal' | 'off_diagonal_calibrated';

/**
 * cleanlab's count.num_label_issues: 'off_diagonal' counts the confident joint's off-diagonal rows whose label is
 * not (within 1e-6) the top prediction; 'off_diagonal_calibrated' is n × (1 − trace of the estimated joint).
 */
export function numLabelIssues(inputs: LabelInputs, method: NumIssuesMethod = 'off_diagonal'): number {
  checkLabelInputs(inputs);
  const { labels, probs, classes: k } = inputs;
  if (method === 'off_diagonal') {
    const { offDiagonal } = computeConfidentJoint(inputs, { calibrate: false });
    const top = givenLabelIsTop(labels, probs, k);
    let count = 0;
    for (const i of offDiagonal) if (!top[i]) count++;
    return count;
  }
  const joint = estimateJoint(inputs);
  const trace = pairwiseSum(joint, 0, k, k + 1);
  return roundHalfEven((1 - trace) * labels.length);
}

// ---------------------------------------------------------------------------------------------------------------
// Label quality scores

/**
 * Probabilities with each class's threshold subtracted, shifted by the largest threshold and renormalised per row
 * (cleanlab's adjust_pred_probs): counters class imbalance in the scores.
 */
export function adjustPredProbs(inputs: LabelInputs, thresholds = confidentThresholds(inputs)): Float64Array {
  const { probs, classes: k } = inputs;
  let maxT = -Infinity;
  for (const t of thresholds) if (t > maxT) maxT = t;
  const out = new Float64Array(probs.length);
  for (let o = 0; o < probs.length; o += k) {
    for (let c = 0; c < k; c++) out[o + c] = probs[o + c] - thresholds[c] + maxT;
    const sum = pairwiseSum(out, o, k);
    for (let c = 0; c < k; c++) out[o + c] /= sum;
  }
  return out;
}

/**
 * Label quality per row in [0, 1], low = likely mislabelled (cleanlab's rank.get_label_quality_scores):
 * self_confidence p[label]; normalized_margin (p[label] − max other p + 1) / 2; confidence_weighted_entropy
 * log(1 + H/p[label]) / (H/p[label]) with H the entropy normalised by log K.
 */
export function labelQualityScores(inputs: LabelInputs, method: RankBy = 'self_confidence', options: { adjustPredProbs?: boolean } = {}): Float64Array {
  const { labels, classes: k } = inputs;
  if (!RANK_BY.includes(method)) throw new Error(`Unknown label quality method "${method}"; choose one of ${RANK_BY.join(', ')}.`);
  if (options.adjustPredProbs && method === 'confidence_weighted_entropy') {
    throw new Error('Adjusted probabilities are not supported for confidence_weighted_entropy (as in cleanlab).');
  }
  const probs = options.adjustPredProbs ? adjustPredProbs(inputs) : inputs.probs;
  const n = labels.length;
  const scores = new Float64Array(n);
  if (method === 'self_confidence') {
    for (let i = 0; i < n; i++) scores[i] = probs[i * k + labels[i]];
  } else if (method === 'normalized_margin') {
    for (let i = 0; i < n; i++) {
      const o = i * k;
      const y = labels[i];
      let other = -Infinity;
      for (let c = 0; c < k; c++) if (c !== y && probs[o + c] > other) other = probs[o + c];
      scores[i] = (probs[o + y] - other + 1) / 2;
    }
  } else {
    const logK = Math.log(k);
    const terms = new Float64Array(k);
    for (let i = 0; i < n; i++) {
      const o = i * k;
      for (let c = 0; c < k; c++) {
        const p = probs[o + c];
        terms[c] = p === 0 ? 0 : p * Math.log(p); // scipy's xlogy(p, p): 0 at p = 0
      }
      const entropy = -pairwiseSum(terms, 0, k) / logK;
      const selfConfidence = Math.max(probs[o + labels[i]], CLIPPING_LOWER_BOUND);
      const ratio = entropy / selfConfidence;
      scores[i] = Math.log(ratio + 1) / Math.max(ratio, CLIPPING_LOWER_BOUND);
    }
  }
  return scores;
}

/** Rows flagged in `mask`, ordered by ascending score, ties by row (cleanlab's order_label_issues). */
export function orderByScore(mask: Uint8Array, scores: Float64Array): Int32Array {
  let count = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]) count++;
  const ids = new Int32Array(count);
  for (let i = 0, j = 0; i < mask.length; i++) if (mask[i]) ids[j++] = i;
  return ids.sort((a, b) => scores[a] - scores[b] || a - b);
}

// ---------------------------------------------------------------------------------------------------------------
// Pruning

/**
 * The number of examples to prune per (true class, given class), cleanlab's _keep_at_least_n_per_class followed
 * by _reduce_prune_counts: P = Cᵀ with each column's diagonal raised to at least `minPerClass` (taking the raise
 * evenly from the column's non-zero off-diagonal counts), off-diagonals scaled by `fracNoise` (the diagonal taking
 * up the difference), truncated to integers. Returned row-major: P[true][given].
 */
function pruneCountMatrix(joint: Float64Array, k: number, minPerClass: number, fracNoise: number): Float64Array {
  const m = new Float64Array(k * k);
  for (let r = 0; r < k; r++) for (let c = 0; c < k; c++) m[r * k + c] = joint[c * k + r]; // transpose
  const newDiagonal = new Float64Array(k);
  const perColumn = new Float64Array(k);
  for (let c = 0; c < k; c++) {
    const d = m[c * k + c];
    newDiagonal[c] = Math.max(d, minPerClass);
    let nonZero = 0;
    for (let r = 0; r < k; r++) if (m[r * k + c] !== 0) nonZero++;
    perColumn[c] = (newDiagonal[c] - d) / Math.max(nonZero - 1, 1);
  }
  const kept = new Float64Array(k * k);
  for (let r = 0; r < k; r++) {
    for (let c = 0; c < k; c++) {
      const v = m[r * k + c] - perColumn[c];
      kept[r * k + c] = r === c ? newDiagonal[c] : v < 0 ? 0 : v;
    }
  }
  const reduced = new Float64Array(k * k);
  for (let i = 0; i < k * k; i++) reduced[i] = kept[i] * fracNoise;
  const removed = new Float64Array(k * k);
  for (let r = 0; r < k; r++) {
    for (let c = 0; c < k; c++) removed[r * k + c] = r === c ? 0 : kept[r * k + c] - reduced[r * k + c];
  }
  for (let c = 0; c < k; c++) {
    // numpy sums this column along its contiguous axis (the matrix is a transposed view): pairwise order.
    reduced[c * k + c] = kept[c * k + c] + pairwiseSum(removed, c, k, k);
  }
  for (let i = 0; i < k * k; i++) reduced[i] = Math.trunc(reduced[i]);
  return reduced;
}

/**
 * Replaces the prune counts so that exactly `toRemove[g]` examples of given class g are pruned, spread over true
 * classes in proportion to the noise rates (cleanlab's num_to_remove_per_class branch, including its broadcasting:
 * entry [r][c] is divided by the total of row c).
 */
function pruneCountsForRemoval(prune: Float64Array, k: number, toRemove: Float64Array, counts: Float64Array): Float64Array {
  const rowTotal = new Float64Array(k);
  for (let r = 0; r < k; r++) for (let c = 0; c < k; c++) rowTotal[r] += prune[r * k + c];
  const psy = new Float64Array(k * k);
  for (let r = 0; r < k; r++) for (let c = 0; c < k; c++) psy[r * k + c] = prune[r * k + c] / rowTotal[c];
  const out = new Float64Array(k * k);
  for (let r = 0; r < k; r++) {
    const noise = pairwiseSum(psy, r * k, k) - psy[r * k + r];
    // cleanlab divides by the noise rate regardless and turns 0/0 into garbage counts; Miru says what happened.
    if (toRemove[r] > 0 && !(noise > 0)) {
      throw new Error(`num_to_remove_per_class: class ${r} has no estimated label noise to spread its removals over; use filter_by prune_by_class.`);
    }
    for (let c = 0; c < k; c++) {
      out[r * k + c] = r === c ? counts[r] - toRemove[r] : toRemove[r] === 0 ? 0 : (psy[r * k + c] * toRemove[r]) / noise;
    }
  }
  return roundPreservingRowTotals(out, k);
}

export interface LabelIssueOptions {
  /** Which examples count as issues (default prune_by_noise_rate, cleanlab's default). */
  filterBy?: FilterBy;
  /** The label quality score that orders the issues (default self_confidence). */
  rankBy?: RankBy;
  /** Score adjusted probabilities when ranking (cleanlab's rank_by_kwargs adjust_pred_probs). */
  adjustPredProbs?: boolean;
  /** Report only this fraction of the confident issues (prune_by_* and both only). */
  fracNoise?: number;
  /** Exact number of issues per given class (prune_by_* and both only). */
  numToRemovePerClass?: number | ArrayLike<number>;
  /** Leave at least this many examples in every class (default 1). */
  minExamplesPerClass?: number;
}

export interface LabelIssues {
  filterBy: FilterBy;
  rankBy: RankBy;
  /** 1 where the row is flagged. */
  isIssue: Uint8Array;
  /** Flagged rows, most likely mislabelled first. */
  ranked: Int32Array;
  /** Label quality of every row under rankBy (low = likely wrong). */
  quality: Float64Array;
  /** Argmax class of every row. */
  predicted: Int32Array;
  /** Calibrated confident joint, K × K row-major (given × true). */
  confidentJoint: Float64Array;
  thresholds: Float64Array;
}

/**
 * Finds likely label errors (cleanlab's filter.find_label_issues for single-label data). Returns the mask, the
 * flagged rows ranked by label quality, and the per-row quality scores.
 */
export function findLabelIssues(inputs: LabelInputs, options: LabelIssueOptions = {}): LabelIssues {
  checkLabelInputs(inputs);
  const filterBy = options.filterBy ?? 'prune_by_noise_rate';
  const rankBy = options.rankBy ?? 'self_confidence';
  if (!FILTER_BY.includes(filterBy)) throw new Error(`Unknown filter "${filterBy}"; choose one of ${FILTER_BY.join(', ')}.`);
  if (!RANK_BY.includes(rankBy)) throw new Error(`Unknown ranking "${rankBy}"; choose one of ${RANK_BY.join(', ')}.`);
  const fracNoise = options.fracNoise ?? 1;
  if (!(fracNoise > 0 && fracNoise <= 1)) throw new Error(`frac_noise must be in (0, 1] (got ${fracNoise}).`);
  const minPerClass = options.minExamplesPerClass ?? 1;
  if (!Number.isInteger(minPerClass) || minPerClass < 0) throw new Error(`min_examples_per_class must be a whole number ≥ 0 (got ${minPerClass}).`);
  const pruning = filterBy === 'prune_by_noise_rate' || filterBy === 'prune_by_class' || filterBy === 'both';
  if (options.numToRemovePerClass !== undefined && !pruning) {
    throw new Error(`num_to_remove_per_class works only with prune_by_noise_rate, prune_by_class or both (not ${filterBy}), as in cleanlab.`);
  }

  const { labels, probs, classes: k } = inputs;
  const n = labels.length;
  const counts = labelCounts(labels, k);
  const cj = computeConfidentJoint(inputs);
  let mask: Uint8Array = new Uint8Array(n);

  if (filterBy === 'low_normalized_margin' || filterBy === 'low_self_confidence') {
    const scores = labelQualityScores(inputs, filterBy === 'low_normalized_margin' ? 'normalized_margin' : 'self_confidence');
    const m = numLabelIssues(inputs, 'off_diagonal');
    const ids = new Int32Array(n);
    for (let i = 0; i < n; i++) ids[i] = i;
    selectSmallest(ids, n, scores, m);
    for (let i = 0; i < Math.min(m, n); i++) mask[ids[i]] = 1;
  } else if (filterBy === 'confident_learning') {
    for (const i of cj.offDiagonal) mask[i] = 1;
  } else if (filterBy === 'predicted_neq_given') {
    const predicted = predictedLabels(probs, k);
    for (let i = 0; i < n; i++) mask[i] = predicted[i] !== labels[i] ? 1 : 0;
  } else {
    let prune = pruneCountMatrix(cj.joint, k, minPerClass, fracNoise);
    if (options.numToRemovePerClass !== undefined) {
      const toRemove = new Float64Array(k);
      const given = options.numToRemovePerClass;
      for (let c = 0; c < k; c++) toRemove[c] = typeof given === 'number' ? given : given[c];
      if (toRemove.some((v) => !Number.isInteger(v) || v < 0)) throw new Error('num_to_remove_per_class must be whole numbers ≥ 0, one per class.');
      prune = pruneCountsForRemoval(prune, k, toRemove, counts);
    }
    const groups = groupByLabel(labels, k);
    const byClass = filterBy === 'prune_by_noise_rate' ? null : pruneByClass(groups, probs, k, prune, minPerClass);
    const byNoise = filterBy === 'prune_by_class' ? null : pruneByNoiseRate(groups, probs, k, prune, minPerClass);
    if (byClass && byNoise) for (let i = 0; i < n; i++) mask[i] = byClass[i] & byNoise[i];
    else mask = (byClass ?? byNoise)!;
  }

  if (filterBy !== 'low_normalized_margin' && filterBy !== 'low_self_confidence') {
    const top = givenLabelIsTop(labels, probs, k);
    for (let i = 0; i < n; i++) if (top[i]) mask[i] = 0;
  }

  const quality = labelQualityScores(inputs, rankBy, { adjustPredProbs: options.adjustPredProbs });
  return {
    filterBy,
    rankBy,
    isIssue: mask,
    ranked: orderByScore(mask, quality),
    quality,
    predicted: predictedLabels(probs, k),
    confidentJoint: cj.joint,
    thresholds: cj.thresholds,
  };
}

/**
 * prune_by_class: in each given class k (with more than minPerClass members), the n_k − P[k][k] members with the
 * lowest p_k.
 */
function pruneByClass(groups: ClassGroups, probs: Float64Array, k: number, prune: Float64Array, minPerClass: number): Uint8Array {
  const mask = new Uint8Array(groups.rows.length);
  const key = new Float64Array(groups.rows.length);
  for (let c = 0; c < k; c++) {
    const start = groups.offsets[c];
    const count = groups.offsets[c + 1] - start;
    // cleanlab skips a class of one example, and any class not above min_examples_per_class.
    if (count <= 1 || count <= minPerClass) continue;
    const toPrune = count - prune[c * k + c];
    if (toPrune < 1) continue;
    const ids = groups.rows.slice(start, start + count);
    for (const i of ids) key[i] = probs[i * k + c];
    selectSmallest(ids, count, key, toPrune);
    for (let j = 0; j < Math.min(toPrune, count); j++) mask[ids[j]] = 1;
  }
  return mask;
}

/**
 * prune_by_noise_rate: in each given class k, for every other class j, the P[j][k] members with the largest
 * margin p_j − p_k (the examples most confidently of class j).
 */
function pruneByNoiseRate(groups: ClassGroups, probs: Float64Array, k: number, prune: Float64Array, minPerClass: number): Uint8Array {
  const mask = new Uint8Array(groups.rows.length);
  const key = new Float64Array(groups.rows.length);
  for (let c = 0; c < k; c++) {
    const start = groups.offsets[c];
    const count = groups.offsets[c + 1] - start;
    if (count <= 1 || count <= minPerClass) continue;
    const members = groups.rows.subarray(start, start + count);
    const ids = new Int32Array(count);
    for (let j = 0; j < k; j++) {
      const toPrune = prune[j * k + c];
      if (j === c || toPrune <= 0) continue;
      ids.set(members);
      // Ascending p_c − p_j is descending margin p_j − p_c (negation is exact, so ties are the same ties).
      for (const i of members) key[i] = probs[i * k + c] - probs[i * k + j];
      selectSmallest(ids, count, key, toPrune);
      for (let t = 0; t < Math.min(toPrune, count); t++) mask[ids[t]] = 1;
    }
  }
  return mask;
}

/**
 * For ordinal classes 0..K−1: |label − Σ k·p_k| / (K − 1), the distance between the given label and the
 * expected class under the predicted distribution, in [0, 1] (0: the prediction centres on the label).
 */
export function expectedScoreResidual({ labels, probs, classes: k }: LabelInputs): Float64Array {
  const out = new Float64Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    const o = i * k;
    let expected = 0;
    for (let c = 1; c < k; c++) expected += c * probs[o + c];
    out[i] = Math.min(1, Math.abs(labels[i] - expected) / (k - 1));
  }
  return out;
}
