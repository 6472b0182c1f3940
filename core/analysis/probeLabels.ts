// `miru probe-labels`: which backbone's embedding carries the raters' judgement best (issue 6, "Probes across
// backbones and pre-training"). For each embedding run and head (ridge, multinomial logistic, ordinal logistic,
// kNN) a k-fold cross-validation predicts the target from the embedding; every backbone sees the same images and
// the same folds, so differences are the backbones', not the splits'. Reported per backbone and head: Spearman,
// Pearson, quadratic weighted kappa, accuracy, MAE and EMD with 95% t-intervals over folds; a learning curve
// (training folds subsampled to each label count, same test folds); the images the backbones disagree on most;
// and the cleaning experiment (train with and without flagged images, score on all, clean and flagged test images).
import type { LibraryDb } from '../library/openLibrary.js';
import { raterIdsOfGroup } from '../library/raterGroups.js';
import { listTags } from '../library/tags.js';
import { SeededRandom } from '../synth/random.js';
import { getAnalysis, listAnalyses, readAnalysisValues, saveAnalysis, type AnalysisRecord } from './analysisStore.js';
import { loadEmbeddings, resolveEmbeddingRun, type EmbeddingMatrix } from './embeddingMatrix.js';
import { imagePaths } from './neighbors.js';
import {
  chooseRidgeAlpha,
  fitLogistic,
  fitOrdinal,
  fitRidge,
  knnClassProba,
  knnRegress,
  predictLogisticProba,
  predictOrdinalProba,
  predictRidge,
  probeNeighbours,
  PROBE_HEADS,
  splitFold,
  stratifiedFolds,
  type ProbeHeadName,
  type Rows,
} from './probeHeads.js';
import { foldInterval, probeMetrics, summarizeFolds, type ProbeMetricValues } from './probeMetrics.js';
import { ordinalScale, type OrdinalScale } from './softLabels.js';
import type { ProbeLabelsReport, ProbeMetricSet } from '../api/types/probeReport.js';

// ---------------------------------------------------------------------------------------------------------------
// Targets

export type ProbeTarget = { kind: 'consensus' } | { kind: 'rater'; rater: string } | { kind: 'cluster'; group: string };

/** "consensus", "rater:NAME" or "cluster:GROUP". */
export function parseProbeTarget(text: string): ProbeTarget {
  const t = text.trim();
  if (t === 'consensus') return { kind: 'consensus' };
  const m = /^(rater|cluster):(.+)$/.exec(t);
  if (!m) throw new Error(`--target ${JSON.stringify(text)} is not one of consensus, rater:NAME, cluster:GROUP.`);
  return m[1] === 'rater' ? { kind: 'rater', rater: m[2]! } : { kind: 'cluster', group: m[2]! };
}

export function targetKey(target: ProbeTarget): string {
  return target.kind === 'consensus' ? 'consensus' : target.kind === 'rater' ? `rater:${target.rater}` : `cluster:${target.group}`;
}

/** Per-image labels of a target: the mean rating (regression), its nearest class, and the ratings' histogram. */
export interface LabelTargets {
  target: ProbeTarget;
  label: string;
  raters: number;
  scale: OrdinalScale;
  /** Ascending library image ids. */
  imageIds: number[];
  mean: Float64Array;
  /** Index into scale.classes of the class nearest the mean. */
  classIndex: Int32Array;
  /** n x classes: how many of the chosen ratings fell in each class (ratings rounded to the nearest class). */
  histogram: Float64Array;
}

function nearestClass(value: number, scale: OrdinalScale): number {
  return Math.min(scale.classes.length - 1, Math.max(0, Math.round(value - scale.min)));
}

/** Rater ids of a target (null: every rater); an unknown rater or group is an error listing the known ones. */
export function targetRaterIds(db: LibraryDb, target: ProbeTarget): number[] | null {
  if (target.kind === 'consensus') return null;
  if (target.kind === 'cluster') return raterIdsOfGroup(db, target.group);
  const id = db.prepare<[string], number>('SELECT id FROM raters WHERE name = ?').pluck().get(target.rater);
  if (id === undefined) {
    const names = db.prepare<[], string>('SELECT name FROM raters ORDER BY name LIMIT 21').pluck().all();
    const count = db.prepare<[], number>('SELECT count(*) FROM raters').pluck().get() ?? 0;
    throw new Error(
      count === 0
        ? `Unknown rater ${JSON.stringify(target.rater)}: this library has no raters. Import ratings first (\`miru ratings import\`).`
        : `Unknown rater ${JSON.stringify(target.rater)}. Raters: ${names.slice(0, 20).join(', ')}${count > 20 ? `, ... (${count} in all)` : ''}.`,
    );
  }
  return [id];
}

