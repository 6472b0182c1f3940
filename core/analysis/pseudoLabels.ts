// Pseudo-labels for unrated images, two ways: label spreading from the rated images over the kNN graph of an
// embedding run (labelPropagation.ts), or a model's own confident predictions (FixMatch-style: keep a prediction
// only when its largest class probability reaches a threshold). Either way a held-out check first hides part of
// the real labels, pseudo-labels them the same way and scores the result against the hidden truth, so a
// researcher knows how far to trust the labels before training on them.
//
// The real label of a rated image is its consensus class: the mean rating rounded to the nearest class of the
// scale (halves round up). Results are stored as an analysis of kind 'pseudo-labels': value = the class, extra =
// [confidence, ...distribution over the scale's classes].
import type { LibraryDb } from '../library/openLibrary.js';
import { SeededRandom } from '../synth/random.js';
import { saveAnalysis, type AnalysisValue } from './analysisStore.js';
import { loadEmbeddings } from './embeddingMatrix.js';
import { knnAll } from './knnIndex.js';
import { PROPAGATION_DEFAULTS, spreadLabels, type PropagationAffinity } from './labelPropagation.js';
import { ordinalScale, readClassProbabilities, type OrdinalScale } from './softLabels.js';
import { weightedKappa } from './weightedKappa.js';

export type PseudoLabelMethod = 'propagation' | 'threshold';
export const PSEUDO_LABEL_METHODS: readonly PseudoLabelMethod[] = ['propagation', 'threshold'];

export interface PseudoLabelOptions {
  method?: PseudoLabelMethod;
  /** propagation: the embedding run (id or model name) whose kNN graph carries the labels. */
  embedding?: string;
  /** threshold: the model whose latest score run's class probabilities are the predictions. */
  model?: string;
  k?: number;
  alpha?: number;
  affinity?: PropagationAffinity;
  gamma?: number;
  balanced?: boolean;
  /** threshold: the least max-probability kept; propagation: the confidence the held-out coverage is counted at. */
  threshold?: number;
  /** Fraction of the labelled images hidden for the check, per class; 0 skips it. */
  holdout?: number;
  seed?: number;
  /** Where knnAll may cache an HNSW index (large runs). */
  cacheDir?: string;
  onProgress?: (phase: 'build' | 'search', done: number, total: number) => void;
}

export const PSEUDO_LABEL_DEFAULTS = { method: 'propagation', k: 10, threshold: 0.95, holdout: 0.2, seed: 1 } as const;

export interface HoldoutCheck {
  fraction: number;
  seed: number;
  /** Labelled images hidden (per class, at least one kept visible in every class). */
  hidden: number;
  /** Hidden images that got a pseudo-label (propagation leaves images it cannot reach without one). */
  evaluated: number;
  /** Over the evaluated images: share of exact classes, mean absolute class error, quadratic weighted kappa. */
  accuracy: number | null;
  mae: number | null;
  qwk: number | null;
  /** Share of the hidden images whose confidence reaches the threshold, and the accuracy among just those. */
  threshold: number;
  coverage: number | null;
  coveredAccuracy: number | null;
}

export interface PseudoLabelReport {
  method: PseudoLabelMethod;
  analysisId: number;
  classes: number[];
  scale: string;
  scaleSource: OrdinalScale['source'];
  embeddingRun: number | null;
  model: string | null;
  scoreRun: number | null;
  params: Record<string, unknown>;
  /** threshold: the least confidence kept; propagation: the confidence counted as covered and in belowThreshold. */
  threshold: number;
  /** Rated images the method could use (with a vector, or with a score). */
  labelled: number;
  /** Unrated images considered, and those that got a label. */
  candidates: number;
  pseudoLabelled: number;
  /** propagation: candidates in parts of the graph no labelled image reaches; threshold: always 0. */
  unreachable: number;
  /** threshold: candidates whose largest probability is below the threshold; propagation: those counted at it. */
  belowThreshold: number;
  perClass: { class: number; labelled: number; pseudoLabelled: number }[];
  holdout: HoldoutCheck | null;
  propagation: { iterations: number; residual: number } | null;
  notes: string[];
  seconds: number;
}

