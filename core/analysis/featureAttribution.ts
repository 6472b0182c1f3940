// Feature attribution (issue 4): which interpretable features explain a model's scores or human ratings.
//
// Three views of the same question, each answering what the others cannot:
// 1. Standardized OLS coefficients with 95% confidence intervals (linearModel.ts): direction and size of each
//    feature's effect with the others held fixed, and how sure we are of it, assuming a linear relation.
// 2. Permutation importance of gradient-boosted trees (boostedTrees.ts), cross-fitted over k folds: the drop in
//    held-out R^2 when one feature's values are shuffled among the held-out images, averaged over seeded
//    repeats. It catches non-linear effects and interactions and needs no distributional assumption.
// 3. Partial-dependence curves of the boosted model (partialDependence.ts) for the most important features:
//    the shape of each effect, in the target's own units.
//
// Features are numeric image fields (the image statistics, width/height/megapixels, any field queryImages
// knows) and, for a synthetic dataset, the generator's own attributes from truth.json, named truth.<attribute>
// and matched to images by file name: attribution run on the true attributes must recover the weights that
// made the ratings, which is how this file is tested.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { LibraryDb } from '../library/openLibrary.js';
import { buildWhere, NUMERIC_FIELDS, resolveField, type ImageFilter, type NumericField } from '../library/queryImages.js';
import { raterIdsOfGroup } from '../library/raterGroups.js';
import { getModel } from '../models/modelRegistry.js';
import { latestRun } from '../models/runs.js';
import { SeededRandom } from '../synth/random.js';
import type { SynthTruth } from '../synth/truthFile.js';
import { truthFileName } from '../synth/truthFile.js';
import { defaultBoostingOptions, fitBoostedTrees, predictBoostedTrees, type BoostedTrees, type BoostingOptions } from './boostedTrees.js';
import { pearson } from './correlation.js';
import { fitStandardizedOls, summarizeColumn } from './linearModel.js';
import { partialDependence, quantileGrid, type PartialDependencePoint } from './partialDependence.js';

/** The image statistics and resolution: what `miru attribute` explains with when no --features are named. */
export const DEFAULT_IMAGE_FEATURES: readonly NumericField[] = [
  'brightness',
  'contrast',
  'saturation',
  'colorfulness',
  'sharpness',
  'entropy',
  'edgeDensity',
  'aspectRatio',
  'megapixels',
  'alphaFraction',
  'isGrayscale',
];

export const TRUTH_PREFIX = 'truth.';

export type AttributionTarget =
  | { kind: 'model'; model: string }
  | { kind: 'ratings'; rater?: string; group?: string; /** Images with fewer ratings from the chosen raters are left out; default 1. */ minRatings?: number };

export interface AttributionOptions {
  target: AttributionTarget;
  /**
   * Feature names: numeric image fields (queryImages' NUMERIC_FIELDS, camelCase or column names), and with a
   * truth file `truth.<attribute>` or `truth` for all of its attributes. Default: DEFAULT_IMAGE_FEATURES, or
   * all truth attributes when a truth file is given.
   */
  features?: string[];
  /** A synth dataset's truth.json (or its folder): adds the generator's attributes as features. */
  truth?: string;
  /** Which images take part (the --filter expressions of `miru list`); default status=ok. */
  filters?: ImageFilter[];
  seed?: number;
  /** Folds of the cross-fitted boosted model; default 5. */
  folds?: number;
  /** Shuffles per feature for permutation importance; default 5. */
  repeats?: number;
  /** Partial-dependence curves for this many top features; default 3. */
  pdFeatures?: number;
  /** Grid points per partial-dependence curve; default 20. */
  pdPoints?: number;
  /** The boosted model uses at most this many images (a seeded sample); the linear model uses all. Default 20,000. */
  maxRows?: number;
  boosting?: Partial<Omit<BoostingOptions, 'seed'>>;
}

export interface AttributionTargetInfo {
  kind: 'model' | 'ratings';
  /** A readable name of what is explained, e.g. "scores of model aesthetic (run 3)". */
  label: string;
  model?: string;
  run?: number;
  runStatus?: string;
  rater?: string;
  group?: string;
  /** Raters whose ratings were averaged (ratings targets). */
  raters?: number;
  minRatings?: number;
  mean: number;
  sd: number;
  min: number;
  max: number;
}

