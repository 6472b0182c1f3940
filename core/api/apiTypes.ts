/**
 * The typed contract between the workbench UI and its hosts (issue 5). Both hosts (Electron IPC and `miru serve`
 * over HTTP) bind one object implementing MiruApi; the renderer imports these types only, never core's code.
 * Every method takes one JSON-serialisable input object and returns a JSON-serialisable result (binary maps and
 * embeddings travel as base64 Float32 in `*F32` fields), so the same calls work over IPC and HTTP. Inputs are
 * checked at runtime against the schemas in apiSchemas.ts before any method runs.
 */
import type { RaterReport, RaterReportInput } from './types/raterReport.js';
import type { ProbeReports } from './types/probeReport.js';
import type { IssueItemsInput, IssueItemsResult, IssueSummary } from './types/issues.js';

/** A filter on the image list, as `miru list --filter` spells it (e.g. "ratingMean>=3", "tag=outlier", "score:miru-vit-s>=3.5"). */
export type FilterExpression = string;

export interface ListImagesInput {
  /** At most 64, each at most 512 characters. */
  filters: FilterExpression[];
  /** "field" or "-field" (descending), e.g. "-score:miru-vit-s", "brightness". Default: id order. */
  sort?: string;
  /** 1..1000. */
  limit: number;
  /** The `next` cursor of the previous page. */
  after?: string | null;
  /**
   * Start the page at this 0-based rank of the listing instead (a jump: the grid's scrollbar dragged far ahead),
   * without walking the pages before it; the rows are exactly those walking would reach. Not with `after`.
   */
  offset?: number | null;
  /** The model whose latest score each row carries (badges). */
  scoreModel?: string | null;
}

export interface ImageSummary {
  id: number;
  relPath: string;
  width: number | null;
  height: number | null;
  /** Content hash: thumbnails are served as /thumb/<hash>. */
  hash: string | null;
  ratingMean: number | null;
  ratingCount: number;
  tags: string[];
  /** The latest score of `scoreModel`, when asked for. */
  score: number | null;
  status: 'ok' | 'error' | 'missing';
}

export interface ImagePageResult {
  items: ImageSummary[];
  next: string | null;
}

export interface CountInput {
  filters: FilterExpression[];
}

export interface HistogramInput {
  /** A numeric field ("brightness", "ratingMean", "score:miru-vit-s", ...). */
  field: string;
  /**
   * The current filters. Filters on `field` itself are left out (the histogram shows the field's distribution
   * under the other filters, so the selected range can be drawn on top); pass the full filter list.
   */
  filters: FilterExpression[];
  /** 1..200. */
  bins: number;
}

export interface HistogramResult {
  field: string;
  /** The field's range over the images of the status filter (default ok): the axis stays put as filters change. */
  min: number | null;
  max: number | null;
  /**
   * bins + 1 edges, bins counts; bin i counts edges[i] <= v < edges[i+1] (the last bin includes its top edge);
   * images without a value are counted in `missing`. No values at all: min/max null, edges [].
   */
  edges: number[];
  counts: number[];
  missing: number;
}

export interface FieldInfo {
  /** Name used in filters and sort. */
  name: string;
  label: string;
  group: 'image' | 'statistics' | 'ratings' | 'scores';
}

export interface ImageDetail extends ImageSummary {
  path: string;
  /** Why the image could not be read (status 'error'), else null. */
  error: string | null;
  bytes: number;
  format: string | null;
  stats: Record<string, number | boolean | null>;
  ratings: { rater: string; value: number }[];
  scores: { model: string; run: number; score: number; probs: number[] | null; labels: string[] | null; topLabels: { label: string; p: number }[] | null }[];
}

export interface TagInput {
  ids: number[];
  add?: string[];
  remove?: string[];
}

export interface TagResult {
  /**
   * Per tag named in the call, the ids whose tag set changed: for `add`, the images that did not have it yet;
   * for `remove`, those that had it. Undo is the opposite call with exactly these ids.
   */
  changed: Record<string, number[]>;
}

export interface ModelSummary {
  name: string;
  path: string;
  card: unknown;
  /** The provider its last run used, if any. */
  provider: string | null;
  scoredImages: number;
}

/** A model just added; `replaced` says where an earlier version under the same name and its results were kept. */
export interface AddedModel extends ModelSummary {
  replaced: { keptAs: string; runs: number; saliencyMaps: number } | null;
}

