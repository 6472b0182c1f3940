/**
 * Confident learning at scale: findLabelIssues on N × 7 predicted probabilities (default N = 1,000,000;
 * MIRU_BENCH_N for a quick run), every filter and the default one with each ranking, against a same-run baseline
 * of one pass computing the argmax of every row (the least any label check must do). The data are Dirichlet-like
 * rows centred on a true class with 10 % of the labels redrawn, so the issues found can be checked against the
 * known flips (precision and recall in the note).
 */
import { findLabelIssues, predictedLabels, FILTER_BY, RANK_BY, type LabelInputs } from '../../core/analysis/confidentLearning.js';
import { now, rng } from '../benchUtil.js';
import type { BenchRow } from './benchRow.js';

const N = Number(process.env.MIRU_BENCH_N ?? 1_000_000);
const K = 7;

function log(text: string): void {
  process.stderr.write(`[label-issues] ${text}\n`);
}

const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** Rows favouring a true class (weight 3 plus uniform noise, normalised); 10 % of labels redrawn uniformly. */
function syntheticPredictions(n: number, seed: number): { inputs: LabelInputs; flipped: Uint8Array } {
  const random = rng(seed);
  const labels = new Int32Array(n);
  const probs = new Float64Array(n * K);
  const flipped = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const truth = Math.floor(random() * K);
    let total = 0;
    for (let c = 0; c < K; c++) total += probs[i * K + c] = random() + (c === truth ? 3 : 0);
    for (let c = 0; c < K; c++) probs[i * K + c] /= total;
    labels[i] = random() < 0.1 ? Math.floor(random() * K) : truth;
    flipped[i] = labels[i] !== truth ? 1 : 0;
  }
  return { inputs: { labels, probs, classes: K }, flipped };
}

function best(run: () => void, repeats = 3): number {
  let fastest = Infinity;
  for (let r = 0; r < repeats; r++) {
    const t = now();
    run();
    fastest = Math.min(fastest, now() - t);
  }
  return fastest;
}

export async function runLabelIssuesBench(): Promise<BenchRow[]> {
  const { inputs, flipped } = syntheticPredictions(N, 1);
  let sink = 0;
  const argmaxMs = best(() => {
    sink += predictedLabels(inputs.probs, K)[N - 1]!;
  });
  if (!Number.isFinite(sink)) throw new Error('the baseline result is not finite');
  log(`argmax of ${N} x ${K}: ${round(argmaxMs)} ms`);
  const rows: BenchRow[] = [];
  const measure = (name: string, options: Parameters<typeof findLabelIssues>[1]) => {
    let found = 0;
    let hits = 0;
    const ms = best(() => {
      const result = findLabelIssues(inputs, options);
      found = result.ranked.length;
      hits = 0;
      for (const i of result.ranked) hits += flipped[i]!;
    }, 2);
    let flips = 0;
    for (const f of flipped) flips += f;
    log(`${name}: ${round(ms)} ms, ${found} issues`);
    rows.push({
      name: `${name}, ${N.toLocaleString('en')} × ${K} (ms)`,
      baseline: round(argmaxMs),
      value: round(ms),
      ratio: round(ms / argmaxMs),
      note: `baseline: argmax of every row; ${found} issues, precision ${(hits / Math.max(found, 1)).toFixed(3)}, recall ${(hits / flips).toFixed(3)} of ${flips} flipped labels`,
    });
  };
  for (const rankBy of RANK_BY) measure(`find_label_issues prune_by_noise_rate, ranked by ${rankBy}`, { rankBy });
  for (const filterBy of FILTER_BY.filter((f) => f !== 'prune_by_noise_rate')) measure(`find_label_issues ${filterBy}`, { filterBy });
  measure('find_label_issues prune_by_noise_rate, frac_noise 0.5', { fracNoise: 0.5 });
  return rows;
}
