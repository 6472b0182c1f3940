// Soft labels: a distribution over the ordinal classes per image instead of one hard label, either from the
// raters (the histogram of their ratings, optionally with additive smoothing) or from a model's stored class
// probabilities (sharpened or flattened by a temperature, optionally cut to the k most likely classes). Training
// on them keeps the raters' disagreement, which a mean rating throws away. Stored as analyses of kind
// 'soft-labels' (value = the expected class value, extra = the distribution) for the export and the UI.
import type { LibraryDb } from '../library/openLibrary.js';
import { getSetting } from '../library/settings.js';
import { parseScale } from '../library/ratingsImport.js';
import { getModel, type StoredModel } from '../models/modelRegistry.js';
import { latestRun } from '../models/runs.js';
import { saveAnalysis } from './analysisStore.js';

/** The whole-number classes ratings are counted in: the library's stored scale, else the range the ratings use. */
export interface OrdinalScale {
  min: number;
  max: number;
  classes: number[];
  source: 'stored' | 'observed';
}

const MAX_CLASSES = 1001;

export function ordinalScale(db: LibraryDb): OrdinalScale {
  const stored = getSetting(db, 'rating_scale');
  let min: number;
  let max: number;
  let source: OrdinalScale['source'];
  if (stored) {
    ({ min, max } = parseScale(stored));
    if (!Number.isInteger(min) || !Number.isInteger(max)) {
      throw new Error(`The library's rating scale ${stored} does not run between whole numbers, so it has no ordinal classes. Re-import the ratings with --scale MIN:MAX of whole numbers.`);
    }
    source = 'stored';
  } else {
    const range = db.prepare<[], { lo: number | null; hi: number | null }>('SELECT min(value) AS lo, max(value) AS hi FROM ratings').get();
    if (!range || range.lo === null || range.hi === null) throw new Error('This library has no ratings. Import them first: `miru ratings import ratings.csv --db D --scale 1:5`.');
    min = Math.floor(range.lo);
    max = Math.ceil(range.hi);
    source = 'observed';
  }
  if (max - min + 1 > MAX_CLASSES) throw new Error(`The rating scale ${min}:${max} has ${max - min + 1} classes; ordinal analyses handle at most ${MAX_CLASSES}.`);
  return { min, max, classes: Array.from({ length: max - min + 1 }, (_, i) => min + i), source };
}

/** (count_k + a) / (n + K a): additive (Laplace, a = 1) smoothing; a = 0 gives the plain histogram. */
export function histogramDistribution(counts: ArrayLike<number>, smoothing = 0): Float64Array {
  if (!(smoothing >= 0) || !Number.isFinite(smoothing)) throw new Error(`--smoothing must be a number of at least 0 (got ${smoothing}).`);
  let total = 0;
  for (let k = 0; k < counts.length; k++) total += counts[k]!;
  const denominator = total + counts.length * smoothing;
  if (!(denominator > 0)) throw new Error('A histogram with no counts and no smoothing has no distribution.');
  return Float64Array.from(counts, (c) => (c + smoothing) / denominator);
}

/**
 * softmax(log p / T): T > 1 flattens, T < 1 sharpens, T = 1 keeps p. Computed in the log domain so a small T does
 * not underflow every class to 0; a class of probability 0 stays 0.
 */
export function applyTemperature(probs: ArrayLike<number>, temperature: number): Float64Array {
  if (!(temperature > 0) || !Number.isFinite(temperature)) throw new Error(`--temperature must be a positive number (got ${temperature}).`);
  const logits = Float64Array.from(probs, (p) => (p > 0 ? Math.log(p) / temperature : -Infinity));
  let max = -Infinity;
  for (const l of logits) max = Math.max(max, l);
  if (max === -Infinity) throw new Error('Every class has probability 0, so there is no distribution to rescale.');
  let sum = 0;
  const out = logits.map((l) => {
    const e = Math.exp(l - max);
    sum += e;
    return e;
  });
  return out.map((e) => e / sum);
}

/** Keeps the k most likely classes (ties to the lower class) and renormalises them to sum to 1. */
export function keepTopK(probs: ArrayLike<number>, k: number): Float64Array {
  if (!Number.isInteger(k) || k < 1) throw new Error(`--top-k must be a positive whole number (got ${k}).`);
  const order = Array.from({ length: probs.length }, (_, i) => i).sort((a, b) => probs[b]! - probs[a]! || a - b);
  const out = new Float64Array(probs.length);
  let kept = 0;
  for (const i of order.slice(0, k)) {
    out[i] = probs[i]!;
    kept += probs[i]!;
  }
  if (!(kept > 0)) throw new Error('The kept classes have no probability mass.');
  return out.map((p) => p / kept);
}

