// k nearest neighbours of every embedding in a run: the graph that UMAP, outlier scores, near-duplicates and label
// propagation are built on. Small runs use exact blocked brute force (also the oracle the tests and the benchmark
// measure the approximate index against); large runs use an HNSW index (hnswlib-node), cached on disk beside the
// library so `miru similar` loads it instead of rebuilding it on every query.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import hnswlib from 'hnswlib-node';
import type { ProgressListener } from '../jobs/progress.js';
import type { EmbeddingMatrix } from './embeddingMatrix.js';

export type KnnMetric = 'cosine' | 'l2';

/** Row i's neighbours are indices[i*k .. i*k+k), nearest first; rows are matrix rows, not image ids. */
export interface KnnResult {
  k: number;
  indices: Int32Array;
  distances: Float32Array;
}

/** The vectors a kNN search works on: an EmbeddingMatrix or any row-major n×dim block. */
export type KnnInput = Pick<EmbeddingMatrix, 'vectors' | 'dim'> & Partial<Pick<EmbeddingMatrix, 'runId' | 'imageIds'>>;

export interface HnswParams {
  /** Graph degree; 16 is hnswlib's recommendation for 100-1000 dimensions. */
  m: number;
  /** Candidate list while building; higher builds slower and gives a better graph. */
  efConstruction: number;
}

export interface KnnOptions {
  /** 'cosine' (distance 1 - cos; the default: embedding heads are compared by angle) or 'l2' (Euclidean). */
  metric?: KnnMetric;
  /** true: brute force; false: HNSW; unset: brute force below EXACT_SEARCH_BELOW vectors, HNSW above. */
  exact?: boolean;
  /** HNSW query candidate list (≥ k); larger is slower and more accurate. */
  ef?: number;
  hnsw?: Partial<HnswParams>;
  /** Where to keep built HNSW indexes (normally `<cacheDirFor(db)>/knn`); without it the index lives in memory only. */
  cacheDir?: string;
  /**
   * Progress of the long steps: 'build' (HNSW insertions) and 'search' (queries answered). A plain callback
   * rather than a ProgressListener so callers can fold it into their own job's events.
   */
  onProgress?: (phase: 'build' | 'search', done: number, total: number) => void;
}

/** Queries for exactKnn other than "every row": matrix rows (which exclude themselves) or outside vectors. */
export type KnnQueries = { rows: ArrayLike<number> } | { vectors: Float32Array };

/** Below this many vectors brute force takes about a second and needs no index. */
export const EXACT_SEARCH_BELOW = 2000;
/**
 * Defaults measured with bench/analysis/embeddingBench.ts: recall@10 1.000 against exact search on 100k×512
 * vectors in 200 clusters (noise 1.5), and 3000×48 in the tests. On nearly structureless data (200 heavily
 * overlapping clusters, noise 3, 20k×512) it falls to 0.92 (M 24: 0.95); learned embeddings have far lower
 * intrinsic dimension than that. knnAll raises ef with k so that asking for more neighbours keeps the recall.
 */
export const DEFAULT_HNSW: HnswParams = { m: 16, efConstruction: 200 };
export const DEFAULT_EF = 100;

function checkK(n: number, k: number, excludeSelf: boolean): void {
  if (!Number.isInteger(k) || k < 1) throw new Error(`k must be a whole number of at least 1 (got ${k}).`);
  const most = excludeSelf ? n - 1 : n;
  if (k > most) {
    throw new Error(`k = ${k} neighbours asked for, but the run has only ${n} vectors${excludeSelf ? ` (so at most ${most} other ones)` : ''}. Use a smaller k.`);
  }
}

function rowCount(input: KnnInput): number {
  if (input.dim < 1 || input.vectors.length % input.dim !== 0) {
    throw new Error(`The vectors (${input.vectors.length} values) are not a whole number of rows of ${input.dim} values.`);
  }
  return input.vectors.length / input.dim;
}

/** Unit-length copies of the rows; a zero vector stays zero (cosine distance 1 to everything, as hnswlib does). */
function normalizedRows(vectors: Float32Array, dim: number): Float32Array {
  const out = new Float32Array(vectors.length);
  for (let off = 0; off < vectors.length; off += dim) {
    let sq = 0;
    for (let d = 0; d < dim; d++) sq += vectors[off + d] * vectors[off + d];
    const inv = sq > 0 ? 1 / Math.sqrt(sq) : 0;
    for (let d = 0; d < dim; d++) out[off + d] = vectors[off + d] * inv;
  }
  return out;
}