export function loadLabelTargets(db: LibraryDb, target: ProbeTarget): LabelTargets {
  const raterIds = targetRaterIds(db, target);
  const scale = ordinalScale(db);
  const where = raterIds ? `AND r.rater_id IN (${raterIds.map(() => '?').join(',')})` : '';
  const rows = db
    .prepare<number[], { image_id: number; value: number }>(`SELECT r.image_id, r.value FROM ratings r JOIN images i ON i.id = r.image_id WHERE i.status = 'ok' ${where} ORDER BY r.image_id`)
    .all(...(raterIds ?? []));
  const what = target.kind === 'consensus' ? 'any rater' : target.kind === 'rater' ? `rater ${target.rater}` : `rater group ${target.group}`;
  if (rows.length === 0) throw new Error(`No indexed image has a rating from ${what}. Import ratings with \`miru ratings import\`.`);
  const k = scale.classes.length;
  const imageIds: number[] = [];
  const sums: number[] = [];
  const counts: number[] = [];
  const hist: number[] = [];
  for (const row of rows) {
    if (imageIds[imageIds.length - 1] !== row.image_id) {
      imageIds.push(row.image_id);
      sums.push(0);
      counts.push(0);
      for (let c = 0; c < k; c++) hist.push(0);
    }
    const i = imageIds.length - 1;
    sums[i]! += row.value;
    counts[i]! += 1;
    hist[i * k + nearestClass(row.value, scale)]! += 1;
  }
  const mean = Float64Array.from(sums, (s, i) => s / counts[i]!);
  const raterCount = raterIds ? raterIds.length : (db.prepare<[], number>('SELECT count(DISTINCT rater_id) FROM ratings').pluck().get() ?? 0);
  const label =
    target.kind === 'consensus'
      ? `mean rating of all ${raterCount} raters`
      : target.kind === 'rater'
        ? `ratings of rater ${target.rater}`
        : `mean rating of rater group ${target.group} (${raterCount} raters)`;
  return {
    target,
    label,
    raters: raterCount,
    scale,
    imageIds,
    mean,
    classIndex: Int32Array.from(mean, (v) => nearestClass(v, scale)),
    histogram: Float64Array.from(hist),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Heads over folds

export interface HeadSettings {
  /** Ridge penalty; 'auto' picks it per training fold by inner 3-fold cross-validation. */
  alpha: number | 'auto';
  /** L2 penalty of the logistic and ordinal heads (scikit-learn's 1 / C). */
  l2: number;
  /** Neighbours of the kNN head. */
  k: number;
  seed: number;
}

/** A head's predictions for some rows: on the rating scale, as a class, and as a distribution over the classes. */
export interface HeadPredictions {
  value: Float64Array;
  classIndex: Int32Array;
  /** rows x classes. */
  distribution: Float64Array;
}

/** The labelled data a head trains and predicts on: rows of an embedding matrix with their targets. */
export interface ProbeData {
  vectors: Float32Array;
  dim: number;
  /** Per row: the regression target on the rating scale. */
  target: Float64Array;
  /** Per row: the class index (0..classes-1). */
  classIndex: Int32Array;
  /** The class values (the rating scale). */
  classes: readonly number[];
}

/** Spreads a value on the rating scale over its two neighbouring classes (a ridge prediction as a distribution). */
function valueDistribution(value: number, classes: readonly number[], out: Float64Array, offset: number): void {
  const k = classes.length;
  const position = Math.min(k - 1, Math.max(0, value - classes[0]!));
  const lower = Math.floor(position);
  const frac = position - lower;
  out[offset + lower] = 1 - frac;
  if (frac > 0) out[offset + lower + 1] = frac;
}

function argmax(values: Float64Array, offset: number, k: number): number {
  let best = 0;
  for (let c = 1; c < k; c++) if (values[offset + c]! > values[offset + best]!) best = c;
  return best;
}

/** Trains one head on the train rows and predicts the test rows; returns the ridge alpha where it chose one. */
export function fitAndPredict(head: ProbeHeadName, data: ProbeData, train: Rows, test: Rows, settings: HeadSettings, foldSeed: number): HeadPredictions & { alpha?: number } {
  return fitAndPredictOn(head, data, train, { vectors: data.vectors, rows: test }, settings, foldSeed);
}

/** As fitAndPredict, but predicts rows of another matrix (e.g. every image of the library). */
export function fitAndPredictOn(
  head: ProbeHeadName,
  data: ProbeData,
  train: Rows,
  query: { vectors: Float32Array; rows: Rows },
  settings: HeadSettings,
  foldSeed: number,
): HeadPredictions & { alpha?: number } {
  const k = data.classes.length;
  const m = query.rows.length;
  const value = new Float64Array(m);
  const classIndex = new Int32Array(m);
  let distribution: Float64Array = new Float64Array(m * k);
  let alpha: number | undefined;
  if (head === 'ridge') {
    alpha = settings.alpha === 'auto' ? chooseRidgeAlpha(data.vectors, data.dim, train, data.target, { seed: foldSeed }).alpha : settings.alpha;
    const model = fitRidge(data.vectors, data.dim, train, data.target, alpha);
    value.set(predictRidge(model, query.vectors, data.dim, query.rows));
    for (let r = 0; r < m; r++) {
      valueDistribution(value[r]!, data.classes, distribution, r * k);
      classIndex[r] = Math.min(k - 1, Math.max(0, Math.round(value[r]! - data.classes[0]!)));
    }
    return { value, classIndex, distribution, alpha };
  }
  if (head === 'knn') {
    const neighbours = probeNeighbours(data.vectors, data.dim, train, query.rows, settings.k, query.vectors);
    const trainTargets = Float64Array.from(train, (row) => data.target[row]!);
    const trainLabels = Int32Array.from(train, (row) => data.classIndex[row]!);
    value.set(knnRegress(neighbours, trainTargets, 'distance'));
    distribution = knnClassProba(neighbours, trainLabels, k, 'distance');
  } else {
    const options = { l2: settings.l2 };
    distribution =
      head === 'logistic'
        ? predictLogisticProba(fitLogistic(data.vectors, data.dim, train, data.classIndex, k, options), query.vectors, data.dim, query.rows)
        : predictOrdinalProba(fitOrdinal(data.vectors, data.dim, train, data.classIndex, k, options), query.vectors, data.dim, query.rows);
    for (let r = 0; r < m; r++) {
      let s = 0;
      for (let c = 0; c < k; c++) s += distribution[r * k + c]! * data.classes[c]!;
      value[r] = s;
    }
  }
  for (let r = 0; r < m; r++) classIndex[r] = argmax(distribution, r * k, k);
  return { value, classIndex, distribution };
}

/** Out-of-fold predictions for every row (rows outside every test fold keep NaN), plus per-fold ridge alphas. */
export interface OutOfFold extends HeadPredictions {
  alphas: number[];
}

/**
 * Cross-validated predictions of one head: each fold trains on the other folds' rows that `trainable` allows
 * (all when it is omitted) and predicts its own rows.
 */
export function crossValidate(head: ProbeHeadName, data: ProbeData, assignment: Int32Array, folds: number, settings: HeadSettings, trainable?: (row: number) => boolean): OutOfFold {
  const n = assignment.length;
  const k = data.classes.length;
  const out: OutOfFold = { value: new Float64Array(n).fill(NaN), classIndex: new Int32Array(n), distribution: new Float64Array(n * k), alphas: [] };
  for (let f = 0; f < folds; f++) {
    const split = splitFold(assignment, f);
    const train = trainable ? split.train.filter(trainable) : split.train;
    if (train.length < 2) throw new Error(`Fold ${f + 1} of ${folds} has ${train.length} training image(s) left; the ${head} head needs at least 2. Exclude fewer images or add labels.`);
    const p = fitAndPredict(head, data, train, split.test, settings, SeededRandom.derive(settings.seed, 'fold', f).nextUint32());
    if (p.alpha !== undefined) out.alphas.push(p.alpha);
    split.test.forEach((row, r) => {
      out.value[row] = p.value[r]!;
      out.classIndex[row] = p.classIndex[r]!;
      out.distribution.set(p.distribution.subarray(r * k, (r + 1) * k), row * k);
    });
  }
  return out;
}

/** Per-fold metrics of out-of-fold predictions on the test rows that `include` keeps. */
export function foldMetrics(predictions: HeadPredictions, data: ProbeData, targetDistribution: Float64Array, assignment: Int32Array, folds: number, include?: (row: number) => boolean): ProbeMetricValues[] {
  const k = data.classes.length;
  const perFold: ProbeMetricValues[] = [];
  for (let f = 0; f < folds; f++) {
    const rows: number[] = [];
    for (let i = 0; i < assignment.length; i++) if (assignment[i] === f && (!include || include(i))) rows.push(i);
    const pick = <T extends Float64Array | Int32Array>(src: T, width = 1) => {
      const out = new (src.constructor as new (n: number) => T)(rows.length * width);
      rows.forEach((row, r) => out.set(src.subarray(row * width, (row + 1) * width), r * width));
      return out;
    };
    perFold.push(
      probeMetrics({
        predicted: pick(predictions.value),
        target: pick(data.target),
        predictedClass: pick(predictions.classIndex),
        targetClass: pick(data.classIndex),
        classes: k,
        predictedDistribution: pick(predictions.distribution, k),
        targetDistribution: pick(targetDistribution, k),
      }),
    );
  }
  return perFold;
}

// ---------------------------------------------------------------------------------------------------------------
// Exclusions for the cleaning experiment

export interface ExclusionOptions {
  tags?: string[];
  analyses?: number[];
  /** For analyses holding scores rather than 0/1 flags: exclude this fraction with the highest values. */
  top?: number;
}

/**
 * Where an analysis keeps its per-image issue flag inside `extra`: label issues name their extra columns in the
 * summary ('isIssue' first), image issues (blurry, dark, ...) keep the flag as their only extra value, next to a
 * score. null: the analysis has no flag column (its value is the flag or a score).
 */
function flagColumn(analysis: AnalysisRecord): number | null {
  const columns = analysis.summary.extra;
  if (Array.isArray(columns)) {
    const at = columns.indexOf('isIssue');
    if (at >= 0) return at;
  }
  return analysis.kind === 'image-issues' ? 0 : null;
}

/** Image ids excluded by tags and stored flags, with what each source contributed. */
export function loadExclusions(db: LibraryDb, options: ExclusionOptions): { ids: Set<number>; sources: { source: string; images: number }[] } {
  const ids = new Set<number>();
  const sources: { source: string; images: number }[] = [];
  for (const tag of options.tags ?? []) {
    const tagged = db.prepare<[string], number>('SELECT image_id FROM tags WHERE tag = ?').pluck().all(tag);
    if (tagged.length === 0) {
      const known = listTags(db).map((t) => `${t.tag} (${t.images})`);
      throw new Error(`No image is tagged ${JSON.stringify(tag)}. ${known.length ? `Tags in this library: ${known.slice(0, 20).join(', ')}.` : 'This library has no tags yet.'} Tag images with \`miru tag add\`.`);
    }
    tagged.forEach((id) => ids.add(id));
    sources.push({ source: `tag ${tag}`, images: tagged.length });
  }
  for (const id of options.analyses ?? []) {
    const analysis = getAnalysis(db, id);
    if (!analysis) {
      const known = listAnalyses(db).map((a) => `${a.id} (${a.kind}${a.sourceRunId !== null ? `, run ${a.sourceRunId}` : ''})`);
      throw new Error(`No stored analysis ${id}. ${known.length ? `Stored analyses: ${known.slice(0, 20).join(', ')}.` : 'This library has none yet.'}`);
    }
    const values = readAnalysisValues(db, id);
    const flagAt = flagColumn(analysis);
    let flagged: number[];
    let how: string;
    if (flagAt !== null) {
      flagged = values.filter((v) => v.extra && v.extra[flagAt] === 1).map((v) => v.imageId);
      how = 'flagged';
    } else if (values.every((v) => v.value === null || v.value === 0 || v.value === 1)) {
      flagged = values.filter((v) => v.value === 1).map((v) => v.imageId);
      how = 'flags';
    } else {
      if (options.top === undefined) {
        throw new Error(`Analysis ${id} (${analysis.kind}) holds scores, not 0/1 flags. Add --exclude-top FRACTION (e.g. 0.05) to exclude the images with the highest values.`);
      }
      const scored = values.filter((v): v is typeof v & { value: number } => v.value !== null);
      flagged = scored
        .sort((x, y) => y.value - x.value || x.imageId - y.imageId)
        .slice(0, Math.round(options.top * scored.length))
        .map((v) => v.imageId);
      how = `top ${options.top}`;
    }
    flagged.forEach((image) => ids.add(image));
    sources.push({ source: `analysis ${id} (${analysis.kind}, ${how})`, images: flagged.length });
  }
  return { ids, sources };
}

// ---------------------------------------------------------------------------------------------------------------
// The experiment

export interface ProbeLabelsOptions {
  /** Embedding run ids or model names; at least one. */
  embeddings: string[];
  target?: string;
  heads?: ProbeHeadName[];
  folds?: number;
  seed?: number;
  /** Label counts for the learning curve (training folds are subsampled to each). */
  learningCurve?: number[];
  exclude?: ExclusionOptions;
  alpha?: number | 'auto';
  l2?: number;
  k?: number;
  /** How many most-disputed images to list. Default 20. */
  disagreements?: number;
  /** Store the out-of-fold predictions as 'probe' analyses (default true). */
  save?: boolean;
}

type Metrics = ProbeMetricSet;

/** `miru probe-labels --json`; declared once, with the probe report the renderer reads. */
export type ProbeLabelsResult = ProbeLabelsReport;

function checkSettings(options: ProbeLabelsOptions): { heads: ProbeHeadName[]; folds: number; seed: number; settings: HeadSettings } {
  const heads = options.heads ?? [...PROBE_HEADS];
  if (heads.length === 0) throw new Error(`Name at least one head (--heads ${PROBE_HEADS.join(',')}).`);
  for (const h of heads) if (!PROBE_HEADS.includes(h)) throw new Error(`Unknown head ${JSON.stringify(h)}; heads are ${PROBE_HEADS.join(', ')}.`);
  const folds = options.folds ?? 5;
  if (!Number.isInteger(folds) || folds < 2) throw new Error(`--folds must be a whole number of at least 2 (got ${folds}).`);
  const seed = options.seed ?? 1;
  const alpha = options.alpha ?? 'auto';
  if (alpha !== 'auto' && !(alpha > 0)) throw new Error(`--alpha must be a positive number or auto (got ${alpha}).`);
  const l2 = options.l2 ?? 1;
  if (!(l2 > 0)) throw new Error(`--l2 must be a positive number (got ${l2}).`);
  const k = options.k ?? 10;
  if (!Number.isInteger(k) || k < 1) throw new Error(`--k must be a whole number of at least 1 (got ${k}).`);
  return { heads: [...new Set(heads)], folds, seed, settings: { alpha, l2, k, seed } };
}

/** Rows of `matrix` for the given image ids (all present). */
function rowsOf(matrix: EmbeddingMatrix, imageIds: readonly number[]): Float32Array {
  const rowOf = new Map<number, number>();
  matrix.imageIds.forEach((id, row) => rowOf.set(id, row));
  const out = new Float32Array(imageIds.length * matrix.dim);
  imageIds.forEach((id, r) => {
    const row = rowOf.get(id)!;
    out.set(matrix.vectors.subarray(row * matrix.dim, (row + 1) * matrix.dim), r * matrix.dim);
  });
  return out;
}

export function probeLabels(db: LibraryDb, options: ProbeLabelsOptions): ProbeLabelsResult {
  const { heads, folds, seed, settings } = checkSettings(options);
  const refs = options.embeddings.map((e) => e.trim()).filter(Boolean);
  if (refs.length === 0) throw new Error('Name the embedding runs to compare: --embeddings RUN1,RUN2 (run ids or model names; see `miru embed`).');
  const runs = refs.map((ref) => resolveEmbeddingRun(db, ref));
  const seen = new Set<number>();
  for (const [i, run] of runs.entries()) {
    if (seen.has(run.runId)) throw new Error(`--embeddings names run ${run.runId} (${run.model}) twice (as ${JSON.stringify(refs[i])}).`);
    seen.add(run.runId);
  }
  const target = parseProbeTarget(options.target ?? 'consensus');
  const labels = loadLabelTargets(db, target);
  const notes: string[] = [];

  // Every backbone is judged on the same images: those with a label and a vector in every run.
  const matrices = runs.map((run) => loadEmbeddings(db, run.runId, labels.imageIds));
  const common = new Set(labels.imageIds);
  for (const m of matrices) {
    const has = new Set(m.imageIds);
    for (const id of common) if (!has.has(id)) common.delete(id);
  }
  const labelRow = new Map(labels.imageIds.map((id, i) => [id, i]));
  const imageIds = labels.imageIds.filter((id) => common.has(id));
  const missingVectors = labels.imageIds.length - imageIds.length;
  if (missingVectors > 0) notes.push(`${missingVectors} labelled image(s) have no vector in every embedding run and were left out.`);
  if (imageIds.length === 0) throw new Error(`None of the ${labels.imageIds.length} labelled images has a vector in every chosen embedding run. Run \`miru embed\` for them first.`);
  const k = labels.scale.classes.length;
  const pickRows = (src: Float64Array | Int32Array, width = 1) => {
    const out = new (src.constructor as new (n: number) => Float64Array | Int32Array)(imageIds.length * width);
    imageIds.forEach((id, r) => out.set(src.subarray(labelRow.get(id)! * width, (labelRow.get(id)! + 1) * width), r * width));
    return out;
  };
  const targetValue = pickRows(labels.mean) as Float64Array;
  const classIndex = pickRows(labels.classIndex) as Int32Array;
  const histogram = pickRows(labels.histogram, k) as Float64Array;
  const targetDistribution = histogram.map((v, i) => {
    const row = Math.floor(i / k);
    let s = 0;
    for (let c = 0; c < k; c++) s += histogram[row * k + c]!;
    return v / s;
  });
  const first = targetValue[0]!;
  if (targetValue.every((v) => v === first)) {
    throw new Error(`The target (${labels.label}) is ${first} for every one of the ${imageIds.length} images: there is nothing to predict. Choose another --target.`);
  }
  const assignment = stratifiedFolds(classIndex, folds, seed);
  const n = imageIds.length;

  // Cleaning: which of these images are excluded.
  let excludedRow: Uint8Array | null = null;
  let exclusionSources: { source: string; images: number }[] = [];
  if (options.exclude && ((options.exclude.tags?.length ?? 0) > 0 || (options.exclude.analyses?.length ?? 0) > 0)) {
    const ex = loadExclusions(db, options.exclude);
    exclusionSources = ex.sources;
    excludedRow = Uint8Array.from(imageIds, (id) => (ex.ids.has(id) ? 1 : 0));
    const excludedCount = excludedRow.reduce((s, v) => s + v, 0);
    if (excludedCount === 0) throw new Error(`None of the ${n} labelled images is excluded by ${ex.sources.map((s) => s.source).join(', ')}: the cleaning experiment has nothing to compare.`);
    if (excludedCount === n) throw new Error(`Every labelled image is excluded by ${ex.sources.map((s) => s.source).join(', ')}: nothing is left to train on.`);
  }

  const sizes = [...new Set(options.learningCurve ?? [])].sort((a, b) => a - b);
  for (const s of sizes) if (!Number.isInteger(s) || s < 10) throw new Error(`--learning-curve label counts must be whole numbers of at least 10 (got ${s}).`);
  const smallestTrain = Math.min(...Array.from({ length: folds }, (_, f) => assignment.filter((a) => a !== f).length));
  const curveSizes = sizes.filter((s) => s <= smallestTrain);
  if (curveSizes.length < sizes.length) {
    notes.push(`Learning-curve sizes above ${smallestTrain} (the smallest training fold) were skipped: ${sizes.filter((s) => s > smallestTrain).join(', ')}.`);
  }

  const result: ProbeLabelsResult = {
    target: { key: targetKey(target), label: labels.label, raters: labels.raters, classes: labels.scale.classes, scaleSource: labels.scale.source },
    folds,
    seed,
    images: n,
    missingVectors,
    heads,
    settings: { alpha: settings.alpha, l2: settings.l2, k: settings.k },
    backbones: [],
    learningCurve: [],
    disagreements: [],
    notes,
  };
  const primary: Float64Array[] = [];
  const toSave: { runId: number; model: string; head: ProbeHeadName; oof: OutOfFold; metrics: Metrics }[] = [];
  const cleaningResults: NonNullable<ProbeLabelsResult['cleaning']>['results'] = [];
  const isClean = excludedRow ? (row: number) => excludedRow![row] === 0 : undefined;
  const isExcluded = excludedRow ? (row: number) => excludedRow![row] === 1 : undefined;

  for (const matrix of matrices) {
    const data: ProbeData = { vectors: rowsOf(matrix, imageIds), dim: matrix.dim, target: targetValue, classIndex, classes: labels.scale.classes };
    const backbone: ProbeLabelsResult['backbones'][number] = { run: matrix.runId, model: matrix.model, dim: matrix.dim, heads: [] };
    for (const head of heads) {
      const oof = crossValidate(head, data, assignment, folds, settings);
      const perFold = foldMetrics(oof, data, targetDistribution, assignment, folds);
      const metrics = summarizeFolds(perFold);
      backbone.heads.push({ head, metrics, perFold, ...(head === 'ridge' ? { alphas: oof.alphas } : {}), analysisId: null });
      toSave.push({ runId: matrix.runId, model: matrix.model, head, oof, metrics });
      if (head === heads[0]) primary.push(oof.value);

      for (const size of curveSizes) {
        const spearmans: (number | null)[] = [];
        for (let f = 0; f < folds; f++) {
          const { train, test } = splitFold(assignment, f);
          const subset = Int32Array.from(SeededRandom.derive(seed, 'curve', size, f).sample(Array.from(train), size)).sort();
          const p = fitAndPredict(head, data, subset, test, settings, SeededRandom.derive(seed, 'curve-fold', size, f).nextUint32());
          spearmans.push(probeMetrics({ predicted: p.value, target: Array.from(test, (r) => targetValue[r]!), predictedClass: p.classIndex, targetClass: Array.from(test, (r) => classIndex[r]!), classes: k }).spearman);
        }
        result.learningCurve.push({ run: matrix.runId, head, labels: size, spearman: foldInterval(spearmans) });
      }

      if (excludedRow) {
        const cleanOof = crossValidate(head, data, assignment, folds, settings, isClean);
        const on = (p: HeadPredictions) => ({
          allTest: summarizeFolds(foldMetrics(p, data, targetDistribution, assignment, folds)),
          cleanTest: summarizeFolds(foldMetrics(p, data, targetDistribution, assignment, folds, isClean)),
          excludedTest: summarizeFolds(foldMetrics(p, data, targetDistribution, assignment, folds, isExcluded)),
        });
        cleaningResults.push({ run: matrix.runId, model: matrix.model, head, trainedOnAll: on(oof), trainedOnClean: on(cleanOof) });
      }
    }
    result.backbones.push(backbone);
  }

  if (excludedRow) {
    const excluded = excludedRow.reduce((s, v) => s + v, 0);
    result.cleaning = { sources: exclusionSources, excluded, clean: n - excluded, results: cleaningResults };
  }

  // Where the backbones disagree: the spread (max - min) of the first head's out-of-fold predictions.
  if (matrices.length >= 2) {
    const spread = Array.from({ length: n }, (_, i) => {
      const values = primary.map((p) => p[i]!);
      return { row: i, spread: Math.max(...values) - Math.min(...values) };
    });
    spread.sort((a, b) => b.spread - a.spread || imageIds[a.row]! - imageIds[b.row]!);
    const top = spread.slice(0, options.disagreements ?? 20);
    const paths = imagePaths(db, top.map((t) => imageIds[t.row]!));
    result.disagreements = top.map((t) => ({
      id: imageIds[t.row]!,
      path: paths.get(imageIds[t.row]!) ?? '',
      target: targetValue[t.row]!,
      spread: t.spread,
      predictions: Object.fromEntries(matrices.map((m, b) => [String(m.runId), primary[b]![t.row]!])),
    }));
  } else {
    notes.push('Name two or more embedding runs to list the images the backbones disagree on.');
  }

  // All stored in one transaction: a failure leaves every earlier result of these recipes as it was.
  if (options.save !== false) {
    db.transaction(() => {
      for (const s of toSave) {
        const id = saveAnalysis(db, {
          kind: 'probe',
          sourceRunId: s.runId,
          params: { target: result.target.key, head: s.head, folds, seed, ...(s.head === 'ridge' ? { alpha: settings.alpha } : s.head === 'knn' ? { k: settings.k } : { l2: settings.l2 }) },
          summary: {
            model: s.model,
            target: result.target.label,
            classes: labels.scale.classes,
            metrics: s.metrics,
            value: 'out-of-fold prediction on the rating scale',
            extra: 'out-of-fold class distribution, one value per class in the order of classes',
          },
          values: imageIds.map((imageId, r) => ({ imageId, value: s.oof.value[r]!, extra: Float32Array.from(s.oof.distribution.subarray(r * k, (r + 1) * k)) })),
        });
        result.backbones.find((b) => b.run === s.runId)!.heads.find((h) => h.head === s.head)!.analysisId = id;
      }
    })();
  }
  return result;
}