export interface AddModelInput {
  file: string;
  name?: string;
  preset?: 'imagenet' | 'clip' | 'wd-tagger' | 'deepghs-aesthetic';
  cardFile?: string;
}

export interface SaliencyInput {
  imageId: number;
  model: string;
  method: string;
  layer?: string;
  target?: string;
  /** Compute when nothing is stored (default true); false only reads the cache (nothing stored: a 404 error). */
  compute?: boolean;
}

export interface SaliencyResultDto {
  method: string;
  layer: string;
  target: string;
  score: number | null;
  grid: [number, number];
  /** base64 little-endian Float32, 0..1, row-major at grid resolution. */
  mapF32: string;
  /** True when the map is flat (e.g. all zero after ReLU): nothing at the layer raises the target. */
  empty: boolean;
  cached: boolean;
  elapsedMs: number | null;
}

export type JobKind = 'index' | 'score' | 'embed' | 'explain' | 'project' | 'outliers' | 'duplicates' | 'raters' | 'probe' | 'rater-models' | 'issues' | 'pseudo-labels';

export interface StartJobInput {
  kind: JobKind;
  /**
   * Checked per kind (apiSchemas.ts JOB_PARAMS; unknown keys are refused):
   * index: { roots: string[], retryErrors? }; score: { model, batch?, ep?, force? };
   * embed: { model, batch?, ep?, output?, layer?, pool?: 'mean'|'cls'|'none', normalize?, force? };
   * explain: { model, method, layer?, target?, filters?: FilterExpression[], limit?, force?, ep? };
   * project: { embedding (run id or model name), method: 'umap'|'pca', neighbors?, minDist?, seed? };
   * outliers: { embedding, k? }; duplicates: { embedding?, threshold? };
   * raters: { clusters?: K|'auto', consensus?: 'mean'|'median'|'crowdlab', model?, saveGroups? };
   * probe: { embeddings: (run id or model name)[], target?: 'consensus'|'rater:R'|'cluster:C', heads?, folds?,
   *   learningCurve?: number[], excludeTags?: string[] } (stores a 'probe-report'; types/probeReport.ts);
   * rater-models: { embedding, by?: 'rater'|'cluster', minRatings?, head?: 'ridge'|'ordinal' };
   * issues: { embedding, head?: 'logistic'|'ordinal', folds?, filterBy?, rankBy?, imageIssues? } (label issues and
   *   odd images, as `miru issues`);
   * pseudo-labels: { method: 'propagation'|'threshold', embedding? (propagation), model? (threshold), k?, alpha?,
   *   threshold?, holdout? } (as `miru pseudo-labels`).
   */
  params: Record<string, unknown>;
}

export interface JobInfo {
  id: number;
  kind: JobKind;
  status: 'running' | 'done' | 'failed' | 'cancelled';
  /**
   * While running: 'queued' (jobs run one at a time, in order), 'starting', then the core function's phase
   * ('scan', 'index', 'infer', 'explain'), or 'cancelling'; after: 'done', 'cancelled', or the phase it failed in.
   */
  phase: string;
  done: number;
  total: number | null;
  startedAt: string;
  /** Estimated seconds left from the rate so far; null while unknown. */
  secondsLeft: number | null;
  error: string | null;
  /** Per-file failures (path, error), capped. */
  failures: { path: string; error: string }[];
  summary: unknown;
}

export interface SavedView {
  name: string;
  /** The UI's filter/sort state, as it appears in the URL query. */
  query: string;
}

export type MiruEvent =
  | { type: 'job'; job: JobInfo }
  | { type: 'library-changed'; what: 'images' | 'tags' | 'ratings' | 'scores' | 'models' | 'saliency' | 'analyses'; ids?: number[] };

