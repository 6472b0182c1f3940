// Questions answered from an embedding run's nearest neighbours: which images look like this one (`miru
// similar`), which images are unlike everything else (outlier scores, as cleanlab's OutOfDistribution scores
// features: mean distance to the k nearest neighbours), and which images are (near-)copies of each other
// (pairs within a distance threshold joined into groups, plus byte-identical files by content hash, which need
// no embeddings at all).
import path from 'node:path';
import { ImageResolver } from '../library/imageRef.js';
import type { LibraryDb } from '../library/openLibrary.js';
import { saveAnalysis } from './analysisStore.js';
import { listEmbeddingRuns, loadEmbeddings, resolveEmbeddingRun, type EmbeddingMatrix, type EmbeddingRunInfo } from './embeddingMatrix.js';
import { DEFAULT_EF, EXACT_SEARCH_BELOW, exactKnn, knnAll, openHnswIndex, searchHnsw, type KnnMetric, type KnnOptions, type KnnResult } from './knnIndex.js';

export interface ImageLink {
  id: number;
  path: string;
}

/** Absolute file paths of images, as `miru list` prints them. */
export function imagePaths(db: LibraryDb, ids: Iterable<number>): Map<number, string> {
  const stmt = db.prepare<[number], { root: string; rel_path: string }>('SELECT r.path AS root, i.rel_path FROM images i JOIN roots r ON r.id = i.root_id WHERE i.id = ?');
  const out = new Map<number, string>();
  for (const id of ids) {
    const row = stmt.get(id);
    if (row) out.set(id, path.join(row.root, ...row.rel_path.split('/')));
  }
  return out;
}

/**
 * The embedding run a command works on: the one named (id or model name), else the most recently updated run
 * that holds vectors; null when the library has none and none was named.
 */
export function defaultEmbeddingRun(db: LibraryDb, ref?: string): EmbeddingRunInfo | null {
  if (ref !== undefined) return resolveEmbeddingRun(db, ref);
  return listEmbeddingRuns(db).find((r) => r.count > 0) ?? null;
}

