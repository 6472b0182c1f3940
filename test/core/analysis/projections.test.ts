import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { findAnalysis, listAnalyses, readAnalysisValues } from '../../../core/analysis/analysisStore.js';
import { pca, projectEmbeddingRun, umapLayout } from '../../../core/analysis/projections.js';
import type { LibraryDb } from '../../../core/library/openLibrary.js';
import { clusteredVectors } from '../../../core/synth/clusteredVectors.js';
import { smallLibrary } from '../../helpers/library.js';
import { repoRoot } from '../../helpers/paths.js';

interface PcaFixture {
  cases: { name: string; vectors: number[][]; scores: number[][]; components: number[][]; explainedVariance: number[]; explainedVarianceRatio: number[] }[];
}

const fixture = JSON.parse(readFileSync(path.join(repoRoot, 'test/fixtures/analysis/projection-pca.json'), 'utf8')) as PcaFixture;

function close(a: number, b: number, tol: number): boolean {
  return Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));
}

for (const c of fixture.cases) {
  test(`PCA matches scikit-learn (${c.name}): scores, axes and explained variance, up to each axis's sign`, () => {
    const dim = c.vectors[0].length;
    const result = pca({ vectors: Float32Array.from(c.vectors.flat()), dim }, 2);
    for (let comp = 0; comp < 2; comp++) {
      assert.ok(close(result.explainedVariance[comp], c.explainedVariance[comp], 1e-6), `variance ${comp}: ${result.explainedVariance[comp]} vs ${c.explainedVariance[comp]}`);
      assert.ok(close(result.explainedVarianceRatio[comp], c.explainedVarianceRatio[comp], 1e-6), `ratio ${comp}`);
      // One sign per axis: taken from the loadings, then it must fit every score of that axis.
      const sign = Math.sign(result.components[comp * dim] * c.components[comp][0]) || 1;
      for (let d = 0; d < dim; d++) assert.ok(close(result.components[comp * dim + d], sign * c.components[comp][d], 1e-6), `component ${comp}[${d}]`);
      c.scores.forEach((row, i) => assert.ok(close(result.scores[i * 2 + comp], sign * row[comp], 1e-5), `score ${i},${comp}: ${result.scores[i * 2 + comp]} vs ${sign * row[comp]}`));
    }
  });
}

test('PCA axes point so that their largest loading is positive, so the same data always draws the same map', () => {
  const c = fixture.cases[0];
  const dim = c.vectors[0].length;
  const vectors = Float32Array.from(c.vectors.flat());
  const result = pca({ vectors, dim }, 2);
  for (let comp = 0; comp < 2; comp++) {
    const axis = Array.from(result.components.subarray(comp * dim, (comp + 1) * dim));
    const largest = axis.reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a));
    assert.ok(largest > 0);
  }
  // Negating the data flips every score, so the convention (not the data's sign) fixes the axes.
  const negated = pca({ vectors: vectors.map((v) => -v), dim }, 2);
  assert.deepEqual(Array.from(negated.components, (v) => Math.round(v * 1e6)), Array.from(result.components, (v) => Math.round(v * 1e6)));
});

test('PCA refuses too few vectors, too many components and data with no variance', () => {
  assert.throws(() => pca({ vectors: Float32Array.of(1, 2, 3), dim: 3 }), /PCA needs at least 2 vectors \(the run has 1\)/);
  assert.throws(() => pca({ vectors: new Float32Array(12).map((_, i) => i * i), dim: 3 }, 4), /components must be 1 to 3/);
  assert.throws(() => pca({ vectors: new Float32Array(12).fill(0.5), dim: 3 }), /all 4 vectors are identical/);
});

/** Fraction of points whose 5 nearest points in the map mostly share their cluster. */
function mapKnnAccuracy(coords: Float32Array, labels: Int32Array): number {
  const n = labels.length;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const near = Array.from({ length: n }, (_, j) => j)
      .filter((j) => j !== i)
      .map((j) => [(coords[2 * i] - coords[2 * j]) ** 2 + (coords[2 * i + 1] - coords[2 * j + 1]) ** 2, labels[j]] as const)
      .sort((a, b) => a[0] - b[0])
      .slice(0, 5);
    const votes = new Map<number, number>();
    for (const [, l] of near) votes.set(l, (votes.get(l) ?? 0) + 1);
    const best = [...votes].sort((a, b) => b[1] - a[1])[0][0];
    if (best === labels[i]) correct++;
  }
  return correct / n;
}

test('UMAP keeps separated clusters apart in 2-D and gives the same map for the same seed', async () => {
  const data = clusteredVectors({ n: 480, dim: 32, clusters: 6, noise: 1, seed: 5 });
  const first = await umapLayout(data, { neighbors: 10, seed: 3, nEpochs: 200 });
  assert.equal(first.coords.length, 960);
  const accuracy = mapKnnAccuracy(first.coords, data.labels);
  assert.ok(accuracy >= 0.95, `kNN classification of cluster labels in the map: ${accuracy}`);
  const again = await umapLayout(data, { neighbors: 10, seed: 3, nEpochs: 200 });
  assert.deepEqual(again.coords, first.coords, 'same seed, same map');
  const other = await umapLayout(data, { neighbors: 10, seed: 4, nEpochs: 200 });
  assert.notDeepEqual(other.coords, first.coords, 'another seed, another map');
  // The HNSW route gives a map that separates the clusters as well.
  const approx = await umapLayout(data, { neighbors: 10, seed: 3, nEpochs: 200, knn: { exact: false } });
  assert.ok(mapKnnAccuracy(approx.coords, data.labels) >= 0.95);
});

