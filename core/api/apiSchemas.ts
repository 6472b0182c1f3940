/**
 * Runtime schemas for every MiruApi method's input (issue 5). Both hosts pass whatever arrived over IPC or HTTP
 * through `parseApiInput` before a method runs: unknown methods, unknown keys, wrong types and oversized values
 * (long strings, long arrays, big pages) are refused with an ApiInputError that names the field, so a bad or
 * hostile request never reaches the library. The schemas are strict objects: a misspelt key is an error, not a
 * silently ignored option.
 */
import { z } from 'zod';
import type { RaterReportInput } from './types/raterReport.js';
import type { IssueItemsInput } from './types/issues.js';
import { FILTER_BY, RANK_BY } from '../analysis/confidentLearning.js';
import type { AddModelInput, ApiMethod, CountInput, FieldValuesInput, SaveSelectionInput, HistogramInput, ListImagesInput, MiruApi, SaliencyInput, SavedView, StartJobInput, TagInput } from './apiTypes.js';

/** A request the API refuses before running anything; `field` is the offending input path (`filters[3]`, `ids`). */
export class ApiInputError extends Error {
  readonly status = 400;
  constructor(
    readonly method: string,
    readonly field: string,
    why: string,
  ) {
    super(`${method}: invalid ${field || 'input'}: ${why}`);
    this.name = 'ApiInputError';
  }
}

/** The thing asked for does not exist (an image id, a stored map with compute: false, an analysis). */
export class ApiNotFoundError extends Error {
  readonly status = 404;
  constructor(message: string) {
    super(message);
    this.name = 'ApiNotFoundError';
  }
}

export const API_LIMITS = {
  /** Images per listImages page (queryImages' MAX_PAGE_SIZE). */
  pageSize: 1000,
  filters: 64,
  filterLength: 512,
  sortLength: 200,
  cursorLength: 2048,
  nameLength: 200,
  pathLength: 4096,
  bins: 200,
  /** Image ids in one tagImages call (a whole selection; at most about 1.7 MB of JSON, under inputSize.ts's cap). */
  ids: 100_000,
  tagsPerCall: 16,
  tagLength: 64,
  views: 200,
  viewQueryLength: 8192,
  roots: 64,
  /** Vertices of one lasso polygon. */
  polygonVertices: 4096,
  batch: 1024,
} as const;

const id = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const name = z.string().trim().min(1).max(API_LIMITS.nameLength);
const filePath = z.string().min(1).max(API_LIMITS.pathLength).refine((s) => !s.includes('\0'), 'must not contain NUL characters');
const filters = z.array(z.string().max(API_LIMITS.filterLength)).max(API_LIMITS.filters);
const sort = z.string().min(1).max(API_LIMITS.sortLength);
const tag = z.string().max(API_LIMITS.tagLength);
const empty = z.strictObject({});
const ep = z.enum(['auto', 'cuda', 'dml', 'webgpu', 'coreml', 'cpu']);

const listImages = z.strictObject({
  filters,
  sort: sort.optional(),
  limit: z.number().int().min(1).max(API_LIMITS.pageSize),
  after: z.string().max(API_LIMITS.cursorLength).nullable().optional(),
  offset: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable().optional(),
  scoreModel: name.nullable().optional(),
});

const countImages = z.strictObject({ filters });

const histogram = z.strictObject({
  field: z.string().min(1).max(API_LIMITS.sortLength),
  filters,
  bins: z.number().int().min(1).max(API_LIMITS.bins),
});

const tagImages = z
  .strictObject({
    ids: z.array(id).min(1).max(API_LIMITS.ids),
    add: z.array(tag).max(API_LIMITS.tagsPerCall).optional(),
    remove: z.array(tag).max(API_LIMITS.tagsPerCall).optional(),
  })
  .refine((t) => (t.add?.length ?? 0) + (t.remove?.length ?? 0) > 0, { message: 'name at least one tag to add or remove', path: ['add'] });

const addModel = z.strictObject({
  file: filePath,
  name: name.optional(),
  preset: z.enum(['imagenet', 'clip', 'wd-tagger', 'deepghs-aesthetic']).optional(),
  cardFile: filePath.optional(),
});

const saliency = z.strictObject({
  imageId: id,
  model: name,
  method: z.string().min(1).max(64),
  layer: z.string().min(1).max(API_LIMITS.pathLength).optional(),
  target: z.string().min(1).max(API_LIMITS.nameLength).optional(),
  compute: z.boolean().optional(),
});

