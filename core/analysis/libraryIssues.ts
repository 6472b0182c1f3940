// `miru issues`: data-quality problems of a library in one pass (issue 6, "Data quality: label issues and
// outliers"). Label issues: each rated image's consensus label (its mean rating rounded to the nearest class of the
// rating scale) against out-of-fold class probabilities from a head trained on an embedding run, through confident
// learning (confidentLearning.ts, cleanlab's semantics), with the ordinal expected-score residual alongside. Odd
// images: imageIssues.ts, from the stored image statistics. Everything is computed before anything is stored, and
// stored in one transaction, so a failure leaves the earlier results as they were.
import type { LibraryDb } from '../library/openLibrary.js';
import { saveAnalysis } from './analysisStore.js';
import { expectedScoreResidual, findLabelIssues, type FilterBy, type RankBy } from './confidentLearning.js';
import { loadEmbeddings, resolveEmbeddingRun } from './embeddingMatrix.js';
import { computeImageIssues, saveImageIssues, type DEFAULT_IMAGE_ISSUE_THRESHOLDS, type ImageIssueType } from './imageIssues.js';
import { imagePaths } from './neighbors.js';
import { outOfFoldProbabilities } from './probeHeads.js';
import { loadLabelTargets } from './probeLabels.js';

export interface LibraryIssueOptions {
  /** Embedding run id or model name (its latest run). */
  embedding: string;
  head?: 'logistic' | 'ordinal';
  folds?: number;
  seed?: number;
  /** L2 penalty of the head (scikit-learn's 1 / C). */
  l2?: number;
  filterBy?: FilterBy;
  rankBy?: RankBy;
  fracNoise?: number;
  minExamplesPerClass?: number;
  /** Leave out images with fewer ratings than this (default 1). */
  minRatings?: number;
  /** Compute and store the odd-image issues too (default true). */
  imageIssues?: boolean;
  imageThresholds?: Partial<typeof DEFAULT_IMAGE_ISSUE_THRESHOLDS>;
}

export interface LabelIssueEntry {
  id: number;
  path: string;
  /** Consensus label and the head's most likely class, as rating values of the scale. */
  given: number;
  predicted: number;
  /** Label quality under rankedBy, in [0, 1]; low = likely mislabelled. */
  quality: number;
  /** |given − expected rating| / (scale span), in [0, 1]. */
  residual: number;
}

export interface LibraryIssuesResult {
  embedding: { runId: number; model: string };
  head: 'logistic' | 'ordinal';
  folds: number;
  seed: number;
  filterBy: FilterBy;
  rankedBy: RankBy;
  /** The rating values the classes stand for (class k = scale[k]). */
  scale: number[];
  /** Flagged images, most likely mislabelled first. */
  labelIssues: LabelIssueEntry[];
  /** Flagged images per type, strongest first. */
  imageIssues: Partial<Record<ImageIssueType, { id: number; score: number }[]>>;
  counts: {
    /** Images labelled and embedded: the ones label issues were looked for in. */
    labelled: number;
    labelIssues: number;
    ratedWithoutEmbedding: number;
    belowMinRatings: number;
    /** Images per consensus class (aligned with scale). */
    perClass: number[];
    imagesScored?: number;
    imagesWithoutStats?: number;
    imageIssues?: Partial<Record<ImageIssueType, number>>;
  };
  analysisIds: { labelIssues: number; imageIssues?: Record<ImageIssueType, number> };
}