export interface SoftLabelSet {
  source: 'ratings' | 'model';
  /** Column names of the distribution: the scale's values ("1".."5") or the model card's labels. */
  classLabels: string[];
  /** Each class's numeric value, for the expected value; null when the classes are not numbers. */
  classValues: number[] | null;
  /** Ascending image ids; row i of `distributions` (classLabels.length values) belongs to imageIds[i]. */
  imageIds: Int32Array;
  distributions: Float32Array;
  /** The score run the probabilities came from (model source). */
  sourceRunId: number | null;
  /** The recipe, stored as the analysis parameters (the same recipe replaces an earlier result). */
  params: Record<string, unknown>;
  summary: Record<string, unknown>;
}

/**
 * Per rated image, the share of its ratings in each class of the scale (with `smoothing` added to every class's
 * count). Each rating must be one of the scale's whole-number classes: a histogram cannot place 3.5.
 */
export function softLabelsFromRatings(db: LibraryDb, options: { smoothing?: number } = {}): SoftLabelSet {
  const smoothing = options.smoothing ?? 0;
  histogramDistribution([1], smoothing); // checks the smoothing before any work
  const scale = ordinalScale(db);
  const K = scale.classes.length;
  const rows = db
    .prepare<[], { image_id: number; value: number; path: string; rater: string }>(
      `SELECT r.image_id, r.value, i.rel_path AS path, raters.name AS rater FROM ratings r
       JOIN images i ON i.id = r.image_id JOIN raters ON raters.id = r.rater_id
       WHERE i.status = 'ok' ORDER BY r.image_id`,
    )
    .iterate();
  const ids: number[] = [];
  const counts: number[][] = [];
  for (const row of rows) {
    const k = row.value - scale.min;
    if (!Number.isInteger(k) || k < 0 || k >= K) {
      throw new Error(
        `Soft labels count ratings per class of the scale ${scale.min}..${scale.max}, but rater ${JSON.stringify(row.rater)} gave ${row.path} ` +
          `the value ${row.value}, which is not one of them. Re-import whole-number ratings on the scale, or export --what consensus instead.`,
      );
    }
    if (ids[ids.length - 1] !== row.image_id) {
      ids.push(row.image_id);
      counts.push(new Array<number>(K).fill(0));
    }
    counts[counts.length - 1]![k]!++;
  }
  if (ids.length === 0) throw new Error('No indexed image has ratings. Import them with `miru ratings import FILE --db D`, or take soft labels from a model with --model NAME.');
  const distributions = new Float32Array(ids.length * K);
  counts.forEach((c, i) => distributions.set(histogramDistribution(c, smoothing), i * K));
  return {
    source: 'ratings',
    classLabels: scale.classes.map(String),
    classValues: scale.classes,
    imageIds: Int32Array.from(ids),
    distributions,
    sourceRunId: null,
    params: { source: 'ratings', smoothing },
    summary: { source: 'ratings', smoothing, scale: `${scale.min}:${scale.max}`, scaleSource: scale.source, images: ids.length },
  };
}

export interface ClassProbabilities {
  model: StoredModel;
  runId: number;
  labels: string[];
  /** The card's ordinal values (default 0..K-1 as the model's own expected score uses), else numeric labels, else null. */
  values: number[] | null;
  imageIds: Int32Array;
  /** n × K, each row renormalised to sum to 1. */
  probs: Float32Array;
}

/**
 * Every stored class-probability vector of a model's latest score run (ascending image ids). Refuses models
 * without class probabilities, runs that mix class counts, and vectors that are not probabilities.
 */