/** Row of an image in a matrix (imageIds are ascending), or -1. */
function rowOf(matrix: EmbeddingMatrix, imageId: number): number {
  let lo = 0;
  let hi = matrix.imageIds.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const v = matrix.imageIds[mid];
    if (v === imageId) return mid;
    if (v < imageId) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** One image named the ways other commands accept (relative or absolute path, content hash, id / id:N). */
export function resolveOneImage(db: LibraryDb, ref: string | number): number {
  const found = new ImageResolver(db).resolve(String(ref));
  if (!found.ok) throw new Error(`${found.error[0].toUpperCase()}${found.error.slice(1)}.`);
  if (found.ids.length > 1) {
    throw new Error(`"${ref}" names ${found.ids.length} images (ids ${found.ids.join(', ')}); name one of them as id:N.`);
  }
  return found.ids[0];
}

export interface SimilarOptions extends Pick<KnnOptions, 'metric' | 'exact' | 'ef' | 'hnsw' | 'cacheDir'> {}

export interface SimilarResult {
  image: ImageLink;
  runId: number;
  model: string;
  metric: KnnMetric;
  neighbors: (ImageLink & { distance: number })[];
}

/**
 * The k images of an embedding run nearest to one image (itself excluded), nearest first. Large runs search
 * the run's HNSW index, built once and then loaded from `cacheDir`.
 */
export async function similarImages(db: LibraryDb, runRef: string | number, imageRef: string | number, k: number, options: SimilarOptions = {}): Promise<SimilarResult> {
  const imageId = resolveOneImage(db, imageRef);
  const matrix = loadEmbeddings(db, runRef);
  const row = rowOf(matrix, imageId);
  if (row < 0) {
    throw new Error(`Image ${imageId} (${imageRef}) has no vector in embedding run ${matrix.runId} (${matrix.model}). Run \`miru embed --model ${matrix.model}\` to embed it, or pick another --embedding.`);
  }
  const n = matrix.imageIds.length;
  if (!Number.isInteger(k) || k < 1) throw new Error(`--k must be a whole number of at least 1 (got ${k}).`);
  if (n < 2) throw new Error(`Embedding run ${matrix.runId} (${matrix.model}) holds only this image's vector, so there is nothing to compare it with. Embed more images (\`miru embed --model ${matrix.model}\`) first.`);
  if (k > n - 1) throw new Error(`--k ${k} asks for more neighbours than the run has other images (${n - 1}). Use --k ${n - 1} or less.`);
  const metric = options.metric ?? 'cosine';
  const exact = options.exact ?? n < EXACT_SEARCH_BELOW;
  let found: { indices: Int32Array; distances: Float32Array };
  if (exact) {
    found = exactKnn(matrix, k, { metric }, { rows: [row] });
  } else {
    const hnsw = await openHnswIndex(matrix, { metric, hnsw: options.hnsw, cacheDir: options.cacheDir });
    found = searchHnsw(hnsw, matrix.vectors.subarray(row * matrix.dim, (row + 1) * matrix.dim), k, options.ef ?? Math.max(DEFAULT_EF, 2 * k), row);
  }
  const ids = Array.from(found.indices, (r) => matrix.imageIds[r]);
  const paths = imagePaths(db, [imageId, ...ids]);
  return {
    image: { id: imageId, path: paths.get(imageId) ?? '' },
    runId: matrix.runId,
    model: matrix.model,
    metric,
    // float32 rounding can put a copy a hair below distance 0; a distance is never negative.
    neighbors: ids.map((id, j) => ({ id, path: paths.get(id) ?? '', distance: Math.max(0, found.distances[j]) })),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Outliers

export interface OutlierScores {
  /** Mean distance to the k nearest neighbours, per matrix row: larger is more unusual. */
  meanDistance: Float64Array;
  /**
   * cleanlab's OOD score exp(-meanDistance / median(meanDistance)) in [0, 1]: smaller is more unusual. The
   * median scaling is cleanlab's default (t = 1) and makes the score comparable across runs and metrics.
   */
  score: Float64Array;
  median: number;
  k: number;
}

/** Outlier scores from a kNN graph (self already excluded, as knnAll gives it). */
export function outlierScoresFromKnn(knn: KnnResult, k = knn.k): OutlierScores {
  if (k > knn.k) throw new Error(`Asked for outlier scores over ${k} neighbours from a graph of ${knn.k}.`);
  const n = knn.indices.length / knn.k;
  const meanDistance = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    // Cosine distances of copies can round a hair below 0; a distance is never negative.
    for (let j = 0; j < k; j++) s += Math.max(0, knn.distances[i * knn.k + j]);
    meanDistance[i] = s / k;
  }
  const median = medianOf(meanDistance);
  // cleanlab floors the scale at 100 machine epsilons so a run of identical vectors scores 1, not NaN.
  const scale = Math.max(median, 100 * Number.EPSILON);
  const score = meanDistance.map((d) => Math.exp(-d / scale));
  return { meanDistance, score, median, k };
}

export interface OutlierOptions extends Pick<KnnOptions, 'metric' | 'exact' | 'ef' | 'hnsw' | 'cacheDir' | 'onProgress'> {}

export interface OutlierRunResult {
  analysisId: number;
  runId: number;
  model: string;
  k: number;
  metric: KnnMetric;
  median: number;
  /** Every image of the run, most unusual first. */
  images: (ImageLink & { meanDistance: number; score: number })[];
}

/**
 * Outlier scores of every image in an embedding run, stored as an 'outliers' analysis (value = mean distance to
 * the k nearest neighbours; the cleanlab-style [0, 1] score in the summary's scale).
 */
export async function outlierScores(db: LibraryDb, runRef: string | number, k = 10, options: OutlierOptions = {}): Promise<OutlierRunResult> {
  const matrix = loadEmbeddings(db, runRef);
  const n = matrix.imageIds.length;
  if (!Number.isInteger(k) || k < 1) throw new Error(`--k must be a whole number of at least 1 (got ${k}).`);
  if (n < 2) throw new Error(`Outlier scores compare each image with its neighbours, but embedding run ${matrix.runId} has ${n} vector. Embed more images first.`);
  if (k > n - 1) throw new Error(`--k ${k} needs more than ${k} images with vectors; embedding run ${matrix.runId} has ${n}. Use --k ${n - 1} or less.`);
  const metric = options.metric ?? 'cosine';
  const knn = await knnAll(matrix, k, { ...options, metric });
  const scores = outlierScoresFromKnn(knn);
  const analysisId = saveAnalysis(db, {
    kind: 'outliers',
    sourceRunId: matrix.runId,
    params: { k, metric },
    summary: { count: n, median: scores.median, model: matrix.model, score: 'value = mean distance to the k nearest neighbours; exp(-value / median) is cleanlab\'s OOD score' },
    values: Array.from(matrix.imageIds, (imageId, i) => ({ imageId, value: scores.meanDistance[i] })),
  });
  const paths = imagePaths(db, matrix.imageIds);
  const images = Array.from(matrix.imageIds, (id, i) => ({ id, path: paths.get(id) ?? '', meanDistance: scores.meanDistance[i], score: scores.score[i] }));
  images.sort((a, b) => b.meanDistance - a.meanDistance || a.id - b.id);
  return { analysisId, runId: matrix.runId, model: matrix.model, k, metric, median: scores.median, images };
}

// ---------------------------------------------------------------------------------------------------------------
// Duplicates

/** Union-find with path halving and union by size: near-linear grouping of millions of pairs. */
export class DisjointSets {
  private readonly parent: Int32Array;
  private readonly size: Int32Array;
  constructor(n: number) {
    this.parent = Int32Array.from({ length: n }, (_, i) => i);
    this.size = new Int32Array(n).fill(1);
  }
  find(x: number): number {
    while (this.parent[x] !== x) {
      this.parent[x] = this.parent[this.parent[x]];
      x = this.parent[x];
    }
    return x;
  }
  union(a: number, b: number): void {
    let ra = this.find(a);
    let rb = this.find(b);
    if (ra === rb) return;
    if (this.size[ra] < this.size[rb]) [ra, rb] = [rb, ra];
    this.parent[rb] = ra;
    this.size[ra] += this.size[rb];
  }
  /** Sets with more than one member, each ascending, ordered by their smallest member. */
  groups(): number[][] {
    const byRoot = new Map<number, number[]>();
    for (let i = 0; i < this.parent.length; i++) {
      const r = this.find(i);
      if (this.size[r] < 2) continue;
      const list = byRoot.get(r);
      if (list) list.push(i);
      else byRoot.set(r, [i]);
    }
    return [...byRoot.values()].sort((a, b) => a[0] - b[0]);
  }
}

/** Groups of byte-identical indexed images (same content hash), ids ascending. */
export function exactDuplicateGroups(db: LibraryDb): number[][] {
  const rows = db
    .prepare<[], { ids: string }>(
      `SELECT group_concat(id) AS ids FROM (SELECT id, content_hash FROM images WHERE status = 'ok' AND content_hash IS NOT NULL ORDER BY id)
       GROUP BY content_hash HAVING count(*) > 1`,
    )
    .all();
  return rows.map((r) => r.ids.split(',').map(Number).sort((a, b) => a - b)).sort((a, b) => a[0] - b[0]);
}

export interface NearDuplicateGroup {
  /** Image ids, ascending. */
  ids: number[];
  /** The largest distance between two members joined directly; every such link is within the threshold. */
  maxDistance: number;
}

/**
 * Without --threshold, near-duplicates are pairs closer than this fraction of the run's median distance from an
 * image to its nearest neighbour. A fixed cosine threshold does not carry across models: the bundled ConvNeXt's
 * non-negative pooled features put unrelated images 0.02 apart, while CLIP puts them 0.2 apart; resized and
 * re-encoded copies sit one to two orders of magnitude closer than typical neighbours in both.
 */
export const AUTO_THRESHOLD_FRACTION = 0.1;

/** Neighbours looked at per image; a bigger cluster of copies is still joined through its members' links. */
export const DUPLICATE_NEIGHBOURS = 10;

export function checkThreshold(threshold: number, metric: KnnMetric): void {
  if (!Number.isFinite(threshold) || threshold < 0) throw new Error(`--threshold must be a distance of 0 or more (got ${threshold}).`);
  if (metric === 'cosine' && threshold > 2) throw new Error(`--threshold ${threshold} is outside [0, 2], the range of cosine distance (1 - cos).`);
}

/** Median over rows of the distance to the nearest other row. */
export function medianNearestDistance(knn: KnnResult): number {
  return medianOf(Float64Array.from({ length: knn.indices.length / knn.k }, (_, i) => Math.max(0, knn.distances[i * knn.k])));
}

function medianOf(values: Float64Array): number {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  return n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

/**
 * Slack on the threshold: distances come from float32 vectors (and HNSW computes in float32), so identical
 * vectors can sit 1e-7 apart rather than at 0, and --threshold 0 must still join them.
 */
const DISTANCE_ROUNDING = 1e-6;

/** Near-duplicate groups among matrix rows: kNN pairs within `threshold` joined by union-find. */
export function nearDuplicateGroupsFromKnn(knn: KnnResult, threshold: number): { rows: number[]; maxDistance: number }[] {
  const n = knn.indices.length / knn.k;
  const limit = threshold + DISTANCE_ROUNDING;
  const sets = new DisjointSets(n);
  const linkMax = new Float64Array(n);
  const links: [number, number, number][] = [];
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < knn.k; j++) {
      const d = Math.max(0, knn.distances[i * knn.k + j]);
      // Neighbours are sorted, so the first one past the threshold ends this row.
      if (d > limit) break;
      links.push([i, knn.indices[i * knn.k + j], d]);
      sets.union(i, knn.indices[i * knn.k + j]);
    }
  }
  for (const [a, , d] of links) {
    const r = sets.find(a);
    if (d > linkMax[r]) linkMax[r] = d;
  }
  return sets.groups().map((rows) => ({ rows, maxDistance: linkMax[sets.find(rows[0])] }));
}

export interface DuplicatesOptions extends Pick<KnnOptions, 'metric' | 'exact' | 'ef' | 'hnsw' | 'cacheDir' | 'onProgress'> {
  /** Largest distance between near-duplicates; unset: AUTO_THRESHOLD_FRACTION × the median nearest-neighbour distance. */
  threshold?: number;
  /** Neighbours per image searched for near-duplicates. */
  k?: number;
}

export interface DuplicatesResult {
  analysisId: number;
  /** The embedding run used for near-duplicates; null when the library has none (content hashes only). */
  embedding: { runId: number; model: string } | null;
  /** The threshold used: the one given, or the automatic one; null without embeddings. */
  threshold: number | null;
  thresholdSource: 'given' | 'auto' | null;
  metric: KnnMetric;
  exact: number[][];
  near: NearDuplicateGroup[];
  /** Stored groups: exact and near links together, numbered from 1 in the order of their smallest image id. */
  groups: number[][];
}

/**
 * Exact duplicates by content hash and, given an embedding run, near-duplicates by embedding distance. Stored
 * as one 'near-duplicates' analysis whose per-image value is the id of the image's group, where a group joins
 * images linked either way (byte-identical or within the threshold).
 */
export async function findDuplicates(db: LibraryDb, runRef: string | number | null, options: DuplicatesOptions = {}): Promise<DuplicatesResult> {
  const metric = options.metric ?? 'cosine';
  if (options.threshold !== undefined) checkThreshold(options.threshold, metric);
  let threshold: number | null = null;
  const exact = exactDuplicateGroups(db);
  let near: NearDuplicateGroup[] = [];
  let embedding: DuplicatesResult['embedding'] = null;
  let k = 0;
  if (runRef !== null) {
    const matrix = loadEmbeddings(db, runRef);
    embedding = { runId: matrix.runId, model: matrix.model };
    const n = matrix.imageIds.length;
    k = Math.min(options.k ?? DUPLICATE_NEIGHBOURS, n - 1);
    // One vector has no neighbour: no near-duplicates, but a given threshold is still the one reported.
    threshold = options.threshold ?? null;
    if (k >= 1) {
      const knn = await knnAll(matrix, k, { ...options, metric });
      threshold = options.threshold ?? AUTO_THRESHOLD_FRACTION * medianNearestDistance(knn);
      near = nearDuplicateGroupsFromKnn(knn, threshold).map((g) => ({ ids: g.rows.map((r) => matrix.imageIds[r]), maxDistance: g.maxDistance }));
    }
  }

  // Join both kinds of link over image ids for the stored groups.
  const allIds = [...new Set([...exact.flat(), ...near.flatMap((g) => g.ids)])].sort((a, b) => a - b);
  const slot = new Map(allIds.map((id, i) => [id, i]));
  const sets = new DisjointSets(allIds.length);
  for (const g of [...exact, ...near.map((x) => x.ids)]) for (const id of g.slice(1)) sets.union(slot.get(g[0])!, slot.get(id)!);
  const groups = sets.groups().map((g) => g.map((i) => allIds[i]));

  const analysisId = saveAnalysis(db, {
    kind: 'near-duplicates',
    sourceRunId: embedding?.runId ?? null,
    params: embedding ? { threshold: options.threshold ?? 'auto', metric, k } : { method: 'content-hash' },
    summary: { threshold, exactGroups: exact.length, nearGroups: near.length, groups: groups.length, images: allIds.length, model: embedding?.model ?? null },
    values: groups.flatMap((ids, g) => ids.map((imageId) => ({ imageId, value: g + 1 }))),
  });
  return { analysisId, embedding, threshold, thresholdSource: options.threshold !== undefined ? 'given' : threshold === null ? null : 'auto', metric, exact, near, groups };
}
