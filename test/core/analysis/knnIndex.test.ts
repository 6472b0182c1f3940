import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { exactKnn, knnAll, knnRecall, openHnswIndex, searchHnsw, type KnnMetric, type KnnResult } from '../../../core/analysis/knnIndex.js';
import { clusteredVectors } from '../../../core/synth/clusteredVectors.js';
import { repoRoot, tempDir } from '../../helpers/paths.js';

interface KnnFixture {
  n: number;
  dim: number;
  k: number;
  vectors: number[][];
  queries: number[][];
  cases: { metric: KnnMetric; indices: number[][]; distances: number[][]; queryIndices: number[][]; queryDistances: number[][] }[];
}

const fixture = JSON.parse(readFileSync(path.join(repoRoot, 'test/fixtures/analysis/projection-knn.json'), 'utf8')) as KnnFixture;
const fixtureMatrix = { vectors: Float32Array.from(fixture.vectors.flat()), dim: fixture.dim };

function distance(vectors: Float32Array, dim: number, a: number, b: number, metric: KnnMetric): number {
  let dot = 0, na = 0, nb = 0, sq = 0;
  for (let d = 0; d < dim; d++) {
    const x = vectors[a * dim + d], y = vectors[b * dim + d];
    dot += x * y;
    na += x * x;
    nb += y * y;
    sq += (x - y) ** 2;
  }
  return metric === 'cosine' ? 1 - dot / Math.sqrt(na * nb) : Math.sqrt(sq);
}

function assertMatchesReference(result: KnnResult, indices: number[][], distances: number[][], label: string): void {
  assert.equal(result.k, fixture.k);
  indices.forEach((row, i) => {
    assert.deepEqual([...result.indices.subarray(i * result.k, (i + 1) * result.k)], row, `${label}: neighbours of row ${i}`);
    row.forEach((_, j) => assert.ok(Math.abs(result.distances[i * result.k + j] - distances[i][j]) < 1e-6, `${label}: distance ${i},${j}`));
  });
}

for (const c of fixture.cases) {
  test(`exactKnn matches numpy/scikit-learn brute force (${c.metric}), for every row and for outside queries`, () => {
    assertMatchesReference(exactKnn(fixtureMatrix, fixture.k, { metric: c.metric }), c.indices, c.distances, `${c.metric} rows`);
    const queries = { vectors: Float32Array.from(fixture.queries.flat()) };
    assertMatchesReference(exactKnn(fixtureMatrix, fixture.k, { metric: c.metric }, queries), c.queryIndices, c.queryDistances, `${c.metric} queries`);
    // Chosen rows give the same answer as the full run.
    const rows = [0, 17, 79];
    const some = exactKnn(fixtureMatrix, fixture.k, { metric: c.metric }, { rows });
    assertMatchesReference(some, rows.map((r) => c.indices[r]), rows.map((r) => c.distances[r]), `${c.metric} chosen rows`);
  });
}

test('knnAll below the exact-search size is exact brute force', async () => {
  const auto = await knnAll(fixtureMatrix, fixture.k);
  assertMatchesReference(auto, fixture.cases[0].indices, fixture.cases[0].distances, 'auto cosine');
});

test('knnAll with HNSW finds at least 95% of the exact neighbours, never the row itself, nearest first', async () => {
  const data = clusteredVectors({ n: 3000, dim: 48, clusters: 30, noise: 1.5, seed: 7 });
  const k = 10;
  for (const metric of ['cosine', 'l2'] as const) {
    const approx = await knnAll(data, k, { metric, exact: false });
    const exact = exactKnn(data, k, { metric });
    const recall = knnRecall(approx, exact);
    assert.ok(recall >= 0.95, `${metric}: recall@10 ${recall}`);
    for (let i = 0; i < 3000; i++) {
      const row = approx.indices.subarray(i * k, (i + 1) * k);
      assert.ok(!row.includes(i), `${metric}: row ${i} lists itself`);
      for (let j = 1; j < k; j++) assert.ok(approx.distances[i * k + j] >= approx.distances[i * k + j - 1], `${metric}: row ${i} is not sorted`);
    }
    // HNSW distances are true distances in Miru's units (1 - cos; Euclidean, not hnswlib's squared L2).
    for (let i = 0; i < 50; i++) {
      for (let j = 0; j < k; j++) {
        const truth = distance(data.vectors, data.dim, i, approx.indices[i * k + j], metric);
        assert.ok(Math.abs(approx.distances[i * k + j] - truth) < 1e-4 * Math.max(1, truth), `${metric}: ${approx.distances[i * k + j]} vs ${truth}`);
      }
    }
  }
});