function checkOptions(options: PseudoLabelOptions) {
  const method = options.method ?? PSEUDO_LABEL_DEFAULTS.method;
  if (!PSEUDO_LABEL_METHODS.includes(method)) throw new Error(`--method must be propagation or threshold (got ${JSON.stringify(method)}).`);
  const k = options.k ?? PSEUDO_LABEL_DEFAULTS.k;
  if (!Number.isInteger(k) || k < 1) throw new Error(`--k must be a positive whole number (got ${k}).`);
  const alpha = options.alpha ?? PROPAGATION_DEFAULTS.alpha;
  if (!(alpha > 0 && alpha < 1)) throw new Error(`--alpha must lie strictly between 0 and 1 (got ${alpha}); 0.99 is the usual choice.`);
  const threshold = options.threshold ?? PSEUDO_LABEL_DEFAULTS.threshold;
  if (!(threshold > 0 && threshold <= 1)) throw new Error(`--threshold must be above 0 and at most 1 (got ${threshold}).`);
  const holdout = options.holdout ?? PSEUDO_LABEL_DEFAULTS.holdout;
  if (!(holdout >= 0 && holdout < 1)) throw new Error(`--holdout must be at least 0 and below 1 (got ${holdout}); 0 skips the check.`);
  const seed = options.seed ?? PSEUDO_LABEL_DEFAULTS.seed;
  if (!Number.isInteger(seed)) throw new Error(`--seed must be a whole number (got ${seed}).`);
  if (method === 'propagation' && !options.embedding) throw new Error('--method propagation needs --embedding RUN (a run id or the embedding model\'s name; see `miru embed`).');
  if (method === 'threshold' && !options.model) throw new Error('--method threshold needs --model NAME: a model whose score run stored class probabilities.');
  if (method === 'threshold' && options.embedding) throw new Error('--embedding is for --method propagation; --method threshold uses only the model\'s class probabilities.');
  return { method, k, alpha, threshold, holdout, seed };
}

/** Consensus class index (into scale.classes) of every rated image: the mean rating rounded, halves up. */
export function consensusClasses(db: LibraryDb, scale: OrdinalScale): Map<number, number> {
  const rows = db.prepare<[], { id: number; mean: number }>(`SELECT id, rating_mean AS mean FROM images WHERE status = 'ok' AND rating_count > 0 AND rating_mean IS NOT NULL`).all();
  if (rows.length === 0) throw new Error('This library has no ratings, so there is nothing to take labels from. Import them first: `miru ratings import ratings.csv --db D --scale 1:5`.');
  const K = scale.classes.length;
  return new Map(rows.map((r) => [r.id, Math.min(K - 1, Math.max(0, Math.floor(r.mean - scale.min + 0.5)))]));
}

/**
 * Picks round(fraction × n_c) labelled rows of each class c to hide, seeded, always leaving at least one row of
 * every class visible so hiding never removes a class from the seeds.
 */
export function stratifiedHoldout(labels: ArrayLike<number>, classes: number, fraction: number, seed: number): Uint8Array {
  const hidden = new Uint8Array(labels.length);
  if (fraction <= 0) return hidden;
  const random = SeededRandom.derive(seed, 'pseudo-labels-holdout');
  for (let c = 0; c < classes; c++) {
    const members: number[] = [];
    for (let i = 0; i < labels.length; i++) if (labels[i] === c) members.push(i);
    const take = Math.min(members.length - 1, Math.round(fraction * members.length));
    for (const i of random.sample(members, Math.max(0, take))) hidden[i] = 1;
  }
  return hidden;
}