function squaredNorms(vectors: Float32Array, dim: number): Float64Array {
  const n = vectors.length / dim;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let sq = 0;
    for (let d = 0, off = i * dim; d < dim; d++) sq += vectors[off + d] * vectors[off + d];
    out[i] = sq;
  }
  return out;
}

/**
 * The k smallest (distance, index) pairs seen so far, as a max-heap so each new candidate costs O(1) when it
 * loses and O(log k) when it wins. Ties are broken by the smaller index, so results are deterministic.
 */
class BoundedMaxHeap {
  readonly dist: Float64Array;
  readonly idx: Int32Array;
  size = 0;
  constructor(readonly capacity: number) {
    this.dist = new Float64Array(capacity);
    this.idx = new Int32Array(capacity);
  }
  reset(): void {
    this.size = 0;
  }
  private worse(a: number, b: number): boolean {
    return this.dist[a] > this.dist[b] || (this.dist[a] === this.dist[b] && this.idx[a] > this.idx[b]);
  }
  /** Would (d, i) enter the heap? */
  accepts(d: number, i: number): boolean {
    return this.size < this.capacity || d < this.dist[0] || (d === this.dist[0] && i < this.idx[0]);
  }
  push(d: number, i: number): void {
    if (this.size < this.capacity) {
      let pos = this.size++;
      this.dist[pos] = d;
      this.idx[pos] = i;
      while (pos > 0) {
        const parent = (pos - 1) >> 1;
        if (!this.worse(pos, parent)) break;
        this.swap(pos, parent);
        pos = parent;
      }
      return;
    }
    if (!this.accepts(d, i)) return;
    this.dist[0] = d;
    this.idx[0] = i;
    let pos = 0;
    for (;;) {
      const l = 2 * pos + 1;
      const r = l + 1;
      let largest = pos;
      if (l < this.size && this.worse(l, largest)) largest = l;
      if (r < this.size && this.worse(r, largest)) largest = r;
      if (largest === pos) break;
      this.swap(pos, largest);
      pos = largest;
    }
  }
  private swap(a: number, b: number): void {
    const d = this.dist[a];
    this.dist[a] = this.dist[b];
    this.dist[b] = d;
    const i = this.idx[a];
    this.idx[a] = this.idx[b];
    this.idx[b] = i;
  }
  /** Writes the contents nearest first into the output row. */
  drainSorted(indices: Int32Array, distances: Float32Array, offset: number): void {
    const order = Array.from({ length: this.size }, (_, j) => j).sort((a, b) => this.dist[a] - this.dist[b] || this.idx[a] - this.idx[b]);
    order.forEach((j, rank) => {
      indices[offset + rank] = this.idx[j];
      distances[offset + rank] = this.dist[j];
    });
  }
}

/** Queries handled together, and base rows per tile: a tile of dot products stays in cache. */
const QUERY_BLOCK = 64;
const BASE_BLOCK = 256;

/**
 * Dot products of queries [q0, q1) with base rows [j0, j1) into tile[(q - q0) * BASE_BLOCK + (j - j0)], in double
 * precision. Four queries against two base rows per pass share each loaded value across eight accumulators,
 * about 3.5x faster in V8 than one dot product at a time.
 */
