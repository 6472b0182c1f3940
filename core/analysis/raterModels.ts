// Per-rater models (issue 6, "Raters"): one probe head per rater (or per rater group) with enough ratings, trained
// on an embedding to predict that rater's own ratings. Each model's cross-validated Spearman says how predictable
// the rater is from the image alone; their predictions for the whole library say where raters would disagree,
// even on images nobody rated. The per-image spread of those predictions is a robustness signal: an image the
// rater models agree on is a safe training example whatever the population's taste; one they split on is not.
import type { LibraryDb } from '../library/openLibrary.js';
import { listRaterGroups } from '../library/raterGroups.js';
import { saveAnalysis } from './analysisStore.js';
import { loadEmbeddings } from './embeddingMatrix.js';
import { imagePaths } from './neighbors.js';
import { stratifiedFolds } from './probeHeads.js';
import { crossValidate, fitAndPredictOn, foldMetrics, loadLabelTargets, type HeadSettings, type ProbeData, type ProbeTarget } from './probeLabels.js';
import { summarizeFolds, type MetricInterval } from './probeMetrics.js';

export type RaterModelHead = 'ridge' | 'ordinal';

export interface RaterModelsOptions {
  /** Embedding run id or model name. */
  embedding: string;
  by?: 'rater' | 'cluster';
  /** Raters (groups) with fewer ratings on embedded images get no model. Default 30. */
  minRatings?: number;
  head?: RaterModelHead;
  folds?: number;
  seed?: number;
  alpha?: number | 'auto';
  l2?: number;
  /** How many most-disputed images to list. Default 20. */
  disagreements?: number;
  save?: boolean;
}

export interface RaterModelSummary {
  name: string;
  /** Raters behind the model (1 for a rater). */
  raters: number;
  /** Images with a rating from them and a vector. */
  ratings: number;
  spearman: MetricInterval;
  mae: MetricInterval;
}

export interface RaterModelsResult {
  run: number;
  model: string;
  dim: number;
  by: 'rater' | 'cluster';
  head: RaterModelHead;
  minRatings: number;
  folds: number;
  seed: number;
  /** Library images predicted (every image with a vector in the run). */
  images: number;
  /** In this order in each stored value's extra. */
  models: RaterModelSummary[];
  skipped: { name: string; ratings: number; reason: string }[];
  disagreements: { id: number; path: string; disagreement: number; mean: number; predictions: Record<string, number> }[];
  analysisId: number | null;
  notes: string[];
}

function unitsOf(db: LibraryDb, by: 'rater' | 'cluster'): { name: string; target: ProbeTarget }[] {
  if (by === 'rater') {
    const names = db.prepare<[], string>('SELECT name FROM raters r WHERE EXISTS (SELECT 1 FROM ratings x WHERE x.rater_id = r.id) ORDER BY name').pluck().all();
    if (names.length === 0) throw new Error('This library has no ratings. Import them first: `miru ratings import ratings.csv --db D`.');
    return names.map((name) => ({ name, target: { kind: 'rater', rater: name } }));
  }
  const groups = listRaterGroups(db).groups;
  if (groups.length === 0) throw new Error('This library has no rater groups. Cluster the raters with `miru raters --save-groups`, or define groups with `miru raters groups --set groups.csv`.');
  return groups.map((g) => ({ name: g.group, target: { kind: 'cluster', group: g.group } }));
}

