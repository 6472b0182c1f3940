/**
 * Probe heads at embedding scale: N × D float32 vectors (default 20,000 × 512; MIRU_BENCH_PROBE_N and
 * MIRU_BENCH_PROBE_DIM for a quick run) with 7 ordinal classes drawn from a proportional-odds model on a random
 * direction, so every head has something real to find. Same-run baseline for every row: one plain X'X (row-by-row
 * rank-1 updates of the upper triangle over the standardised training matrix), the unavoidable core of a ridge fit; a
 * ratio of 3 means "costs three Gram matrices".
 * Rows: ridge (fixed alpha; alpha chosen by inner 3-fold CV), multinomial logistic (L-BFGS), ordinal logistic,
 * the kNN probe on one fold (exact search), and 5-fold out-of-fold logistic probabilities (what `miru issues`
 * computes). Notes carry iterations and the held-out accuracy, so a faster but worse fit shows.
 */
import {
  chooseRidgeAlpha,
  fitLogistic,
  fitOrdinal,
  fitRidge,
  fitStandardizer,
  knnClassProba,
  outOfFoldProbabilities,
  predictLogisticProba,
  predictOrdinalProba,
  predictRidge,
  probeNeighbours,
  splitFold,
  standardizeRows,
  stratifiedFolds,
} from '../../core/analysis/probeHeads.js';
import { spearman } from '../../core/analysis/correlation.js';
import { SeededRandom } from '../../core/synth/random.js';
import { now } from '../benchUtil.js';
import type { BenchRow } from './benchRow.js';

const N = Number(process.env.MIRU_BENCH_PROBE_N ?? 20_000);
const DIM = Number(process.env.MIRU_BENCH_PROBE_DIM ?? 512);
const CLASSES = 7;
const KNN_QUERIES = Math.min(2000, Math.floor(N / 5));

function log(text: string): void {
  process.stderr.write(`[probe] ${text}\n`);
}

const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

function probeData(): { vectors: Float32Array; target: Float64Array; labels: Int32Array } {
  const rng = new SeededRandom(17);
  const direction = Float64Array.from({ length: DIM }, () => rng.normal() / Math.sqrt(DIM));
  const cuts = [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5];
  const vectors = new Float32Array(N * DIM);
  const target = new Float64Array(N);
  const labels = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    let eta = 0;
    for (let d = 0; d < DIM; d++) {
      const v = rng.normal() + 0.5; // a shared offset, as real embeddings have
      vectors[i * DIM + d] = v;
      eta += 2 * direction[d]! * (v - 0.5);
    }
    const u = rng.next();
    const latent = eta + Math.log(u / (1 - u));
    target[i] = latent;
    labels[i] = cuts.filter((c) => latent > c).length;
  }
  return { vectors, target, labels };
}

/**
 * The baseline: X'X of the standardised rows as plain row-by-row rank-1 updates of the upper triangle (the
 * cache-friendly textbook loop; the column-by-column dot-product order is ~50x slower at this size).
 */
function plainGram(x: Float64Array, n: number, dim: number): Float64Array {
  const gram = new Float64Array(dim * dim);
  for (let i = 0; i < n; i++) {
    const o = i * dim;
    for (let a = 0; a < dim; a++) {
      const xa = x[o + a]!;
      const g = a * dim;
      for (let b = a; b < dim; b++) gram[g + b]! += xa * x[o + b]!;
    }
  }
  return gram;
}

function accuracyOf(probs: Float64Array, labels: ArrayLike<number>, rows: ArrayLike<number>): number {
  let hits = 0;
  for (let r = 0; r < rows.length; r++) {
    let best = 0;
    for (let c = 1; c < CLASSES; c++) if (probs[r * CLASSES + c]! > probs[r * CLASSES + best]!) best = c;
    if (best === labels[rows[r]!]) hits++;
  }
  return hits / rows.length;
}

export async function runProbeBench(): Promise<BenchRow[]> {
  const { vectors, target, labels } = probeData();
  const assignment = stratifiedFolds(labels, 5, 1);
  const { train, test } = splitFold(assignment, 0);
  const shape = `${train.length} x ${DIM}`;

  const all = Int32Array.from({ length: N }, (_, i) => i);
  const z = standardizeRows(vectors, DIM, train, fitStandardizer(vectors, DIM, train));
  let t = now();
  plainGram(z, train.length, DIM);
  const gramMs = now() - t;
  log(`plain X'X of ${shape}: ${round(gramMs)} ms`);
  const row = (name: string, ms: number, note: string): BenchRow => {
    log(`${name}: ${round(ms)} ms (${round(ms / gramMs, 2)} x X'X); ${note}`);
    return { name, baseline: round(gramMs), value: round(ms), ratio: round(ms / gramMs, 2), note };
  };
  const rows: BenchRow[] = [];

  t = now();
  const ridge = fitRidge(vectors, DIM, train, target, 1);
  const ridgeMs = now() - t;
  const ridgeRho = spearman(Array.from(predictRidge(ridge, vectors, DIM, test)), Array.from(test, (r) => target[r]!));
  rows.push(row(`ridge fit, alpha 1 (${shape}), ms`, ridgeMs, `held-out Spearman ${ridgeRho.toFixed(3)}; baseline: one plain X'X`));

  t = now();
  const choice = chooseRidgeAlpha(vectors, DIM, train, target, { seed: 1 });
  fitRidge(vectors, DIM, train, target, choice.alpha);
  rows.push(row(`ridge fit, alpha by inner 3-fold CV over ${choice.tried.length} values (${shape}), ms`, now() - t, `chose alpha ${round(choice.alpha, 2)}`));

  t = now();
  const logistic = fitLogistic(vectors, DIM, train, labels, CLASSES, { l2: 1 });
  const logisticMs = now() - t;
  const logisticAcc = accuracyOf(predictLogisticProba(logistic, vectors, DIM, test), labels, test);
  rows.push(row(`multinomial logistic fit, ${CLASSES} classes, L-BFGS (${shape}), ms`, logisticMs, `${logistic.iterations} iterations, converged ${logistic.converged}, held-out accuracy ${logisticAcc.toFixed(3)}`));

  t = now();
  const ordinal = fitOrdinal(vectors, DIM, train, labels, CLASSES, { l2: 1 });
  const ordinalMs = now() - t;
  const ordinalAcc = accuracyOf(predictOrdinalProba(ordinal, vectors, DIM, test), labels, test);
  rows.push(row(`ordinal logistic fit, ${CLASSES} classes (${shape}), ms`, ordinalMs, `${ordinal.iterations} iterations, converged ${ordinal.converged}, held-out accuracy ${ordinalAcc.toFixed(3)}`));

  const queries = test.subarray(0, KNN_QUERIES);
  t = now();
  const neighbours = probeNeighbours(vectors, DIM, train, queries, 10);
  const knnProbs = knnClassProba(neighbours, Int32Array.from(train, (r) => labels[r]!), CLASSES, 'distance');
  const knnMs = now() - t;
  rows.push(row(`kNN probe, k 10, exact cosine search: ${queries.length} queries against ${train.length}, ms`, knnMs, `held-out accuracy ${accuracyOf(knnProbs, labels, queries).toFixed(3)}`));

  t = now();
  const oof = outOfFoldProbabilities(vectors, DIM, labels, CLASSES, { head: 'logistic', folds: 5, seed: 1 });
  rows.push(row(`out-of-fold logistic probabilities, 5 folds (${N} x ${DIM}), ms`, now() - t, `out-of-fold accuracy ${accuracyOf(oof, labels, all).toFixed(3)}`));
  return rows;
}