/** Per-kind job parameters (StartJobInput.params), checked after the kind. */
export const JOB_PARAMS = {
  index: z.strictObject({
    roots: z.array(filePath).min(1).max(API_LIMITS.roots),
    retryErrors: z.boolean().optional(),
  }),
  score: z.strictObject({
    model: name,
    batch: z.number().int().min(1).max(API_LIMITS.batch).optional(),
    ep: ep.optional(),
    force: z.boolean().optional(),
  }),
  embed: z.strictObject({
    model: name,
    batch: z.number().int().min(1).max(API_LIMITS.batch).optional(),
    ep: ep.optional(),
    output: name.optional(),
    layer: z.string().min(1).max(API_LIMITS.pathLength).optional(),
    pool: z.enum(['mean', 'cls', 'none']).optional(),
    normalize: z.boolean().optional(),
    force: z.boolean().optional(),
  }),
  explain: z.strictObject({
    model: name,
    method: z.string().min(1).max(64),
    layer: z.string().min(1).max(API_LIMITS.pathLength).optional(),
    target: z.string().min(1).max(API_LIMITS.nameLength).optional(),
    filters: filters.optional(),
    limit: z.number().int().min(1).max(10_000_000).optional(),
    force: z.boolean().optional(),
    ep: ep.optional(),
  }),
  project: z.strictObject({
    /** An embedding run id or a model name (its latest embedding run). */
    embedding: name,
    method: z.enum(['umap', 'pca']),
    neighbors: z.number().int().min(2).max(200).optional(),
    minDist: z.number().min(0).max(1).optional(),
    seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
  }),
  outliers: z.strictObject({ embedding: name, k: z.number().int().min(1).max(1000).optional() }),
  duplicates: z.strictObject({ embedding: name.optional(), threshold: z.number().min(0).max(2).optional() }),
  raters: z.strictObject({
    clusters: z.union([z.number().int().min(1).max(50), z.literal('auto')]).optional(),
    consensus: z.enum(['mean', 'median', 'crowdlab']).optional(),
    model: name.optional(),
    saveGroups: z.boolean().optional(),
  }),
  'pseudo-labels': z.strictObject({
    method: z.enum(['propagation', 'threshold']),
    /** propagation: the embedding run (id or model name); threshold: the model with class probabilities. */
    embedding: name.optional(),
    model: name.optional(),
    k: z.number().int().min(1).max(200).optional(),
    alpha: z.number().gt(0).lt(1).optional(),
    threshold: z.number().gt(0).max(1).optional(),
    holdout: z.number().min(0).lt(1).optional(),
  }),
  // types/probeReport.ts ProbeJobParams; probesApi.ts checks the runs, the target and the tags exist.
  probe: z.strictObject({
    embeddings: z.array(name).min(1).max(16),
    target: z
      .string()
      .trim()
      .max(API_LIMITS.nameLength + 8)
      .regex(/^(consensus|rater:.+|cluster:.+)$/, 'must be consensus, rater:NAME or cluster:GROUP')
      .optional(),
    heads: z.array(z.enum(['ridge', 'logistic', 'ordinal', 'knn'])).min(1).max(4).optional(),
    folds: z.number().int().min(2).max(20).optional(),
    learningCurve: z.array(z.number().int().min(10).max(10_000_000)).max(16).optional(),
    excludeTags: z.array(tag.min(1)).max(API_LIMITS.tagsPerCall).optional(),
  }),
  'rater-models': z.strictObject({
    embedding: name,
    by: z.enum(['rater', 'cluster']).optional(),
    // Below 10 a fold's training part leaves ridge's inner penalty search nothing to work with.
    minRatings: z.number().int().min(10).max(10_000_000).optional(),
    head: z.enum(['ridge', 'ordinal']).optional(),
  }),
  // The options of core/analysis/libraryIssues.ts a person sets in the jobs drawer; analysisJobs.ts checks the run.
  issues: z.strictObject({
    embedding: name,
    head: z.enum(['logistic', 'ordinal']).optional(),
    folds: z.number().int().min(2).max(20).optional(),
    filterBy: z.enum(FILTER_BY).optional(),
    rankBy: z.enum(RANK_BY).optional(),
    imageIssues: z.boolean().optional(),
  }),
} as const;

export type JobParams = { [K in keyof typeof JOB_PARAMS]: z.infer<(typeof JOB_PARAMS)[K]> };

const startJob = z.strictObject({
  kind: z.enum(['index', 'score', 'embed', 'explain', 'project', 'outliers', 'duplicates', 'raters', 'probe', 'rater-models', 'issues', 'pseudo-labels']),
  params: z.record(z.string(), z.unknown()),
});

const view = z.strictObject({
  name: z.string().trim().min(1).max(100),
  query: z.string().max(API_LIMITS.viewQueryLength),
});

/** A stored analysis' id; selections and map colours refer to analyses by it. */
const analysisId = id;

const fieldValues = z.strictObject({ field: z.string().min(1).max(API_LIMITS.sortLength), analysisId });

const saveSelection = z.union([
  z.strictObject({ ids: z.array(id).min(1).max(API_LIMITS.ids) }),
  z.strictObject({
    analysisId,
    polygon: z
      .array(z.number().finite())
      .min(6)
      .max(2 * API_LIMITS.polygonVertices)
      .refine((p) => p.length % 2 === 0, 'a polygon is x, y pairs: an even count of numbers'),
  }),
]);