function dotTile(qv: Float32Array, q0: number, q1: number, bv: Float32Array, j0: number, j1: number, dim: number, tile: Float64Array): void {
  let q = q0;
  for (; q + 4 <= q1; q += 4) {
    const o0 = q * dim, o1 = o0 + dim, o2 = o1 + dim, o3 = o2 + dim;
    const t0 = (q - q0) * BASE_BLOCK - j0, t1 = t0 + BASE_BLOCK, t2 = t1 + BASE_BLOCK, t3 = t2 + BASE_BLOCK;
    let j = j0;
    for (; j + 2 <= j1; j += 2) {
      const b0 = j * dim, b1 = b0 + dim;
      let s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0, s31 = 0;
      for (let d = 0; d < dim; d++) {
        const y0 = bv[b0 + d], y1 = bv[b1 + d];
        let x = qv[o0 + d];
        s00 += x * y0; s01 += x * y1;
        x = qv[o1 + d];
        s10 += x * y0; s11 += x * y1;
        x = qv[o2 + d];
        s20 += x * y0; s21 += x * y1;
        x = qv[o3 + d];
        s30 += x * y0; s31 += x * y1;
      }
      tile[t0 + j] = s00; tile[t0 + j + 1] = s01;
      tile[t1 + j] = s10; tile[t1 + j + 1] = s11;
      tile[t2 + j] = s20; tile[t2 + j + 1] = s21;
      tile[t3 + j] = s30; tile[t3 + j + 1] = s31;
    }
    for (; j < j1; j++) for (let r = 0; r < 4; r++) tile[t0 + r * BASE_BLOCK + j] = dot(qv, (q + r) * dim, bv, j * dim, dim);
  }
  for (; q < q1; q++) for (let j = j0; j < j1; j++) tile[(q - q0) * BASE_BLOCK + (j - j0)] = dot(qv, q * dim, bv, j * dim, dim);
}

function dot(a: Float32Array, ao: number, b: Float32Array, bo: number, dim: number): number {
  let s = 0;
  for (let d = 0; d < dim; d++) s += a[ao + d] * b[bo + d];
  return s;
}

/**
 * Exact k nearest neighbours by blocked brute force: for every row of the matrix (self excluded) or for the given
 * queries. Distances are computed in double precision from the float32 vectors. The oracle for knnAll.
 */
export function exactKnn(matrix: KnnInput, k: number, options: Pick<KnnOptions, 'metric' | 'onProgress'> = {}, queries?: KnnQueries): KnnResult {
  const metric = options.metric ?? 'cosine';
  const dim = matrix.dim;
  const n = rowCount(matrix);
  const base = metric === 'cosine' ? normalizedRows(matrix.vectors, dim) : matrix.vectors;
  // Query rows: either rows of the base (self excluded) or outside vectors, prepared the same way as the base.
  let queryVectors: Float32Array;
  let selfRows: Int32Array | null = null;
  if (!queries) {
    queryVectors = base;
    selfRows = Int32Array.from({ length: n }, (_, i) => i);
  } else if ('rows' in queries) {
    selfRows = Int32Array.from(queries.rows);
    queryVectors = new Float32Array(selfRows.length * dim);
    selfRows.forEach((row, q) => {
      if (!Number.isInteger(row) || row < 0 || row >= n) throw new Error(`Query row ${row} is outside the matrix (0..${n - 1}).`);
      queryVectors.set(base.subarray(row * dim, row * dim + dim), q * dim);
    });
  } else {
    if (queries.vectors.length % dim !== 0) throw new Error(`Query vectors (${queries.vectors.length} values) are not whole rows of ${dim} values.`);
    queryVectors = metric === 'cosine' ? normalizedRows(queries.vectors, dim) : queries.vectors;
  }
  const excludeSelf = selfRows !== null;
  checkK(n, k, excludeSelf);
  const qn = queryVectors.length / dim;
  const baseNorms = metric === 'l2' ? squaredNorms(base, dim) : null;
  const queryNorms = metric === 'l2' ? squaredNorms(queryVectors, dim) : null;
  const indices = new Int32Array(qn * k);
  const distances = new Float32Array(qn * k);
  const heaps = Array.from({ length: QUERY_BLOCK }, () => new BoundedMaxHeap(k));
  const tile = new Float64Array(QUERY_BLOCK * BASE_BLOCK);

  for (let q0 = 0; q0 < qn; q0 += QUERY_BLOCK) {
    const q1 = Math.min(qn, q0 + QUERY_BLOCK);
    for (const h of heaps) h.reset();
    for (let j0 = 0; j0 < n; j0 += BASE_BLOCK) {
      const j1 = Math.min(n, j0 + BASE_BLOCK);
      dotTile(queryVectors, q0, q1, base, j0, j1, dim, tile);
      for (let q = q0; q < q1; q++) {
        const heap = heaps[q - q0];
        const self = excludeSelf ? selfRows![q] : -1;
        const t = (q - q0) * BASE_BLOCK - j0;
        for (let j = j0; j < j1; j++) {
          if (j === self) continue;
          const s = tile[t + j];
          // Clamp: rounding can make |x|²+|y|²-2x·y slightly negative for (near) duplicates.
          const dist = metric === 'cosine' ? 1 - s : Math.sqrt(Math.max(0, queryNorms![q] + baseNorms![j] - 2 * s));
          if (heap.accepts(dist, j)) heap.push(dist, j);
        }
      }
    }
    for (let q = q0; q < q1; q++) heaps[q - q0].drainSorted(indices, distances, q * k);
    options.onProgress?.('search', q1, qn);
  }
  return { k, indices, distances };
}