export interface LinearAttribution {
  feature: string;
  /** Standardized coefficient: target sd per feature sd, other features held fixed. */
  beta: number;
  stdError: number;
  ciLow: number;
  ciHigh: number;
  /** Target units per feature unit. */
  perUnit: number;
  vif: number;
  /** Pearson correlation of the feature alone with the target. */
  correlation: number;
}

export interface ImportanceAttribution {
  feature: string;
  /** Mean drop in held-out R^2 when the feature is shuffled. */
  importance: number;
  /** Standard deviation of the drop over the repeats. */
  sd: number;
  min: number;
  max: number;
}

export interface PartialDependenceCurve {
  feature: string;
  points: PartialDependencePoint[];
  /** max - min of the curve, in target units: how far the feature alone moves the prediction. */
  effect: number;
}

export interface AttributionResult {
  target: AttributionTargetInfo;
  /** Images in the analysis: with a target value and every feature. */
  n: number;
  /** Features analysed, in the order asked for. */
  features: string[];
  dropped: { feature: string; reason: string }[];
  excluded: { noTarget: number; missingFeature: number; missingByFeature: Record<string, number>; noTruth: number };
  linear: { r2: number; adjustedR2: number; dof: number; level: number; coefficients: LinearAttribution[] };
  /** null when there are too few images for held-out estimates (see notes). */
  nonlinear: {
    rows: number;
    folds: number;
    repeats: number;
    heldOutR2: number;
    model: Omit<BoostingOptions, 'seed'>;
    importance: ImportanceAttribution[];
  } | null;
  partialDependence: PartialDependenceCurve[];
  notes: string[];
  seed: number;
}

/** Below this many images the boosted model's held-out R^2 and importances are too noisy to report. */
export const MIN_NONLINEAR_ROWS = 40;

type FeatureSpec = { name: string; kind: 'image'; field: NumericField } | { name: string; kind: 'truth'; attribute: string };

/** Parses feature names; an unknown one is an error listing every valid name. */
export function resolveFeatures(names: readonly string[] | undefined, truthAttributes: readonly string[] | null, target: AttributionTarget): FeatureSpec[] {
  const truthSpecs = (truthAttributes ?? []).map((a): FeatureSpec => ({ name: `${TRUTH_PREFIX}${a}`, kind: 'truth', attribute: a }));
  if (!names || names.length === 0) {
    return truthAttributes ? truthSpecs : DEFAULT_IMAGE_FEATURES.map((field): FeatureSpec => ({ name: field, kind: 'image', field }));
  }
  const valid = () =>
    `Features: ${Object.keys(NUMERIC_FIELDS).join(', ')}${truthAttributes ? `; from --truth: truth (all), ${truthSpecs.map((s) => s.name).join(', ')}` : '; with --truth TRUTH.json also truth.<attribute> (a synth dataset\'s attributes)'}.`;
  const out: FeatureSpec[] = [];
  const add = (spec: FeatureSpec) => {
    if (!out.some((s) => s.name === spec.name)) out.push(spec);
  };
  for (const raw of names) {
    const name = raw.trim();
    if (!name) continue;
    const lower = name.toLowerCase();
    if (lower === 'truth' || lower === 'truth.*' || lower.startsWith(TRUTH_PREFIX)) {
      if (!truthAttributes) throw new Error(`Feature ${JSON.stringify(name)} needs --truth (a synth dataset's truth.json). ${valid()}`);
      if (lower === 'truth' || lower === 'truth.*') truthSpecs.forEach(add);
      else {
        const spec = truthSpecs.find((s) => s.name.toLowerCase() === lower);
        if (!spec) throw new Error(`Unknown feature ${JSON.stringify(name)}. ${valid()}`);
        add(spec);
      }
      continue;
    }
    let field: NumericField;
    try {
      field = resolveField(name);
    } catch {
      throw new Error(`Unknown feature ${JSON.stringify(name)}. ${valid()}`);
    }
    if (target.kind === 'ratings' && (field === 'ratingMean')) {
      throw new Error(`Feature ${JSON.stringify(name)} is the mean rating itself, which the ratings target is made of; it cannot explain it. Leave it out.`);
    }
    add({ name: field, kind: 'image', field });
  }
  if (out.length === 0) throw new Error(`--features names no feature. ${valid()}`);
  return out;
}