test('UMAP refuses fewer than 3 vectors, a neighbourhood as large as the run, and bad settings', async () => {
  const tiny = clusteredVectors({ n: 2, dim: 4, clusters: 1, noise: 1, seed: 1 });
  await assert.rejects(umapLayout(tiny), /UMAP needs at least 3 vectors \(the run has 2\)\. Use --method pca/);
  const small = clusteredVectors({ n: 10, dim: 4, clusters: 2, noise: 1, seed: 1 });
  await assert.rejects(umapLayout(small, { neighbors: 10 }), /UMAP with 10 neighbours needs more than 10 vectors; the run has 10\. Use --neighbors 9 or fewer/);
  await assert.rejects(umapLayout(small, { neighbors: 1 }), /at least 2 \(got 1\)/);
  await assert.rejects(umapLayout(small, { neighbors: 3, minDist: -1 }), /min-dist must be a number of 0 or more/);
  await assert.rejects(umapLayout(small, { neighbors: 3, nEpochs: 0 }), /epochs must be a positive whole number/);
});

/**
 * Ids of smallLibrary's img0.png, img1.png, ... in name-number order (indexing assigns ids in whatever order the
 * concurrent reads finish, so id order is not name order).
 */
function imageIds(db: LibraryDb, count: number): number[] {
  return Array.from({ length: count }, (_, i) => db.prepare('SELECT id FROM images WHERE rel_path = ?').pluck().get(`img${i}.png`) as number);
}

/** Adds an embedding run with the given vectors (one per image, in id order) to a test library; returns its id. */
function addEmbeddingRun(db: LibraryDb, vectors: Float32Array[], model = 'test-embedder'): number {
  const ids = imageIds(db, vectors.length);
  const now = new Date().toISOString();
  const modelId = Number(db.prepare(`INSERT INTO models (name, path, sha256, card, added_at) VALUES (?, 'm.onnx', 'x', '{}', ?)`).run(model, now).lastInsertRowid);
  const runId = Number(db.prepare(`INSERT INTO runs (model_id, kind, params, status, created_at, updated_at) VALUES (?, 'embed', '{}', 'complete', ?, ?)`).run(modelId, now, now).lastInsertRowid);
  const put = db.prepare('INSERT INTO embeddings (run_id, image_id, vector) VALUES (?, ?, ?)');
  vectors.forEach((v, i) => put.run(runId, ids[i], Buffer.from(v.buffer, v.byteOffset, v.byteLength)));
  return runId;
}

test('a projection of a stored run is saved as a projection analysis with [x, y] per image, and replaced by a rerun', async () => {
  const { db } = await smallLibrary(8);
  const data = clusteredVectors({ n: 8, dim: 6, clusters: 2, noise: 0.5, seed: 2 });
  const runId = addEmbeddingRun(db, Array.from({ length: 8 }, (_, i) => data.vectors.slice(i * 6, i * 6 + 6)));
  const result = await projectEmbeddingRun(db, 'test-embedder', { method: 'pca' });
  assert.equal(result.runId, runId);
  const stored = findAnalysis(db, 'projection', runId, { method: 'pca' });
  assert.ok(stored);
  assert.equal(stored.id, result.analysisId);
  assert.equal(stored.count, 8);
  assert.equal((stored.summary.explainedVarianceRatio as number[]).length, 2);
  const values = readAnalysisValues(db, stored.id);
  values.forEach((v, i) => {
    assert.equal(v.imageId, result.imageIds[i]);
    assert.deepEqual([...v.extra!], [result.coords[2 * i], result.coords[2 * i + 1]]);
  });

  const umap = await projectEmbeddingRun(db, String(runId), { method: 'umap', neighbors: 4, seed: 9, nEpochs: 50 });
  assert.deepEqual(umap.params, { method: 'umap', neighbors: 4, minDist: 0.1, seed: 9, metric: 'cosine', nEpochs: 50 });
  assert.ok(findAnalysis(db, 'projection', runId, umap.params));
  const rerun = await projectEmbeddingRun(db, 'test-embedder', { method: 'pca' });
  assert.equal(listAnalyses(db, { kind: 'projection' }).length, 2, 'the PCA rerun replaced the first PCA map');
  assert.notEqual(rerun.analysisId, result.analysisId);
  db.close();
});

test('bad runs store nothing: too few vectors for UMAP, NaN vectors, an unknown run', async () => {
  const { db } = await smallLibrary(3);
  const runId = addEmbeddingRun(db, [Float32Array.of(1, 0), Float32Array.of(0, 1)]);
  await assert.rejects(projectEmbeddingRun(db, runId, { method: 'umap' }), /UMAP needs at least 3 vectors \(the run has 2\)/);
  const nanRun = addEmbeddingRun(db, [Float32Array.of(1, 0), Float32Array.of(Number.NaN, 1), Float32Array.of(0, 1)], 'nan-embedder');
  await assert.rejects(projectEmbeddingRun(db, nanRun, { method: 'pca' }), /the vector of image \d+ holds NaN/);
  await assert.rejects(projectEmbeddingRun(db, 'nope', { method: 'pca' }), /No embedding run "nope"/);
  assert.equal(listAnalyses(db).length, 0);
  db.close();
});