// ---------------------------------------------------------------------------------------------------------------
// HNSW

export interface HnswIndex {
  index: hnswlib.HierarchicalNSW;
  metric: KnnMetric;
  params: HnswParams;
  /** The cache file it was loaded from or saved to; null when kept in memory only. */
  file: string | null;
  /** True when it came from the cache rather than being built now. */
  fromCache: boolean;
}

/** Identifies exactly these vectors: a re-embedded run with the same count must not reuse the old graph. */
function contentFingerprint(input: KnnInput): string {
  const hash = createHash('sha1');
  if (input.imageIds) hash.update(new Uint8Array(input.imageIds.buffer, input.imageIds.byteOffset, input.imageIds.byteLength));
  hash.update(new Uint8Array(input.vectors.buffer, input.vectors.byteOffset, input.vectors.byteLength));
  return hash.digest('hex');
}

interface CacheMeta {
  fingerprint: string;
  count: number;
  dim: number;
  metric: KnnMetric;
  m: number;
  efConstruction: number;
}

function cacheFileName(input: KnnInput, metric: KnnMetric, params: HnswParams): string {
  const n = input.vectors.length / input.dim;
  const run = input.runId !== undefined ? `run${input.runId}` : 'vectors';
  return `${run}-n${n}-d${input.dim}-${metric}-m${params.m}-efc${params.efConstruction}.hnsw`;
}

function rowAsArray(vectors: Float32Array, dim: number, row: number): number[] {
  return Array.from(vectors.subarray(row * dim, row * dim + dim));
}

/**
 * An HNSW index over the rows (label = row number), loaded from the cache when one for exactly these vectors and
 * parameters is there, else built (and saved when a cache folder is given). A stale or unreadable cache file is
 * rebuilt, never trusted.
 */