/** Reads truth.json, given the file or the dataset folder holding it. */
export async function readTruthFile(location: string): Promise<SynthTruth> {
  let file = location;
  try {
    if ((await fs.stat(location)).isDirectory()) file = path.join(location, truthFileName);
  } catch {
    throw new Error(`--truth ${location}: no such file or folder (expected a synth dataset's truth.json).`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (error) {
    throw new Error(`--truth ${file}: cannot read it as JSON (${(error as Error).message}).`);
  }
  const t = parsed as Partial<SynthTruth> | null;
  if (!t || typeof t !== 'object' || t.version !== 1 || !Array.isArray(t.images) || !Array.isArray(t.attributes)) {
    throw new Error(`--truth ${file}: not a synth truth file of version 1 (written by \`miru synth\`).`);
  }
  return t as SynthTruth;
}

interface TargetValues {
  info: Omit<AttributionTargetInfo, 'mean' | 'sd' | 'min' | 'max'>;
  values: Map<number, number>;
}

function loadTarget(db: LibraryDb, target: AttributionTarget): TargetValues {
  if (target.kind === 'model') {
    const model = getModel(db, target.model);
    const run = latestRun(db, model.id, 'score');
    if (!run) throw new Error(`Model ${JSON.stringify(model.name)} has no score run yet. Score the library first: \`miru score --db D --model ${model.name}\`.`);
    const rows = db.prepare<[number], { image_id: number; score: number }>('SELECT image_id, score FROM scores WHERE run_id = ?').all(run.id);
    if (rows.length === 0) throw new Error(`Score run ${run.id} of model ${JSON.stringify(model.name)} holds no scores (status ${run.status}). Run \`miru score --db D --model ${model.name}\` to finish it.`);
    return {
      info: { kind: 'model', label: `scores of model ${model.name} (run ${run.id}, ${run.status})`, model: model.name, run: run.id, runStatus: run.status },
      values: new Map(rows.map((r) => [r.image_id, r.score])),
    };
  }
  const minRatings = target.minRatings ?? 1;
  if (!Number.isInteger(minRatings) || minRatings < 1) throw new Error(`--min-ratings must be a whole number of at least 1 (got ${minRatings}).`);
  if (target.rater !== undefined && target.group !== undefined) throw new Error('Name either a rater or a rater group, not both.');
  const total = db.prepare<[], number>('SELECT count(*) FROM ratings').pluck().get() ?? 0;
  if (total === 0) throw new Error('This library has no ratings. Import them with `miru ratings import FILE --db D` (or explain a model\'s scores with --model).');
  let raterIds: number[] | null = null;
  let label = 'mean rating of all raters';
  if (target.rater !== undefined) {
    const id = db.prepare<[string], number>('SELECT id FROM raters WHERE name = ?').pluck().get(target.rater);
    if (id === undefined) {
      const names = db.prepare<[], string>('SELECT name FROM raters ORDER BY name LIMIT 11').pluck().all();
      const count = db.prepare<[], number>('SELECT count(*) FROM raters').pluck().get() ?? 0;
      throw new Error(`Unknown rater ${JSON.stringify(target.rater)}. Raters: ${names.slice(0, 10).join(', ')}${count > 10 ? `, ... (${count} in all)` : ''}.`);
    }
    raterIds = [id];
    label = `ratings of rater ${target.rater}`;
  } else if (target.group !== undefined) {
    raterIds = raterIdsOfGroup(db, target.group);
    label = `mean rating of rater group ${target.group} (${raterIds.length} raters)`;
  }
  const where = raterIds ? `WHERE rater_id IN (${raterIds.map(() => '?').join(',')})` : '';
  const rows = db
    .prepare<number[], { image_id: number; v: number; c: number }>(`SELECT image_id, avg(value) AS v, count(*) AS c FROM ratings ${where} GROUP BY image_id HAVING count(*) >= ?`)
    .all(...(raterIds ?? []), minRatings);
  if (rows.length === 0) {
    throw new Error(`No image has ${minRatings > 1 ? `at least ${minRatings} ratings` : 'a rating'} from ${raterIds ? (target.rater !== undefined ? `rater ${target.rater}` : `rater group ${target.group}`) : 'any rater'}.`);
  }
  const raterCount = raterIds
    ? raterIds.length
    : db.prepare<[], number>('SELECT count(DISTINCT rater_id) FROM ratings').pluck().get() ?? 0;
  if (!raterIds) label = `mean rating of all ${raterCount} raters`;
  return {
    info: {
      kind: 'ratings',
      label: minRatings > 1 ? `${label}, images with >= ${minRatings} ratings` : label,
      ...(target.rater !== undefined ? { rater: target.rater } : {}),
      ...(target.group !== undefined ? { group: target.group } : {}),
      raters: raterCount,
      minRatings,
    },
    values: new Map(rows.map((r) => [r.image_id, r.v])),
  };
}

/** Library image id -> truth attributes, by file name; two library images of one truth file is an error. */
function matchTruth(rows: { id: number; relPath: string }[], truth: SynthTruth): Map<number, Record<string, number>> {
  const byFile = new Map(truth.images.map((img) => [img.file, img.attributes as unknown as Record<string, number>]));
  const seen = new Map<string, string>();
  const out = new Map<number, Record<string, number>>();
  for (const row of rows) {
    const file = row.relPath.split('/').pop()!;
    const attributes = byFile.get(file);
    if (!attributes) continue;
    const earlier = seen.get(file);
    if (earlier !== undefined) {
      throw new Error(
        `Two images in the selection match ${file} of the truth file (${earlier} and ${row.relPath}). Narrow the selection to one dataset, e.g. --filter "path~FOLDER".`,
      );
    }
    seen.set(file, row.relPath);
    out.set(row.id, attributes);
  }
  return out;
}

function r2Of(y: ArrayLike<number>, predicted: ArrayLike<number>, rows: ArrayLike<number>): number {
  let mean = 0;
  for (let k = 0; k < rows.length; k++) mean += y[rows[k]!]!;
  mean /= rows.length;
  let sse = 0;
  let sst = 0;
  for (let k = 0; k < rows.length; k++) {
    const v = y[rows[k]!]!;
    sse += (v - predicted[k]!) ** 2;
    sst += (v - mean) ** 2;
  }
  return sst === 0 ? 0 : 1 - sse / sst;
}

function meanSd(values: number[]): { mean: number; sd: number; min: number; max: number } {
  const s = summarizeColumn(values);
  return { mean: s.mean, sd: s.sd, min: s.min, max: s.max };
}

export async function attributeFeatures(db: LibraryDb, options: AttributionOptions): Promise<AttributionResult> {
  const seed = options.seed ?? 1;
  const notes: string[] = [];
  const truth = options.truth ? await readTruthFile(options.truth) : null;
  const specs = resolveFeatures(options.features, truth ? truth.attributes : null, options.target);
  const target = loadTarget(db, options.target);
  if (target.info.runStatus && target.info.runStatus !== 'complete') {
    notes.push(`Score run ${target.info.run} is ${target.info.runStatus}: only the images it scored so far take part. \`miru score\` resumes it.`);
  }

  // Image rows of the selection, with every image field the features name.
  const imageSpecs = specs.filter((s): s is Extract<FeatureSpec, { kind: 'image' }> => s.kind === 'image');
  const where = buildWhere(db, options.filters ?? []);
  const selectCols = imageSpecs.map((s, k) => `, images.${NUMERIC_FIELDS[s.field]} AS f${k}`).join('');
  // Rows in path order, not id order: ids depend on the order a concurrent index run happened to finish files
  // in, and the folds and shuffles follow row order, so this keeps the numbers the same for the same files.
  const imageRows = db
    .prepare(`SELECT images.id AS id, images.rel_path AS relPath${selectCols} FROM images WHERE ${where.sql} ORDER BY images.rel_path, images.content_hash, images.id`)
    .all(...where.params) as ({ id: number; relPath: string } & Record<string, number | null>)[];
  const usesTruth = specs.some((s) => s.kind === 'truth');
  const truthOf = truth && usesTruth ? matchTruth(imageRows, truth) : null;
  if (truthOf && truthOf.size === 0) {
    throw new Error(`No image in the selection is named like an image of ${options.truth} (e.g. ${truth!.images[0]?.file ?? 'img_00001.png'}). Index the dataset's images/ folder into this library first.`);
  }

  const excluded = { noTarget: 0, missingFeature: 0, missingByFeature: {} as Record<string, number>, noTruth: 0 };
  const ids: number[] = [];
  const y: number[] = [];
  const values: number[][] = specs.map(() => []);
  for (const row of imageRows) {
    const t = target.values.get(row.id);
    if (t === undefined) {
      excluded.noTarget++;
      continue;
    }
    const attributes = truthOf?.get(row.id);
    if (truthOf && !attributes) {
      excluded.noTruth++;
      continue;
    }
    const rowValues: number[] = [];
    let missing = false;
    let imageIndex = 0;
    for (const spec of specs) {
      const v = spec.kind === 'image' ? row[`f${imageIndex++}`] : attributes![spec.attribute];
      if (v === null || v === undefined || !Number.isFinite(v)) {
        missing = true;
        excluded.missingByFeature[spec.name] = (excluded.missingByFeature[spec.name] ?? 0) + 1;
      } else rowValues.push(Number(v));
    }
    if (missing) {
      excluded.missingFeature++;
      continue;
    }
    ids.push(row.id);
    y.push(t);
    rowValues.forEach((v, j) => values[j]!.push(v));
  }
  const n = y.length;
  if (n === 0) {
    const why = [
      excluded.noTarget ? `${excluded.noTarget} have no ${target.info.kind === 'model' ? 'score in the run' : 'rating from the chosen raters'}` : '',
      excluded.noTruth ? `${excluded.noTruth} are not in the truth file` : '',
      excluded.missingFeature ? `${excluded.missingFeature} lack a feature value (${Object.entries(excluded.missingByFeature).map(([f, c]) => `${f}: ${c}`).join(', ')})` : '',
    ].filter(Boolean);
    throw new Error(`No image has both the target (${target.info.label}) and every feature. Of ${imageRows.length} selected images, ${why.join('; ') || 'none remain'}.`);
  }
  if (excluded.noTarget) notes.push(`${excluded.noTarget} selected images have no target value and were left out.`);
  if (excluded.noTruth) notes.push(`${excluded.noTruth} images are not in the truth file and were left out.`);
  if (excluded.missingFeature) {
    notes.push(`${excluded.missingFeature} images lack a feature value and were left out (${Object.entries(excluded.missingByFeature).map(([f, c]) => `${f}: ${c}`).join(', ')}).`);
  }

  // Constant features carry no information and cannot be z-scored: drop them, and say so.
  const dropped: { feature: string; reason: string }[] = [];
  let kept = specs.map((_, j) => j).filter((j) => {
    const s = summarizeColumn(values[j]!);
    if (s.sd > 0) return true;
    dropped.push({ feature: specs[j]!.name, reason: `constant: every one of the ${n} images has ${s.min}` });
    return false;
  });
  for (const d of dropped) notes.push(`Dropped ${d.feature}: ${d.reason}.`);
  if (kept.length === 0) throw new Error(`Every feature is constant over these ${n} images (${dropped.map((d) => d.feature).join(', ')}): nothing can explain the target.`);
  if (n < kept.length + 2) {
    throw new Error(
      `Only ${n} images have the target and every feature; ${kept.length} features need at least ${kept.length + 2}. Name fewer features with --features, or rate or score more images.`,
    );
  }
  const ySummary = summarizeColumn(y);
  if (ySummary.sd === 0) throw new Error(`The target (${target.info.label}) is ${ySummary.min} for all ${n} images: there is nothing to explain.`);

  let linear = fitStandardizedOls(kept.map((j) => values[j]!), y);
  if (linear.collinear.length) {
    for (const c of linear.collinear) {
      const feature = specs[kept[c.index]!]!.name;
      const reason = `a linear combination of ${c.with.map((k) => specs[kept[k]!]!.name).join(', ')}`;
      dropped.push({ feature, reason });
      notes.push(`Dropped ${feature}: ${reason}.`);
    }
    const gone = new Set(linear.collinear.map((c) => kept[c.index]!));
    kept = kept.filter((j) => !gone.has(j));
    linear = fitStandardizedOls(kept.map((j) => values[j]!), y);
  }
  const featureNames = kept.map((j) => specs[j]!.name);
  const columns = kept.map((j) => Float64Array.from(values[j]!));
  const yArray = Float64Array.from(y);
  const coefficients: LinearAttribution[] = linear.coefficients
    .map((c) => ({
      feature: featureNames[c.index]!,
      beta: c.beta,
      stdError: c.stdError,
      ciLow: c.ciLow,
      ciHigh: c.ciHigh,
      perUnit: c.perUnit,
      vif: c.vif,
      correlation: pearson(values[kept[c.index]!]!, y),
    }))
    .sort((a, b) => Math.abs(b.beta) - Math.abs(a.beta) || a.feature.localeCompare(b.feature));
  const wideVif = coefficients.filter((c) => c.vif > 10).map((c) => `${c.feature} (VIF ${c.vif.toFixed(1)})`);
  if (wideVif.length) notes.push(`Strongly collinear features, whose coefficients share credit and have wide intervals: ${wideVif.join(', ')}.`);

  // The boosted model: cross-fitted permutation importance, then a model on all rows for partial dependence.
  const folds = Math.max(2, Math.min(options.folds ?? 5, 20));
  const repeats = Math.max(1, Math.min(options.repeats ?? 5, 100));
  const boosting = { ...defaultBoostingOptions, ...(options.boosting ?? {}) };
  const { seed: _ignored, ...modelOptions } = boosting;
  let nonlinear: AttributionResult['nonlinear'] = null;
  let partial: PartialDependenceCurve[] = [];
  if (n < MIN_NONLINEAR_ROWS) {
    notes.push(`Only ${n} images: the boosted-tree importances and partial dependence need at least ${MIN_NONLINEAR_ROWS}, so only the linear model is reported.`);
  } else {
    const rng = SeededRandom.derive(seed, 'attribution');
    const maxRows = options.maxRows ?? 20_000;
    let sample = Array.from({ length: n }, (_, i) => i);
    if (n > maxRows) {
      sample = rng.sample(sample, maxRows).sort((a, b) => a - b);
      notes.push(`The boosted model uses a seeded sample of ${maxRows} of the ${n} images (--max-rows); the linear model uses all.`);
    }
    const order = SeededRandom.derive(seed, 'folds').shuffle(sample.slice());
    const foldRows: number[][] = Array.from({ length: folds }, () => []);
    order.forEach((row, k) => foldRows[k % folds]!.push(row));
    foldRows.forEach((f) => f.sort((a, b) => a - b));
    const models: BoostedTrees[] = foldRows.map((_, f) => {
      const train = foldRows.flatMap((rows, g) => (g === f ? [] : rows)).sort((a, b) => a - b);
      return fitBoostedTrees(columns, yArray, { ...boosting, seed: SeededRandom.derive(seed, 'fold', f).nextUint32() }, train);
    });
    const pooledRows = foldRows.flat();
    const pooledR2 = (cols: ArrayLike<number>[]) => {
      const predicted = foldRows.flatMap((rows, f) => Array.from(predictBoostedTrees(models[f]!, cols, rows)));
      return r2Of(yArray, predicted, pooledRows);
    };
    const heldOutR2 = pooledR2(columns);
    const importance: ImportanceAttribution[] = featureNames.map((feature, j) => {
      const drops: number[] = [];
      for (let r = 0; r < repeats; r++) {
        const shuffled = Float64Array.from(columns[j]!);
        const permRng = SeededRandom.derive(seed, 'permutation', r, j);
        // Shuffle within each held-out fold: each fold's model sees only its own held-out images reshuffled.
        for (const rows of foldRows) {
          const permuted = permRng.shuffle(rows.map((i) => columns[j]![i]!));
          rows.forEach((i, k) => (shuffled[i] = permuted[k]!));
        }
        const cols = columns.slice();
        cols[j] = shuffled;
        drops.push(heldOutR2 - pooledR2(cols));
      }
      const s = meanSd(drops);
      return { feature, importance: s.mean, sd: s.sd, min: s.min, max: s.max };
    });
    importance.sort((a, b) => b.importance - a.importance || a.feature.localeCompare(b.feature));
    nonlinear = { rows: sample.length, folds, repeats, heldOutR2, model: modelOptions, importance };
    if (heldOutR2 < 0.05) notes.push(`The boosted model predicts held-out images poorly (R^2 ${heldOutR2.toFixed(3)}): its importances say little.`);

    const pdCount = Math.max(0, Math.min(options.pdFeatures ?? 3, featureNames.length));
    if (pdCount > 0) {
      const full = fitBoostedTrees(columns, yArray, { ...boosting, seed: SeededRandom.derive(seed, 'final').nextUint32() }, sample);
      const pdRows = sample.length > 1000 ? SeededRandom.derive(seed, 'pd-rows').sample(sample, 1000).sort((a, b) => a - b) : sample;
      partial = importance.slice(0, pdCount).map(({ feature }) => {
        const j = featureNames.indexOf(feature);
        const grid = quantileGrid(sample.map((i) => columns[j]![i]!), options.pdPoints ?? 20);
        const points = partialDependence((cols, rows) => predictBoostedTrees(full, cols, rows), columns, j, grid, pdRows);
        const ys = points.map((p) => p.y);
        return { feature, points, effect: Math.max(...ys) - Math.min(...ys) };
      });
    }
  }

  return {
    target: { ...target.info, mean: ySummary.mean, sd: ySummary.sd, min: ySummary.min, max: ySummary.max },
    n,
    features: featureNames,
    dropped,
    excluded,
    linear: { r2: linear.r2, adjustedR2: linear.adjustedR2, dof: linear.dof, level: linear.level, coefficients },
    nonlinear,
    partialDependence: partial,
    notes,
    seed,
  };
}
