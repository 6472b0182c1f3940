/**
 * What the Raters view receives from `raterReport` (issue 6): the rater analysis (core/analysis/raterAnalysis.ts)
 * plus a 2-D map of the raters (core/analysis/raterEmbedding.ts). Type declarations only, with no imports: the
 * renderer type-checks this file under its own DOM-only tsconfig, where core's runtime modules cannot be seen.
 * These declarations are the only definition of these shapes: core/analysis/raterAnalysis.ts, raterClusters.ts,
 * raterEmbedding.ts and krippendorffAlpha.ts import them (type-only) under their own names.
 */

export type RaterConsensusMethod = 'mean' | 'median' | 'crowdlab';

export type AlphaMetricName = 'nominal' | 'ordinal' | 'interval' | 'ratio';

export interface RaterReportInput {
  /** A number of clusters, or 'auto' (default) to choose k by silhouette. */
  clusters?: number | 'auto';
  /** Default mean, or crowdlab when a model is given. */
  consensus?: RaterConsensusMethod;
  /** A model whose latest score run's class probabilities join the CROWDLAB consensus. */
  model?: string;
  /** Also store the clusters as rater groups cluster-1, cluster-2, ... (unclustered raters lose their group). */
  saveGroups?: boolean;
}

export interface RaterReportRow {
  rater: string;
  count: number;
  /** Spearman with the leave-one-out consensus; null with a note when undefined. */
  spearman: number | null;
  /** Mean offset from the leave-one-out consensus (positive: more generous). */
  bias: number | null;
  /** CROWDLAB rater quality in [0, 1] (agreement with consensus, mixed with label quality when a model is given). */
  quality: number | null;
  /** 1-based cluster id; null when not clustered (a spammer, too little overlap). */
  cluster: number | null;
  spammer: boolean;
  mean: number;
  overlap: number;
  agreementWithConsensus: number | null;
  scale: { min: number; max: number; entropy: number; coverage: number; histogram: { value: number; count: number }[] };
  /** Why a statistic is missing or why the rater is not clustered. */
  notes: string[];
}

export interface RaterReportCluster {
  id: number;
  /** The rater group name saving the clusters stores (cluster-1, ...). */
  name: string;
  raters: string[];
  size: number;
  /** Images at least one member rated, and the mean of the cluster's per-image consensus. */
  images: number;
  meanConsensus: number | null;
}

export interface RaterDendrogramMerge {
  /** scipy linkage numbering: leaves 0..n-1 index `dendrogram.raters`, merge s makes node n+s. */
  left: number;
  right: number;
  height: number;
  size: number;
}

export interface RaterSpammerThresholds {
  /** What the Spearman was measured against: the leave-one-out consensus, or the best-agreeing cluster's. */
  against: 'consensus' | 'best cluster';
  /** Robust lower fence on that Spearman: median − 3 × 1.4826 × MAD over the raters that have one. */
  fence: number | null;
  /** The Spearman below which a rater counts as low: the larger of the fence and half the median. */
  low: number | null;
  median: number | null;
  /** One-sided z (Fisher) of the tests in judgeSpammers: p < 0.01, corrected for the comparisons behind a best-of-k. */
  zCritical: number;
}

export interface RaterAnalysisReport {
  ratings: number;
  images: number;
  raterCount: number;
  alpha: Record<AlphaMetricName, number | null>;
  alphaDetail: { pairableUnits: number; pairableValues: number; values: number[]; notes: Partial<Record<AlphaMetricName, string>> };
  raters: RaterReportRow[];
  clusters: RaterReportCluster[];
  /** Pairwise quadratic weighted kappa in `raters` order (null: fewer than minCommon shared images). */
  kappa: { raters: string[]; minCommon: number; labels: number[]; matrix: (number | null)[][]; common: number[][] };
  /** Over the clustered raters only; leafOrder is the heatmap's row order. */
  dendrogram: { raters: string[]; merges: RaterDendrogramMerge[]; leafOrder: string[] };
  clustering: {
    k: number;
    requested: number | 'auto';
    silhouette: number | null;
    silhouettes: { k: number; silhouette: number | null }[];
    /** Mean shrunk Spearman between raters of one cluster and of different clusters. */
    separation: { within: number | null; between: number | null };
    shrinkage: number;
    excluded: { rater: string; reason: string }[];
  };
  spammers: { raters: string[]; thresholds: RaterSpammerThresholds };
  consensus: {
    method: RaterConsensusMethod;
    images: number;
    model: { name: string; runId: number; weight: number | null } | null;
    meanQuality: number | null;
    analysisId?: number;
  };
  stratified: {
    images: number;
    weights: { cluster: number; weight: number }[];
    /** Spearman between the stratified and the plain mean consensus over images both cover. */
    spearmanWithMean: number | null;
    analysisId?: number;
  } | null;
  savedGroups?: { set: number; cleared: number; unchanged: number };
  notes: string[];
}

/** Classical MDS of the raters' kappa-profile distances: raters with the same taste sit together. */
export interface RaterMap {
  method: 'classical-mds';
  /** What the points' distances are. */
  distance: 'kappa-profile';
  shrinkage: number;
  /** One point per embedded rater, in the analysis' rater order. */
  points: { rater: string; x: number; y: number }[];
  /** Share of the spread each axis shows (see raterEmbedding.ts's MdsResult.explained). */
  explained: [number, number];
  /** Raters left off the map, with why. */
  excluded: { rater: string; reason: string }[];
}

export interface RaterReport extends RaterAnalysisReport {
  embedding: RaterMap;
  /** Whether this answer came from the host's memory (same input, ratings unchanged since it was computed). */
  cached: boolean;
  /** How long the analysis took when it was computed. */
  elapsedMs: number;
  computedAt: string;
}
