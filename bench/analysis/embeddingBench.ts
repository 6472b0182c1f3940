/**
 * The embedding space at scale: HNSW (hnswlib-node) against exact brute force on N × 512 clustered float32
 * vectors (default N = 100,000; MIRU_BENCH_N and MIRU_BENCH_DIM make a quick run possible), and UMAP on the same
 * N points against PCA. Rows:
 *   - HNSW build time; baseline: exact kNN of every row, extrapolated from the sampled exact queries (what knnAll
 *     would cost without the index).
 *   - per-query time for Q sampled rows, k = 10, default ef; baseline: exact search for the same rows. Recall@10
 *     of those queries against the exact answer.
 *   - loading the cached index (what `miru similar` does) against building it.
 *   - knnAll over all N rows (index cached), and UMAP (kNN graph + fuzzy graph + layout) against PCA.
 * MIRU_BENCH_HARD=1 adds a recall row on heavily overlapping clusters (noise 3: nearly structureless vectors,
 * the hard case for graph indexes).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_EF, DEFAULT_HNSW, exactKnn, knnAll, knnRecall, openHnswIndex, searchHnsw, type KnnResult } from '../../core/analysis/knnIndex.js';
import { pca, umapLayout } from '../../core/analysis/projections.js';
import { clusteredVectors } from '../../core/synth/clusteredVectors.js';
import { now } from '../benchUtil.js';
import type { BenchRow } from './benchRow.js';

const N = Number(process.env.MIRU_BENCH_N ?? 100_000);
const DIM = Number(process.env.MIRU_BENCH_DIM ?? 512);
const QUERIES = Math.min(N, Number(process.env.MIRU_BENCH_QUERIES ?? 200));
const K = 10;

function log(text: string): void {
  process.stderr.write(`[embedding] ${text}\n`);
}

const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** HNSW on one data set: build, sampled queries against exact search, recall, cached load. */
async function hnswRows(label: string, data: { vectors: Float32Array; dim: number }, cacheDir: string): Promise<{ rows: BenchRow[]; recall: number }> {
  const n = data.vectors.length / data.dim;
  const sample = Int32Array.from({ length: QUERIES }, (_, i) => Math.floor((i * n) / QUERIES));
  const params = `M=${DEFAULT_HNSW.m}, efConstruction=${DEFAULT_HNSW.efConstruction}`;

  let t = now();
  const built = await openHnswIndex({ ...data, runId: 0 }, { cacheDir });
  const buildMs = now() - t;
  log(`${label}: HNSW build ${round(buildMs / 1000)} s`);

  t = now();
  const exact = exactKnn(data, K, {}, { rows: sample });
  const exactMs = now() - t;
  log(`${label}: exact search for ${QUERIES} rows ${round(exactMs / 1000)} s`);

  const approx: KnnResult = { k: K, indices: new Int32Array(QUERIES * K), distances: new Float32Array(QUERIES * K) };
  t = now();
  sample.forEach((row, q) => {
    const found = searchHnsw(built, data.vectors.subarray(row * data.dim, (row + 1) * data.dim), K, DEFAULT_EF, row);
    approx.indices.set(found.indices, q * K);
    approx.distances.set(found.distances, q * K);
  });
  const hnswMs = now() - t;
  const recall = knnRecall(approx, exact);
  log(`${label}: ${QUERIES} HNSW queries ${round(hnswMs)} ms, recall@10 ${recall.toFixed(4)}`);

  t = now();
  const loaded = await openHnswIndex({ ...data, runId: 0 }, { cacheDir });
  const loadMs = now() - t;
  if (!loaded.fromCache) throw new Error('the second open did not load the cached index');

  const exactAllMs = (exactMs / QUERIES) * n;
  return {
    recall,
    rows: [
      {
        name: `HNSW build, ${label}`,
        baseline: round(exactAllMs),
        value: round(buildMs),
        ratio: round(buildMs / exactAllMs, 4),
        note: `ms; ${params}; baseline: exact kNN of all ${n} rows, extrapolated from ${QUERIES} exact queries`,
      },
      {
        name: `kNN query (k=${K}, ef=${DEFAULT_EF}), ${label}`,
        baseline: round(exactMs / QUERIES, 3),
        value: round(hnswMs / QUERIES, 3),
        ratio: round(hnswMs / exactMs, 4),
        note: `ms per query over ${QUERIES} rows; baseline: exact blocked brute force for the same rows`,
      },
      { name: `kNN recall@${K}, ${label}`, baseline: null, value: round(recall, 4), ratio: round(recall, 4), note: `HNSW against exact search, ${QUERIES} rows` },
      {
        name: `cached index load, ${label}`,
        baseline: round(buildMs),
        value: round(loadMs),
        ratio: round(loadMs / buildMs, 4),
        note: 'ms to open the index from the cache (incl. SHA-1 of the vectors to check it is current); baseline: building it',
      },
    ],
  };
}

export async function runEmbeddingBench(): Promise<BenchRow[]> {
  const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'miru-knn-bench-'));
  try {
    log(`${N} × ${DIM} clustered vectors (200 clusters, noise 1.5)`);
    const data = clusteredVectors({ n: N, dim: DIM, clusters: 200, noise: 1.5, seed: 1 });
    const label = `${N}×${DIM}`;
    const { rows } = await hnswRows(label, data, cacheDir);

    let t = now();
    await knnAll(data, K, { cacheDir, exact: false });
    const allMs = now() - t;
    log(`knnAll (index cached) ${round(allMs / 1000)} s`);
    const exactAllMs = rows[0].baseline!;
    rows.push({
      name: `knnAll k=${K} over every row, ${label}`,
      baseline: exactAllMs,
      value: round(allMs),
      ratio: round(allMs / exactAllMs, 4),
      note: 'ms, index loaded from the cache; baseline: exact, extrapolated',
    });

    t = now();
    const p = pca(data, 2);
    const pcaMs = now() - t;
    log(`PCA ${round(pcaMs / 1000)} s (explained ${p.explainedVarianceRatio.map((r) => r.toFixed(3)).join(', ')})`);
    let phase = '';
    t = now();
    // No cache: the UMAP figure includes building the HNSW index, as a first map of a new run does.
    const umap = await umapLayout(data, {
      knn: { exact: false },
      onProgress: (event) => {
        if (event.phase !== phase) {
          phase = event.phase;
          log(`UMAP ${phase} ...`);
        }
      },
    });
    const umapMs = now() - t;
    log(`UMAP ${round(umapMs / 1000)} s (${umap.nEpochs} epochs; kNN ${round(umap.knnMs / 1000)} s, layout ${round(umap.layoutMs / 1000)} s)`);
    rows.push({
      name: `UMAP 2-D, ${N} points (15 neighbours, ${umap.nEpochs} epochs)`,
      baseline: round(pcaMs),
      value: round(umapMs),
      ratio: round(umapMs / pcaMs, 2),
      note: `ms; kNN graph ${round(umap.knnMs)} ms (HNSW build + k=14 search) + fuzzy graph and layout ${round(umap.layoutMs)} ms; baseline: exact PCA of the same vectors`,
    });

    if (process.env.MIRU_BENCH_HARD === '1') {
      const hard = clusteredVectors({ n: N, dim: DIM, clusters: 200, noise: 3, seed: 2 });
      const result = await hnswRows(`${label} overlapping`, hard, cacheDir);
      rows.push(result.rows[2]);
    }
    return rows;
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}