/** Scores predicted classes (-1 = none) of hidden rows against their true classes. */
export function scoreHoldout(
  truth: ArrayLike<number>,
  predicted: ArrayLike<number>,
  confidence: ArrayLike<number>,
  classValues: readonly number[],
  check: { fraction: number; seed: number; threshold: number },
): HoldoutCheck {
  const n = truth.length;
  const a: number[] = [];
  const b: number[] = [];
  let correct = 0;
  let absError = 0;
  let covered = 0;
  let coveredCorrect = 0;
  for (let i = 0; i < n; i++) {
    const p = predicted[i]!;
    if (p < 0) continue;
    const t = truth[i]!;
    a.push(classValues[t]!);
    b.push(classValues[p]!);
    if (p === t) correct++;
    absError += Math.abs(classValues[p]! - classValues[t]!);
    if (confidence[i]! >= check.threshold) {
      covered++;
      if (p === t) coveredCorrect++;
    }
  }
  const evaluated = a.length;
  return {
    fraction: check.fraction,
    seed: check.seed,
    hidden: n,
    evaluated,
    accuracy: evaluated ? correct / evaluated : null,
    mae: evaluated ? absError / evaluated : null,
    qwk: weightedKappa(a, b, { weights: 'quadratic', labels: classValues }),
    threshold: check.threshold,
    coverage: n ? covered / n : null,
    coveredAccuracy: covered ? coveredCorrect / covered : null,
  };
}

function classCountsOf(labels: ArrayLike<number>, K: number): number[] {
  const counts = new Array<number>(K).fill(0);
  for (let i = 0; i < labels.length; i++) if (labels[i]! >= 0) counts[labels[i]!]!++;
  return counts;
}

function requireTwoClasses(counts: number[], scale: OrdinalScale, what: string): void {
  const present = counts.flatMap((c, k) => (c > 0 ? [scale.classes[k]!] : []));
  if (present.length < 2) {
    throw new Error(
      `${what} ${present.length ? `all have the consensus class ${present[0]}` : 'are none'}, so every image would get that label. ` +
        'Pseudo-labels need rated images of at least two classes.',
    );
  }
}

/**
 * Runs the held-out check and then pseudo-labels every unrated image, and stores the result (one transaction,
 * replacing the same recipe's earlier result). Bad input throws before anything is written.
 */
export async function pseudoLabelLibrary(db: LibraryDb, options: PseudoLabelOptions = {}): Promise<PseudoLabelReport> {
  const started = performance.now();
  const o = checkOptions(options);
  const scale = ordinalScale(db);
  const consensus = consensusClasses(db, scale);
  const result = o.method === 'propagation' ? await byPropagation(db, scale, consensus, o, options) : byThreshold(db, scale, consensus, o, options);
  const analysisId = saveAnalysis(db, {
    kind: 'pseudo-labels',
    sourceRunId: result.sourceRunId,
    params: result.params,
    summary: {
      method: o.method,
      classes: scale.classes,
      extra: 'confidence, then the distribution over the classes',
      labelled: result.report.labelled,
      pseudoLabelled: result.report.pseudoLabelled,
      unreachable: result.report.unreachable,
      holdout: result.report.holdout,
      ...(result.report.propagation ? { propagation: result.report.propagation } : {}),
    },
    values: result.values,
  });
  return {
    method: o.method,
    analysisId,
    classes: scale.classes,
    scale: `${scale.min}:${scale.max}`,
    scaleSource: scale.source,
    params: result.params,
    threshold: o.threshold,
    ...result.report,
    seconds: Math.round((performance.now() - started) / 10) / 100,
  };
}

type MethodReport = Omit<PseudoLabelReport, 'method' | 'analysisId' | 'classes' | 'scale' | 'scaleSource' | 'params' | 'threshold' | 'seconds'>;
interface MethodResult {
  sourceRunId: number;
  params: Record<string, unknown>;
  values: AnalysisValue[];
  report: MethodReport;
}