export async function openHnswIndex(input: KnnInput, options: Pick<KnnOptions, 'metric' | 'hnsw' | 'cacheDir' | 'onProgress'> = {}): Promise<HnswIndex> {
  const metric = options.metric ?? 'cosine';
  const params: HnswParams = { ...DEFAULT_HNSW, ...options.hnsw };
  const n = rowCount(input);
  const dim = input.dim;
  const file = options.cacheDir ? path.join(options.cacheDir, cacheFileName(input, metric, params)) : null;
  const fingerprint = file ? contentFingerprint(input) : '';
  const wanted: CacheMeta = { fingerprint, count: n, dim, metric, m: params.m, efConstruction: params.efConstruction };

  if (file && existsSync(file) && existsSync(`${file}.json`)) {
    try {
      const meta = JSON.parse(readFileSync(`${file}.json`, 'utf8')) as CacheMeta;
      if (JSON.stringify(meta) === JSON.stringify(wanted)) {
        const index = new hnswlib.HierarchicalNSW(metric, dim);
        await index.readIndex(file);
        if (index.getCurrentCount() === n) return { index, metric, params, file, fromCache: true };
      }
    } catch {
      // An unreadable or half-written cache file is rebuilt below.
    }
  }

  const index = new hnswlib.HierarchicalNSW(metric, dim);
  // A fixed seed: the same vectors always give the same graph, so results are reproducible.
  index.initIndex({ maxElements: n, m: params.m, efConstruction: params.efConstruction, randomSeed: 100 });
  const every = Math.max(1, Math.floor(n / 100));
  for (let i = 0; i < n; i++) {
    index.addPoint(rowAsArray(input.vectors, dim, i), i);
    if ((i + 1) % every === 0 || i + 1 === n) {
      options.onProgress?.('build', i + 1, n);
      // Let timers and I/O run between slices of a long synchronous build.
      if ((i + 1) % (every * 10) === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
  if (file) {
    mkdirSync(path.dirname(file), { recursive: true });
    // Write under temporary names and rename, so a crash never leaves a cache file that looks complete.
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      await index.writeIndex(tmp);
      renameSync(tmp, file);
      writeFileSync(`${file}.json`, JSON.stringify(wanted));
    } catch (error) {
      rmSync(tmp, { force: true });
      throw new Error(`Could not save the kNN index to ${file}: ${(error as Error).message}`);
    }
  }
  return { index, metric, params, file, fromCache: false };
}

/** hnswlib reports squared L2; Miru reports Euclidean distance for 'l2' and 1 - cos for 'cosine'. */
function fromHnswDistance(metric: KnnMetric, d: number): number {
  return metric === 'l2' ? Math.sqrt(Math.max(0, d)) : d;
}

/**
 * Searches an open HNSW index for the k nearest rows to `vector`, leaving out `excludeRow` (the query's own row).
 * Sorted nearest first, ties by row number.
 */
export function searchHnsw(hnsw: HnswIndex, vector: ArrayLike<number>, k: number, ef: number, excludeRow = -1): { indices: Int32Array; distances: Float32Array } {
  const n = hnsw.index.getCurrentCount();
  const want = Math.min(n, excludeRow >= 0 ? k + 1 : k);
  hnsw.index.setEf(Math.max(ef, want));
  const found = hnsw.index.searchKnn(Array.from(vector), want);
  const order = found.neighbors
    .map((row, j) => ({ row, d: fromHnswDistance(hnsw.metric, found.distances[j]) }))
    .filter((x) => x.row !== excludeRow)
    .sort((a, b) => a.d - b.d || a.row - b.row)
    .slice(0, k);
  return { indices: Int32Array.from(order, (x) => x.row), distances: Float32Array.from(order, (x) => x.d) };
}

/**
 * The k nearest OTHER rows of every row, nearest first (n×k, row-major). Exact below EXACT_SEARCH_BELOW rows
 * unless `exact` says otherwise; HNSW above, with the index cached in `cacheDir` when given.
 */
export async function knnAll(matrix: KnnInput, k: number, options: KnnOptions = {}): Promise<KnnResult> {
  const n = rowCount(matrix);
  checkK(n, k, true);
  const exact = options.exact ?? n < EXACT_SEARCH_BELOW;
  if (exact) return exactKnn(matrix, k, options);
  const hnsw = await openHnswIndex(matrix, options);
  const ef = options.ef ?? Math.max(DEFAULT_EF, 2 * k);
  const indices = new Int32Array(n * k);
  const distances = new Float32Array(n * k);
  const every = Math.max(1, Math.floor(n / 100));
  for (let i = 0; i < n; i++) {
    const row = searchHnsw(hnsw, matrix.vectors.subarray(i * matrix.dim, (i + 1) * matrix.dim), k, ef, i);
    if (row.indices.length < k) {
      // Only possible when the graph cannot reach enough points; say so rather than pad with fake neighbours.
      throw new Error(`The HNSW index found only ${row.indices.length} of ${k} neighbours for row ${i}. Rerun with exact search or a larger ef.`);
    }
    indices.set(row.indices, i * k);
    distances.set(row.distances, i * k);
    if ((i + 1) % every === 0 || i + 1 === n) {
      options.onProgress?.('search', i + 1, n);
      if ((i + 1) % (every * 10) === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
  return { k, indices, distances };
}

/** Fraction of the exact neighbours the approximate result found (recall@k), over the rows both cover. */
export function knnRecall(approx: KnnResult, exact: KnnResult, rows?: ArrayLike<number>): number {
  const k = exact.k;
  const qn = exact.indices.length / k;
  let hits = 0;
  for (let q = 0; q < qn; q++) {
    const a = rows ? rows[q] : q;
    const truth = new Set(exact.indices.subarray(q * k, q * k + k));
    for (let j = 0; j < Math.min(k, approx.k); j++) if (truth.has(approx.indices[a * approx.k + j])) hits++;
  }
  return hits / (qn * k);
}

/** Where a library keeps its kNN indexes. */
export function knnCacheDir(libraryCacheDir: string): string {
  return path.join(libraryCacheDir, 'knn');
}

/** Turns knnAll's progress callback into a job's progress events ('knn-build', 'knn-search' phases). */
export function knnProgressEvents(job: string, listener: ProgressListener): NonNullable<KnnOptions['onProgress']> {
  return (phase, done, total) => listener({ job, phase: `knn-${phase}`, done, total });
}