/** Every call the UI can make. */
export interface MiruApi {
  libraryInfo(input: Record<string, never>): Promise<{ path: string; images: number; errors: number; missing: number; raters: number; ratings: number; tags: number; roots: string[]; schemaVersion: number }>;
  fields(input: Record<string, never>): Promise<FieldInfo[]>;
  listImages(input: ListImagesInput): Promise<ImagePageResult>;
  countImages(input: CountInput): Promise<{ count: number }>;
  histogram(input: HistogramInput): Promise<HistogramResult>;
  imageDetail(input: { id: number }): Promise<ImageDetail>;
  /** Neighbours in the current list order, for previous/next. */
  neighbours(input: { id: number; filters: FilterExpression[]; sort?: string }): Promise<{ previous: number | null; next: number | null }>;
  listTags(input: Record<string, never>): Promise<{ tag: string; count: number }[]>;
  tagImages(input: TagInput): Promise<TagResult>;
  listRaters(input: Record<string, never>): Promise<{ name: string; ratings: number; group: string | null }[]>;
  listModels(input: Record<string, never>): Promise<ModelSummary[]>;
  addModel(input: AddModelInput): Promise<AddedModel>;
  saliency(input: SaliencyInput): Promise<SaliencyResultDto>;
  startJob(input: StartJobInput): Promise<JobInfo>;
  cancelJob(input: { id: number }): Promise<JobInfo>;
  listJobs(input: Record<string, never>): Promise<JobInfo[]>;
  listViews(input: Record<string, never>): Promise<SavedView[]>;
  saveView(input: SavedView): Promise<SavedView[]>;
  deleteView(input: { name: string }): Promise<SavedView[]>;
  /** Stored analyses, newest first, optionally of one kind. */
  listAnalyses(input: { kind?: string }): Promise<AnalysisInfo[]>;
  analysisDetail(input: { id: number }): Promise<AnalysisDetail>;
  projectionPoints(input: { analysisId: number }): Promise<ProjectionPoints>;
  fieldValues(input: FieldValuesInput): Promise<FieldValues>;
  /** Stores a set of images as a selection that the `selection=ID` filter lists (see SaveSelectionInput). */
  saveSelection(input: SaveSelectionInput): Promise<{ id: number; count: number }>;
  /** The rater analysis with a map of the raters, kept by the host until the ratings change (types/raterReport.ts). */
  raterReport(input: RaterReportInput): Promise<RaterReport>;
  /** Stored probe reports and rater models, newest first, with the embedding runs a probe can use (types/probeReport.ts). */
  probeReports(input: Record<string, never>): Promise<ProbeReports>;
  /** Every data-quality category (label issues, outliers, duplicates, odd images...) with its flagged count (types/issues.ts). */
  issueSummary(input: Record<string, never>): Promise<IssueSummary>;
  /** One category's images, strongest issue first, a page at a time. */
  issueItems(input: IssueItemsInput): Promise<IssueItemsResult>;
}

export type ApiMethod = keyof MiruApi;

// ------------------------------------------------------------------------------------------ analysis (issue 6)

/** A stored analysis (core/analysis/analysisStore.ts): a projection, outlier scores, label issues, consensus... */
export interface AnalysisInfo {
  id: number;
  kind: string;
  /** The embedding run it was computed from, and that run's model; null for analyses of ratings alone. */
  sourceRunId: number | null;
  model: string | null;
  params: Record<string, unknown>;
  createdAt: string;
  /** Images with a stored value. */
  count: number;
  /** Why it may be out of date (its images or ratings changed since it was computed); empty when current. */
  stale: string[];
}

export interface AnalysisDetail extends AnalysisInfo {
  summary: Record<string, unknown>;
}

/** A projection's points as raw typed arrays (IPC clones them; HTTP sends a binary frame, core/api/binaryFrame.ts). */
export interface ProjectionPoints {
  analysisId: number;
  /** Point i is image ids[i] at (xy[2i], xy[2i+1]). */
  ids: Int32Array;
  xy: Float32Array;
}

export interface FieldValuesInput {
  /**
   * What to colour by: a numeric field as filters name it ("ratingMean", "brightness", "score:miru-vit-s"),
   * "tag:NAME" (1 where tagged, else 0), "analysis:ID" (a stored analysis' per-image value) or
   * "raterGroup:NAME" (the mean rating of that group's raters).
   */
  field: string;
  /** Values come aligned to this analysis' image order (a projection's ids). */
  analysisId: number;
}

export interface FieldValues {
  field: string;
  /** values[i] belongs to the analysis' i-th image; NaN where the image has no value. */
  values: Float32Array;
  /** 'binary' for 0/1 fields (tags), else 'numeric'. */
  scale: 'numeric' | 'binary';
}

/**
 * A selection: either ids (a grid selection, at most API_LIMITS.ids) or a lasso polygon over a projection's
 * coordinates, which the host resolves against the stored points (a lasso may hold a million points, far more
 * than a request body should carry). Points on the polygon's inside by the even-odd rule are selected.
 */
export type SaveSelectionInput = { ids: number[] } | { analysisId: number; polygon: number[] };