async function byPropagation(
  db: LibraryDb,
  scale: OrdinalScale,
  consensus: Map<number, number>,
  o: ReturnType<typeof checkOptions>,
  options: PseudoLabelOptions,
): Promise<MethodResult> {
  const K = scale.classes.length;
  const matrix = loadEmbeddings(db, options.embedding!);
  const n = matrix.imageIds.length;
  const seeds = Int32Array.from(matrix.imageIds, (id) => consensus.get(id) ?? -1);
  const counts = classCountsOf(seeds, K);
  const labelled = counts.reduce((a, b) => a + b, 0);
  if (labelled === 0) {
    throw new Error(
      `None of the ${consensus.size} rated images has a vector in embedding run ${matrix.runId} (${matrix.model}). ` +
        `Embed them first: \`miru embed --db D --model ${matrix.model}\`.`,
    );
  }
  requireTwoClasses(counts, scale, `The ${labelled} rated images with vectors in embedding run ${matrix.runId}`);
  if (o.k >= n) throw new Error(`--k ${o.k} needs more than ${o.k} images with vectors, but embedding run ${matrix.runId} (${matrix.model}) has ${n}. Use a smaller --k.`);
  const propagation = { alpha: o.alpha, affinity: options.affinity ?? PROPAGATION_DEFAULTS.affinity, gamma: options.gamma ?? PROPAGATION_DEFAULTS.gamma, balanced: options.balanced ?? false };
  // Check the propagation options now, before the kNN search: a bad gamma must not cost a graph build.
  if (propagation.affinity !== 'connectivity' && propagation.affinity !== 'similarity') throw new Error(`--affinity must be connectivity or similarity (got ${JSON.stringify(propagation.affinity)}).`);
  if (!(propagation.gamma > 0) || !Number.isFinite(propagation.gamma)) throw new Error(`--gamma must be a positive number (got ${propagation.gamma}).`);
  const graph = await knnAll(matrix, o.k, { metric: 'cosine', cacheDir: options.cacheDir, onProgress: options.onProgress });
  const notes: string[] = [];

  let holdout: HoldoutCheck | null = null;
  if (o.holdout > 0) {
    const hidden = stratifiedHoldout(seeds, K, o.holdout, o.seed);
    const visible = Int32Array.from(seeds, (y, i) => (hidden[i] ? -1 : y));
    const check = spreadLabels(graph, visible, K, propagation);
    const rows = Array.from(hidden.keys()).filter((i) => hidden[i]);
    holdout = scoreHoldout(
      rows.map((i) => seeds[i]!),
      rows.map((i) => check.labels[i]!),
      rows.map((i) => check.confidence[i]!),
      scale.classes,
      { fraction: o.holdout, seed: o.seed, threshold: o.threshold },
    );
    if (holdout.hidden === 0) notes.push('Too few rated images per class to hide any: the held-out check was skipped (at least one image of each class stays labelled).');
  }

  const full = spreadLabels(graph, seeds, K, propagation);
  const values: AnalysisValue[] = [];
  const pseudoCounts = new Array<number>(K).fill(0);
  let candidates = 0;
  let unreachable = 0;
  let belowThreshold = 0;
  for (let i = 0; i < n; i++) {
    if (seeds[i]! >= 0) continue;
    candidates++;
    const label = full.labels[i]!;
    if (label < 0) {
      unreachable++;
      values.push({ imageId: matrix.imageIds[i]!, value: null, extra: null });
      continue;
    }
    pseudoCounts[label]!++;
    if (full.confidence[i]! < o.threshold) belowThreshold++;
    const extra = new Float32Array(1 + K);
    extra[0] = full.confidence[i]!;
    extra.set(full.distributions.subarray(i * K, (i + 1) * K), 1);
    values.push({ imageId: matrix.imageIds[i]!, value: scale.classes[label]!, extra });
  }
  if (candidates === 0) notes.push(`Every image with a vector in embedding run ${matrix.runId} is rated: there is nothing to pseudo-label.`);
  if (unreachable) notes.push(`${unreachable} unrated images sit in parts of the ${o.k}-NN graph with no rated image and got no label; a larger --k connects more.`);
  const missing = consensus.size - labelled;
  if (missing > 0) notes.push(`${missing} rated images have no vector in embedding run ${matrix.runId} and were not used.`);
  return {
    sourceRunId: matrix.runId,
    params: { method: 'propagation', k: o.k, ...propagation },
    values,
    report: {
      embeddingRun: matrix.runId,
      model: matrix.model,
      scoreRun: null,
      labelled,
      candidates,
      pseudoLabelled: candidates - unreachable,
      unreachable,
      belowThreshold,
      perClass: scale.classes.map((c, k) => ({ class: c, labelled: counts[k]!, pseudoLabelled: pseudoCounts[k]! })),
      holdout,
      propagation: { iterations: full.iterations, residual: full.residual },
      notes,
    },
  };
}

