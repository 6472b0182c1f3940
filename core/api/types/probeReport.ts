/**
 * What the Backbones view receives from `probeReports` (issue 6, "Probes across backbones and pre-training"): the
 * stored reports of probe jobs (core/analysis/probeLabels.ts, as `miru probe-labels --json` prints them, plus the
 * parameters the job was started with) and the stored per-rater models (core/analysis/raterModels.ts). Type
 * declarations only, with no imports: the renderer type-checks this file under its own DOM-only tsconfig, where
 * core's runtime modules cannot be seen. These declarations are the only definition of these shapes: core/analysis/
 * probeLabels.ts, probeHeads.ts and probeMetrics.ts import them (type-only) under their own names.
 */

export type ProbeHeadName = 'ridge' | 'logistic' | 'ordinal' | 'knn';

/** Larger is better except for mae and emd. */
export type ProbeMetricName = 'spearman' | 'pearson' | 'qwk' | 'accuracy' | 'mae' | 'emd';

/** A metric's mean over the cross-validation folds with its 95% t-interval (null where undefined). */
export interface ProbeMetricInterval {
  mean: number | null;
  /** Two-sided t-interval of the mean over folds; null with fewer than two fold values. */
  lo: number | null;
  hi: number | null;
  /** Folds that had a value. */
  folds: number;
}

export type ProbeMetricSet = Record<ProbeMetricName, ProbeMetricInterval>;

/** The parameters of a 'probe' job (StartJobInput.params). */
export interface ProbeJobParams {
  /** Embedding run ids or model names (a model's latest embedding run); at least one. */
  embeddings: string[];
  /** 'consensus' (default), 'rater:NAME' or 'cluster:GROUP'. */
  target?: string;
  /** Default all four; the first ranks the disagreements. */
  heads?: ProbeHeadName[];
  /** Default 5. */
  folds?: number;
  /** Label counts the training folds are subsampled to; counts above the smallest training fold are skipped. */
  learningCurve?: number[];
  /** The cleaning experiment: also train without the images carrying these tags. */
  excludeTags?: string[];
}

/** The parameters of a 'rater-models' job. */
export interface RaterModelsJobParams {
  /** Embedding run id or model name. */
  embedding: string;
  /** One model per rater (default) or per rater group. */
  by?: 'rater' | 'cluster';
  /** Raters (groups) with fewer ratings on embedded images get no model. Default 30. */
  minRatings?: number;
  head?: 'ridge' | 'ordinal';
}

export interface ProbeBackboneHead {
  head: ProbeHeadName;
  metrics: ProbeMetricSet;
  perFold: Record<ProbeMetricName, number | null>[];
  /** The ridge penalty each fold chose. */
  alphas?: number[];
  /** The stored out-of-fold predictions ('probe' analysis); null once a later probe of the same recipe replaced them. */
  analysisId: number | null;
}

export interface ProbeBackbone {
  run: number;
  model: string;
  dim: number;
  heads: ProbeBackboneHead[];
}

export interface ProbeCurvePoint {
  run: number;
  head: ProbeHeadName;
  /** Training labels per fold. */
  labels: number;
  spearman: ProbeMetricInterval;
}

export interface ProbeDisagreement {
  id: number;
  /** Absolute path of the image file. */
  path: string;
  target: number;
  /** max - min of the backbones' out-of-fold predictions (first head). */
  spread: number;
  /** Embedding run id (as a string) -> prediction on the rating scale. */
  predictions: Record<string, number>;
}

export interface ProbeCleaningResult {
  run: number;
  model: string;
  head: ProbeHeadName;
  trainedOnAll: { allTest: ProbeMetricSet; cleanTest: ProbeMetricSet; excludedTest: ProbeMetricSet };
  trainedOnClean: { allTest: ProbeMetricSet; cleanTest: ProbeMetricSet; excludedTest: ProbeMetricSet };
}

/** `miru probe-labels --json`. */
export interface ProbeLabelsReport {
  target: { key: string; label: string; raters: number; classes: number[]; scaleSource: string };
  folds: number;
  seed: number;
  images: number;
  /** Labelled images left out because a backbone has no vector for them. */
  missingVectors: number;
  heads: ProbeHeadName[];
  settings: { alpha: number | 'auto'; l2: number; k: number };
  backbones: ProbeBackbone[];
  learningCurve: ProbeCurvePoint[];
  disagreements: ProbeDisagreement[];
  cleaning?: {
    sources: { source: string; images: number }[];
    excluded: number;
    clean: number;
    results: ProbeCleaningResult[];
  };
  notes: string[];
}

/** A disputed image with what the grid needs to show it. */
export interface ProbeImageRef {
  /** Path under its library root; null when the image left the library. */
  relPath: string | null;
  /** Content hash for the thumbnail (client.thumbUrl); null when unknown. */
  hash: string | null;
}

export interface StoredProbeReport {
  /** The 'probe-report' analysis holding it. */
  id: number;
  createdAt: string;
  /** What the job was started with, as given. */
  params: ProbeJobParams;
  report: Omit<ProbeLabelsReport, 'disagreements'> & { disagreements: (ProbeDisagreement & ProbeImageRef)[] };
}

export interface RaterModelRow {
  name: string;
  /** Raters behind the model (1 for a rater). */
  raters: number;
  /** Rated images with a vector: the model's training data. */
  ratings: number;
  /** Cross-validated Spearman with the rater's own ratings (fold mean); null where undefined. */
  spearman: number | null;
}

export interface RaterModelDispute extends ProbeImageRef {
  id: number;
  /** Population standard deviation of the rater models' predictions. */
  disagreement: number;
  mean: number;
  /** Per model, in the order of `models`. */
  predictions: number[];
}

export interface StoredRaterModels {
  /** The 'rater-models' analysis. */
  id: number;
  createdAt: string;
  run: number | null;
  model: string | null;
  params: { by?: string; head?: string; minRatings?: number; folds?: number; seed?: number };
  models: RaterModelRow[];
  /** The library's rating scale the models predict on; null when the library has none (its ratings are gone). */
  classes: number[] | null;
  /** Images with predictions. */
  images: number;
  /** The images the rater models disagree on most, most disputed first. */
  disputed: RaterModelDispute[];
}

export interface ProbeEmbeddingRun {
  run: number;
  model: string;
  /** Vector length; null when the run holds no vectors. */
  dim: number | null;
  vectors: number;
  status: string;
}

export interface ProbeReports {
  /** Embedding runs a probe can compare, newest first. */
  embeddings: ProbeEmbeddingRun[];
  /** Stored probe reports, newest first. */
  reports: StoredProbeReport[];
  /** Stored rater-model results, newest first. */
  raterModels: StoredRaterModels[];
  /** Per-backbone 'probe' analyses with no report (stored by `miru probe-labels`, which keeps no report). */
  unreportedProbes: number;
  /** Stored results that could not be read (what and why); they are left out above. */
  unreadable: { id: number; reason: string }[];
}