export function findLibraryIssues(db: LibraryDb, options: LibraryIssueOptions): LibraryIssuesResult {
  const head = options.head ?? 'logistic';
  const folds = options.folds ?? 5;
  const seed = options.seed ?? 1;
  const minRatings = options.minRatings ?? 1;
  const filterBy = options.filterBy ?? 'prune_by_noise_rate';
  const rankBy = options.rankBy ?? 'self_confidence';
  if (head !== 'logistic' && head !== 'ordinal') throw new Error(`--head must be logistic or ordinal (got ${JSON.stringify(head)}).`);
  if (!Number.isInteger(minRatings) || minRatings < 1) throw new Error(`--min-ratings must be a whole number of at least 1 (got ${minRatings}).`);

  const run = resolveEmbeddingRun(db, options.embedding);
  const targets = loadLabelTargets(db, { kind: 'consensus' });
  const k = targets.scale.classes.length;
  if (k < 2) throw new Error(`The rating scale ${targets.scale.min}:${targets.scale.max} has a single class; label issues need at least 2.`);

  // Images with enough ratings, then those of them the run embedded.
  const wanted: number[] = [];
  const classOf = new Map<number, number>();
  let belowMinRatings = 0;
  for (let i = 0; i < targets.imageIds.length; i++) {
    let ratings = 0;
    for (let c = 0; c < k; c++) ratings += targets.histogram[i * k + c]!;
    if (ratings < minRatings) {
      belowMinRatings++;
      continue;
    }
    wanted.push(targets.imageIds[i]!);
    classOf.set(targets.imageIds[i]!, targets.classIndex[i]!);
  }
  if (wanted.length === 0) throw new Error(`No image has ${minRatings} or more ratings; lower --min-ratings or import more ratings.`);
  const matrix = loadEmbeddings(db, run.runId, wanted);
  const n = matrix.imageIds.length;
  const labels = Int32Array.from(matrix.imageIds, (id) => classOf.get(id)!);
  const perClass = new Array<number>(k).fill(0);
  for (const y of labels) perClass[y]!++;
  if (perClass.filter((c) => c > 0).length < 2) {
    throw new Error(`All ${n} labelled images have the same consensus rating (${targets.scale.classes[labels[0]!]}); label issues need at least two classes.`);
  }
  if (n < folds) throw new Error(`Only ${n} rated images have embeddings in run ${run.runId}; ${folds}-fold cross-validation needs at least ${folds}. Embed more images or lower --folds.`);

  const probs = outOfFoldProbabilities(matrix.vectors, matrix.dim, labels, k, { head, folds, seed, l2: options.l2 });
  const inputs = { labels, probs, classes: k };
  const found = findLabelIssues(inputs, { filterBy, rankBy, fracNoise: options.fracNoise, minExamplesPerClass: options.minExamplesPerClass });
  const residual = expectedScoreResidual(inputs);
  const value = (c: number) => targets.scale.classes[c]!;

  const images = options.imageIssues === false ? null : computeImageIssues(db, options.imageThresholds);

  const params = {
    head,
    folds,
    seed,
    l2: options.l2 ?? 1,
    filterBy,
    rankBy,
    fracNoise: options.fracNoise ?? 1,
    minExamplesPerClass: options.minExamplesPerClass ?? 1,
    minRatings,
  };
  let labelAnalysis = 0;
  let imageAnalyses: Record<ImageIssueType, number> | undefined;
  db.transaction(() => {
    labelAnalysis = saveAnalysis(db, {
      kind: 'label-issues',
      sourceRunId: run.runId,
      params,
      summary: {
        labelled: n,
        labelIssues: found.ranked.length,
        scale: targets.scale.classes,
        perClass,
        thresholds: Array.from(found.thresholds),
        confidentJoint: Array.from(found.confidentJoint),
        extra: ['isIssue', 'given', 'predicted', 'expectedScoreResidual'],
      },
      values: (function* () {
        for (let i = 0; i < n; i++) {
          yield {
            imageId: matrix.imageIds[i]!,
            value: found.quality[i]!,
            extra: Float32Array.of(found.isIssue[i]!, value(labels[i]!), value(found.predicted[i]!), residual[i]!),
          };
        }
      })(),
    });
    if (images) imageAnalyses = saveImageIssues(db, images);
  })();

  const flaggedIds = Array.from(found.ranked, (i) => matrix.imageIds[i]!);
  const paths = imagePaths(db, flaggedIds);
  const labelIssues = Array.from(found.ranked, (i) => ({
    id: matrix.imageIds[i]!,
    path: paths.get(matrix.imageIds[i]!) ?? '',
    given: value(labels[i]!),
    predicted: value(found.predicted[i]!),
    quality: found.quality[i]!,
    residual: residual[i]!,
  }));

  const imageIssues: LibraryIssuesResult['imageIssues'] = {};
  const imageCounts: Partial<Record<ImageIssueType, number>> = {};
  for (const issue of images?.issues ?? []) {
    const flagged: { id: number; score: number }[] = [];
    for (let i = 0; i < issue.ids.length; i++) if (issue.flags[i]) flagged.push({ id: issue.ids[i]!, score: issue.scores[i]! });
    flagged.sort((a, b) => a.score - b.score || a.id - b.id);
    imageIssues[issue.type] = flagged;
    imageCounts[issue.type] = flagged.length;
  }

  return {
    embedding: { runId: run.runId, model: run.model },
    head,
    folds,
    seed,
    filterBy,
    rankedBy: rankBy,
    scale: targets.scale.classes,
    labelIssues,
    imageIssues,
    counts: {
      labelled: n,
      labelIssues: labelIssues.length,
      ratedWithoutEmbedding: wanted.length - n,
      belowMinRatings,
      perClass,
      ...(images ? { imagesScored: images.images, imagesWithoutStats: images.withoutStats, imageIssues: imageCounts } : {}),
    },
    analysisIds: { labelIssues: labelAnalysis, ...(imageAnalyses ? { imageIssues: imageAnalyses } : {}) },
  };
}