const raterReport = z.strictObject({
  // More clusters than a person can tell apart is a typo, not a request: 100 bounds the O(k) work per call.
  clusters: z.union([z.literal('auto'), z.number().int().min(1).max(100)]).optional(),
  consensus: z.enum(['mean', 'median', 'crowdlab']).optional(),
  model: name.optional(),
  saveGroups: z.boolean().optional(),
});

const issueItems = z.strictObject({
  category: z.enum(['label-issues', 'outliers', 'near-duplicates', 'rater-disagreement', 'dark', 'light', 'blurry', 'low_information', 'odd_aspect_ratio', 'odd_size', 'grayscale']),
  limit: z.number().int().min(1).max(API_LIMITS.pageSize).optional(),
  offset: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  minScore: z.number().min(0).max(1).optional(),
});

export const API_SCHEMAS = {
  libraryInfo: empty,
  fields: empty,
  listImages,
  countImages,
  histogram,
  imageDetail: z.strictObject({ id }),
  neighbours: z.strictObject({ id, filters, sort: sort.optional() }),
  listTags: empty,
  tagImages,
  listRaters: empty,
  listModels: empty,
  addModel,
  saliency,
  startJob,
  cancelJob: z.strictObject({ id }),
  listJobs: empty,
  listViews: empty,
  saveView: view,
  deleteView: z.strictObject({ name: z.string().trim().min(1).max(100) }),
  listAnalyses: z.strictObject({ kind: z.string().min(1).max(64).optional() }),
  analysisDetail: z.strictObject({ id: analysisId }),
  projectionPoints: z.strictObject({ analysisId }),
  fieldValues,
  saveSelection,
  raterReport,
  probeReports: empty,
  issueSummary: empty,
  issueItems,
} satisfies Record<ApiMethod, z.ZodType>;

// Compile-time checks that each schema accepts exactly what apiTypes.ts declares (up to optional keys), so the
// contract and its runtime check cannot drift apart silently.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Out<M extends ApiMethod> = z.infer<(typeof API_SCHEMAS)[M]>;
const contractChecks: {
  listImages: Same<Out<'listImages'>, ListImagesInput>;
  countImages: Same<Out<'countImages'>, CountInput>;
  histogram: Same<Out<'histogram'>, HistogramInput>;
  tagImages: Same<Out<'tagImages'>, TagInput>;
  addModel: Same<Out<'addModel'>, AddModelInput>;
  saliency: Same<Out<'saliency'>, SaliencyInput>;
  startJob: Same<Out<'startJob'>, StartJobInput>;
  saveView: Same<Out<'saveView'>, SavedView>;
  neighbours: Same<Out<'neighbours'>, Parameters<MiruApi['neighbours']>[0]>;
  fieldValues: Same<Out<'fieldValues'>, FieldValuesInput>;
  saveSelection: Same<Out<'saveSelection'>, SaveSelectionInput>;
  raterReport: Same<Out<'raterReport'>, RaterReportInput>;
  issueItems: Same<Out<'issueItems'>, IssueItemsInput>;
} = { issueItems: true, fieldValues: true, saveSelection: true, raterReport: true,  listImages: true, countImages: true, histogram: true, tagImages: true, addModel: true, saliency: true, startJob: true, saveView: true, neighbours: true };
void contractChecks;

const METHODS: ReadonlySet<string> = new Set(Object.keys(API_SCHEMAS));

export function isApiMethodName(method: unknown): method is ApiMethod {
  return typeof method === 'string' && METHODS.has(method);
}

/** `filters[3]`, `params.roots[0]`: the input path of a schema issue, as a person reads it. */
function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : `${out ? '.' : ''}${String(part)}`;
  return out;
}

function refuse(method: string, prefix: string, error: z.ZodError): never {
  const issue = error.issues[0]!;
  const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
  const path = fieldPath([...(prefix ? [prefix] : []), ...issue.path, ...(keys.length === 1 ? [keys[0]!] : [])]);
  const why = issue.code === 'unrecognized_keys' ? `unknown key${keys.length > 1 ? `s ${keys.join(', ')}` : ''}` : issue.message;
  throw new ApiInputError(method, path, why);
}

/** Checks the method name and its input; returns the input with strings trimmed where the schema says so. */
export function parseApiInput<M extends ApiMethod>(method: M, input: unknown): Parameters<MiruApi[M]>[0];
export function parseApiInput(method: string, input: unknown): unknown;
export function parseApiInput(method: string, input: unknown): unknown {
  if (!isApiMethodName(method)) {
    throw new ApiInputError(typeof method === 'string' ? method.slice(0, 64) : String(method), 'method', `unknown API method; methods: ${[...METHODS].join(', ')}`);
  }
  const result = API_SCHEMAS[method].safeParse(input);
  if (!result.success) refuse(method, '', result.error);
  return result.data;
}

/** Checks a job's parameters against its kind's schema. */
export function parseJobParams<K extends keyof JobParams>(kind: K, params: unknown): JobParams[K] {
  const result = JOB_PARAMS[kind].safeParse(params);
  if (!result.success) refuse('startJob', 'params', result.error);
  return result.data as JobParams[K];
}