function byThreshold(db: LibraryDb, scale: OrdinalScale, consensus: Map<number, number>, o: ReturnType<typeof checkOptions>, options: PseudoLabelOptions): MethodResult {
  const K = scale.classes.length;
  const source = readClassProbabilities(db, options.model!);
  const M = source.labels.length;
  // Each model class must stand for one class of the rating scale, or its prediction is not a rating.
  const toScale = source.values?.map((v) => scale.classes.indexOf(v)) ?? null;
  if (!toScale || toScale.some((k) => k < 0)) {
    throw new Error(
      `The classes of ${source.model.name} (${source.values ? `values ${source.values.join(', ')}` : `labels ${source.labels.join(', ')}`}) are not classes of the rating scale ` +
        `${scale.min}..${scale.max}. Set outputs.score.values in its card to the rating each class stands for (\`miru models add --card\`).`,
    );
  }
  const n = source.imageIds.length;
  const predicted = new Int32Array(n);
  const confidence = new Float32Array(n);
  const truth = new Int32Array(n).fill(-1);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let m = 1; m < M; m++) if (source.probs[i * M + m]! > source.probs[i * M + best]!) best = m;
    predicted[i] = toScale[best]!;
    confidence[i] = source.probs[i * M + best]!;
    truth[i] = consensus.get(source.imageIds[i]!) ?? -1;
  }
  const counts = classCountsOf(truth, K);
  const labelled = counts.reduce((a, b) => a + b, 0);
  const notes: string[] = [];
  let holdout: HoldoutCheck | null = null;
  if (o.holdout > 0) {
    if (labelled === 0) notes.push(`No rated image has a score from ${source.model.name}'s run ${source.runId}: the held-out check was skipped.`);
    else {
      // The model was not trained here, so hiding changes nothing it predicts: the check is its accuracy on a
      // sample of the rated images the same size as propagation's.
      const hidden = stratifiedHoldout(truth, K, o.holdout, o.seed);
      const rows = Array.from(hidden.keys()).filter((i) => hidden[i]);
      holdout = scoreHoldout(
        rows.map((i) => truth[i]!),
        rows.map((i) => predicted[i]!),
        rows.map((i) => confidence[i]!),
        scale.classes,
        { fraction: o.holdout, seed: o.seed, threshold: o.threshold },
      );
      if (holdout.hidden === 0) notes.push('Too few rated images per class to hide any: the held-out check was skipped.');
    }
  }
  const values: AnalysisValue[] = [];
  const pseudoCounts = new Array<number>(K).fill(0);
  let candidates = 0;
  let belowThreshold = 0;
  for (let i = 0; i < n; i++) {
    if (truth[i]! >= 0) continue;
    candidates++;
    if (confidence[i]! < o.threshold) {
      belowThreshold++;
      continue;
    }
    pseudoCounts[predicted[i]!]!++;
    const extra = new Float32Array(1 + K);
    extra[0] = confidence[i]!;
    for (let m = 0; m < M; m++) extra[1 + toScale[m]!]! += source.probs[i * M + m]!;
    values.push({ imageId: source.imageIds[i]!, value: scale.classes[predicted[i]!]!, extra });
  }
  if (candidates === 0) notes.push(`Every image ${source.model.name} scored is rated: there is nothing to pseudo-label.`);
  return {
    sourceRunId: source.runId,
    params: { method: 'threshold', model: source.model.name, threshold: o.threshold },
    values,
    report: {
      embeddingRun: null,
      model: source.model.name,
      scoreRun: source.runId,
      labelled,
      candidates,
      pseudoLabelled: values.length,
      unreachable: 0,
      belowThreshold,
      perClass: scale.classes.map((c, k) => ({ class: c, labelled: counts[k]!, pseudoLabelled: pseudoCounts[k]! })),
      holdout,
      propagation: null,
      notes,
    },
  };
}