export function readClassProbabilities(db: LibraryDb, modelName: string): ClassProbabilities {
  const model = getModel(db, modelName);
  const spec = model.card.outputs.score;
  if (!spec || (spec.kind !== 'ordinal' && spec.kind !== 'classes')) {
    throw new Error(
      `Model ${JSON.stringify(model.name)} has no class probabilities (its card's score output is ${spec ? `of kind ${spec.kind}` : 'missing'}); ` +
        'soft labels and pseudo-labels need an ordinal or classes model.',
    );
  }
  const run = latestRun(db, model.id, 'score');
  if (!run) throw new Error(`Model ${JSON.stringify(model.name)} has no score run yet. Score the library first: \`miru score --db D --model ${model.name}\`.`);
  const rows = db
    .prepare<[number], { image_id: number; probs: Buffer | null; path: string }>(
      `SELECT s.image_id, s.probs, i.rel_path AS path FROM scores s JOIN images i ON i.id = s.image_id
       WHERE s.run_id = ? AND i.status = 'ok' ORDER BY s.image_id`,
    )
    .iterate(run.id);
  const ids: number[] = [];
  const chunks: Float32Array[] = [];
  let K = -1;
  for (const row of rows) {
    if (!row.probs) throw new Error(`Score run ${run.id} of ${model.name} stored no class probabilities for ${row.path}. Rescore it: \`miru score --db D --model ${model.name} --force\`.`);
    const p = new Float32Array(new Uint8Array(row.probs).buffer);
    if (K === -1) K = p.length;
    else if (p.length !== K) throw new Error(`Score run ${run.id} of ${model.name} holds ${p.length} class probabilities for ${row.path} but ${K} for others. Rescore with --force.`);
    let sum = 0;
    for (const v of p) {
      if (!(v >= 0) || !Number.isFinite(v)) throw new Error(`Score run ${run.id} of ${model.name}: ${row.path} has the class probability ${v}, which is not a probability. Check the card's activation and rescore.`);
      sum += v;
    }
    if (!(sum > 0)) throw new Error(`Score run ${run.id} of ${model.name}: the class probabilities of ${row.path} sum to 0. Check the card's activation and rescore.`);
    for (let k = 0; k < K; k++) p[k] = p[k]! / sum;
    ids.push(row.image_id);
    chunks.push(p);
  }
  if (ids.length === 0) throw new Error(`Score run ${run.id} of ${model.name} has no scores yet. Run \`miru score --db D --model ${model.name}\`.`);
  const labels = spec.labels && spec.labels.length === K ? [...spec.labels] : Array.from({ length: K }, (_, k) => String(k));
  const numericLabels = labels.every((l) => l.trim() !== '' && Number.isFinite(Number(l))) ? labels.map(Number) : null;
  const values = spec.values && spec.values.length === K ? [...spec.values] : spec.kind === 'ordinal' ? Array.from({ length: K }, (_, k) => k) : numericLabels;
  const probs = new Float32Array(ids.length * K);
  chunks.forEach((p, i) => probs.set(p, i * K));
  return { model, runId: run.id, labels, values, imageIds: Int32Array.from(ids), probs };
}

export interface ModelSoftLabelOptions {
  temperature?: number;
  /** Keep only the k most likely classes; unset keeps all. */
  topK?: number;
}

/** Per scored image, the model's class probabilities after the temperature and the top-k cut. */
export function softLabelsFromModel(db: LibraryDb, modelName: string, options: ModelSoftLabelOptions = {}): SoftLabelSet {
  const temperature = options.temperature ?? 1;
  applyTemperature([1], temperature); // checks the temperature before any work
  const source = readClassProbabilities(db, modelName);
  const K = source.labels.length;
  if (options.topK !== undefined && (!Number.isInteger(options.topK) || options.topK < 1 || options.topK > K)) {
    throw new Error(`--top-k must be a whole number from 1 to ${K}, the classes of ${source.model.name} (got ${options.topK}).`);
  }
  const distributions = new Float32Array(source.probs.length);
  for (let i = 0; i < source.imageIds.length; i++) {
    let p: Float64Array = applyTemperature(source.probs.subarray(i * K, (i + 1) * K), temperature);
    if (options.topK !== undefined) p = keepTopK(p, options.topK);
    distributions.set(p, i * K);
  }
  const topK = options.topK ?? null;
  return {
    source: 'model',
    classLabels: source.labels,
    classValues: source.values,
    imageIds: source.imageIds,
    distributions,
    sourceRunId: source.runId,
    params: { source: 'model', model: source.model.name, temperature, topK },
    summary: { source: 'model', model: source.model.name, run: source.runId, temperature, topK, images: source.imageIds.length },
  };
}

/** Σ value_k p_k, or null when the classes have no numeric values. */
export function expectedValue(distribution: ArrayLike<number>, values: readonly number[] | null): number | null {
  if (!values) return null;
  let sum = 0;
  for (let k = 0; k < values.length; k++) sum += values[k]! * distribution[k]!;
  return sum;
}

/** Stores the set as a 'soft-labels' analysis (replacing the same recipe's earlier result); returns its id. */
export function saveSoftLabels(db: LibraryDb, set: SoftLabelSet): number {
  const K = set.classLabels.length;
  return saveAnalysis(db, {
    kind: 'soft-labels',
    sourceRunId: set.sourceRunId,
    params: set.params,
    summary: { ...set.summary, extra: 'the distribution over the classes', classLabels: set.classLabels, classValues: set.classValues },
    values: (function* () {
      for (let i = 0; i < set.imageIds.length; i++) {
        const distribution = set.distributions.slice(i * K, (i + 1) * K);
        yield { imageId: set.imageIds[i]!, value: expectedValue(distribution, set.classValues), extra: distribution };
      }
    })(),
  });
}