test('identical vectors are each other’s nearest neighbours at distance 0, and a row never lists itself', async () => {
  const base = clusteredVectors({ n: 40, dim: 8, clusters: 4, noise: 1, seed: 3 });
  const vectors = new Float32Array(base.vectors);
  vectors.copyWithin(5 * 8, 9 * 8, 10 * 8); // row 5 := row 9
  for (const exact of [true, false]) {
    const knn = await knnAll({ vectors, dim: 8 }, 3, { exact });
    assert.equal(knn.indices[5 * 3], 9, `exact=${exact}`);
    assert.equal(knn.indices[9 * 3], 5, `exact=${exact}`);
    assert.ok(Math.abs(knn.distances[5 * 3]) < 1e-6);
  }
});

test('the HNSW index is cached on disk, reused for the same vectors and rebuilt when they change', async () => {
  const cacheDir = path.join(tempDir(), 'knn');
  const data = { ...clusteredVectors({ n: 500, dim: 16, clusters: 5, noise: 1, seed: 11 }), runId: 4, imageIds: Int32Array.from({ length: 500 }, (_, i) => i + 1) };
  const built = await openHnswIndex(data, { cacheDir });
  assert.equal(built.fromCache, false);
  assert.ok(built.file && existsSync(built.file), 'the index file is written');
  assert.match(path.basename(built.file!), /^run4-n500-d16-cosine-m16-efc200\.hnsw$/);
  const query = data.vectors.subarray(0, 16);
  const first = searchHnsw(built, query, 5, 50, 0);

  const loaded = await openHnswIndex(data, { cacheDir });
  assert.equal(loaded.fromCache, true, 'the same vectors load the cached index');
  assert.deepEqual(searchHnsw(loaded, query, 5, 50, 0), first);

  // Same run, same count, different vectors (a re-embedded run): stale, so rebuilt.
  const changed = { ...data, vectors: new Float32Array(data.vectors) };
  changed.vectors[100] += 1;
  assert.equal((await openHnswIndex(changed, { cacheDir })).fromCache, false);
  assert.equal((await openHnswIndex(changed, { cacheDir })).fromCache, true);

  // A damaged cache file is rebuilt, never trusted.
  writeFileSync(built.file!, 'not an index');
  const rebuilt = await openHnswIndex(changed, { cacheDir });
  assert.equal(rebuilt.fromCache, false);
  assert.equal(rebuilt.index.getCurrentCount(), 500);
  assert.deepEqual(readdirSync(cacheDir).filter((f) => f.endsWith('.tmp')), [], 'no temporary files are left behind');
});

test('bad k and malformed matrices are refused with what to do', async () => {
  const data = clusteredVectors({ n: 6, dim: 3, clusters: 2, noise: 1, seed: 1 });
  await assert.rejects(knnAll(data, 0), /k must be a whole number of at least 1 \(got 0\)/);
  await assert.rejects(knnAll(data, 2.5), /k must be a whole number/);
  await assert.rejects(knnAll(data, 6), /k = 6 neighbours asked for, but the run has only 6 vectors \(so at most 5 other ones\)\. Use a smaller k/);
  assert.throws(() => exactKnn(data, 7, {}, { vectors: new Float32Array(3) }), /k = 7 neighbours asked for, but the run has only 6 vectors. Use/);
  assert.equal(exactKnn(data, 6, {}, { vectors: new Float32Array(3).fill(1) }).k, 6, 'outside queries may ask for every row');
  assert.throws(() => exactKnn({ vectors: new Float32Array(7), dim: 3 }, 1), /7 values\) are not a whole number of rows of 3/);
  assert.throws(() => exactKnn(data, 1, {}, { rows: [6] }), /Query row 6 is outside the matrix \(0\.\.5\)/);
});

test('recall counts the exact neighbours found', () => {
  const exact: KnnResult = { k: 2, indices: Int32Array.of(1, 2, 0, 2), distances: new Float32Array(4) };
  const approx: KnnResult = { k: 2, indices: Int32Array.of(2, 1, 0, 3), distances: new Float32Array(4) };
  assert.equal(knnRecall(approx, exact), 0.75);
});