export function raterModels(db: LibraryDb, options: RaterModelsOptions): RaterModelsResult {
  const by = options.by ?? 'rater';
  if (by !== 'rater' && by !== 'cluster') throw new Error(`--by must be rater or cluster (got ${JSON.stringify(by)}).`);
  const head = options.head ?? 'ridge';
  if (head !== 'ridge' && head !== 'ordinal') throw new Error(`--head must be ridge or ordinal (got ${JSON.stringify(head)}).`);
  const folds = options.folds ?? 5;
  if (!Number.isInteger(folds) || folds < 2) throw new Error(`--folds must be a whole number of at least 2 (got ${folds}).`);
  const minRatings = options.minRatings ?? 30;
  // Every fold's training part must leave ridge's inner alpha search (3 folds of 2) something to work with.
  const floor = Math.max(10, 2 * folds);
  if (!Number.isInteger(minRatings) || minRatings < floor) throw new Error(`--min-ratings must be a whole number of at least ${floor} for ${folds}-fold cross-validation (got ${minRatings}).`);
  const seed = options.seed ?? 1;
  const settings: HeadSettings = { alpha: options.alpha ?? 'auto', l2: options.l2 ?? 1, k: 10, seed };

  const matrix = loadEmbeddings(db, options.embedding);
  const rowOf = new Map<number, number>();
  matrix.imageIds.forEach((id, row) => rowOf.set(id, row));
  const everyRow = Int32Array.from({ length: matrix.imageIds.length }, (_, i) => i);
  const notes: string[] = [];
  const models: RaterModelSummary[] = [];
  const predictions: Float64Array[] = [];
  const skipped: RaterModelsResult['skipped'] = [];

  for (const unit of unitsOf(db, by)) {
    const labels = loadLabelTargets(db, unit.target);
    const k = labels.scale.classes.length;
    const kept = labels.imageIds.map((id, i) => [rowOf.get(id), i] as const).filter((p): p is readonly [number, number] => p[0] !== undefined);
    if (kept.length < minRatings) {
      skipped.push({ name: unit.name, ratings: kept.length, reason: `${kept.length} rating(s) on embedded images, fewer than --min-ratings ${minRatings}` });
      continue;
    }
    const vectors = new Float32Array(kept.length * matrix.dim);
    kept.forEach(([row], r) => vectors.set(matrix.vectors.subarray(row * matrix.dim, (row + 1) * matrix.dim), r * matrix.dim));
    const data: ProbeData = {
      vectors,
      dim: matrix.dim,
      target: Float64Array.from(kept, ([, i]) => labels.mean[i]!),
      classIndex: Int32Array.from(kept, ([, i]) => labels.classIndex[i]!),
      classes: labels.scale.classes,
    };
    if (data.target.every((v) => v === data.target[0])) {
      skipped.push({ name: unit.name, ratings: kept.length, reason: `gives every image the same rating (${data.target[0]}): nothing to model` });
      continue;
    }
    const targetDistribution = new Float64Array(kept.length * k);
    kept.forEach(([, i], r) => {
      let total = 0;
      for (let c = 0; c < k; c++) total += labels.histogram[i * k + c]!;
      for (let c = 0; c < k; c++) targetDistribution[r * k + c] = labels.histogram[i * k + c]! / total;
    });
    const assignment = stratifiedFolds(data.classIndex, folds, seed);
    const oof = crossValidate(head, data, assignment, folds, settings);
    const quality = summarizeFolds(foldMetrics(oof, data, targetDistribution, assignment, folds));
    const all = Int32Array.from({ length: kept.length }, (_, i) => i);
    const library = fitAndPredictOn(head, data, all, { vectors: matrix.vectors, rows: everyRow }, settings, seed);
    models.push({ name: unit.name, raters: labels.raters, ratings: kept.length, spearman: quality.spearman, mae: quality.mae });
    predictions.push(library.value);
  }

  if (models.length < 2) {
    const best = [...skipped].sort((a, b) => b.ratings - a.ratings)[0];
    throw new Error(
      `Only ${models.length} ${by === 'rater' ? 'rater' : 'rater group'}${models.length === 1 ? ' has' : 's have'} at least ${minRatings} ratings on images embedded by run ${matrix.runId}; comparing models needs two.` +
        (best ? ` The next one, ${best.name}, has ${best.ratings}: lower --min-ratings${by === 'rater' ? ' or use --by cluster' : ''}.` : ''),
    );
  }

  // Disagreement per image: the population standard deviation of the models' predictions.
  const n = matrix.imageIds.length;
  const mean = new Float64Array(n);
  const disagreement = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (const p of predictions) s += p[i]!;
    const m = s / predictions.length;
    let v = 0;
    for (const p of predictions) v += (p[i]! - m) ** 2;
    mean[i] = m;
    disagreement[i] = Math.sqrt(v / predictions.length);
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => disagreement[b]! - disagreement[a]! || matrix.imageIds[a]! - matrix.imageIds[b]!);
  const top = order.slice(0, options.disagreements ?? 20);
  const paths = imagePaths(db, top.map((i) => matrix.imageIds[i]!));
  const result: RaterModelsResult = {
    run: matrix.runId,
    model: matrix.model,
    dim: matrix.dim,
    by,
    head,
    minRatings,
    folds,
    seed,
    images: n,
    models,
    skipped,
    disagreements: top.map((i) => ({
      id: matrix.imageIds[i]!,
      path: paths.get(matrix.imageIds[i]!) ?? '',
      disagreement: disagreement[i]!,
      mean: mean[i]!,
      predictions: Object.fromEntries(models.map((m, j) => [m.name, predictions[j]![i]!])),
    })),
    analysisId: null,
    notes,
  };
  if (skipped.length) notes.push(`${skipped.length} ${by === 'rater' ? 'rater(s)' : 'group(s)'} got no model (see skipped).`);

  if (options.save !== false) {
    result.analysisId = saveAnalysis(db, {
      kind: 'rater-models',
      sourceRunId: matrix.runId,
      params: { by, head, minRatings, folds, seed, ...(head === 'ridge' ? { alpha: settings.alpha } : { l2: settings.l2 }) },
      summary: {
        model: matrix.model,
        models: models.map((m) => ({ name: m.name, raters: m.raters, ratings: m.ratings, spearman: m.spearman.mean })),
        value: "population standard deviation of the rater models' predictions (rating scale)",
        extra: 'each rater model\'s prediction, in the order of summary.models',
      },
      values: Array.from(matrix.imageIds, (imageId, i) => ({ imageId, value: disagreement[i]!, extra: Float32Array.from(predictions, (p) => p[i]!) })),
    });
  }
  return result;
}
