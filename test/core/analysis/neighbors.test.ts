import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { findAnalysis, listAnalyses, readAnalysisValues } from '../../../core/analysis/analysisStore.js';
import type { KnnResult } from '../../../core/analysis/knnIndex.js';
import {
  DisjointSets,
  exactDuplicateGroups,
  findDuplicates,
  nearDuplicateGroupsFromKnn,
  outlierScores,
  outlierScoresFromKnn,
  similarImages,
} from '../../../core/analysis/neighbors.js';
import { indexLibrary } from '../../../core/library/indexLibrary.js';
import { cacheDirFor, type LibraryDb } from '../../../core/library/openLibrary.js';
import { clusteredVectors } from '../../../core/synth/clusteredVectors.js';
import { smallLibrary } from '../../helpers/library.js';
import { tempDir } from '../../helpers/paths.js';

/**
 * Ids of smallLibrary's img0.png, img1.png, ... in name-number order (indexing assigns ids in whatever order the
 * concurrent reads finish, so id order is not name order).
 */
function imageIds(db: LibraryDb, count: number): number[] {
  return Array.from({ length: count }, (_, i) => db.prepare('SELECT id FROM images WHERE rel_path = ?').pluck().get(`img${i}.png`) as number);
}

/** Adds an embedding run (vector i for img<i>.png, or null for none) to a test library; returns its id. */
function addEmbeddingRun(db: LibraryDb, vectors: (Float32Array | null)[], model = 'test-embedder'): number {
  const ids = imageIds(db, vectors.length);
  const now = new Date().toISOString();
  const modelId = Number(db.prepare(`INSERT INTO models (name, path, sha256, card, added_at) VALUES (?, 'm.onnx', 'x', '{}', ?)`).run(model, now).lastInsertRowid);
  const runId = Number(db.prepare(`INSERT INTO runs (model_id, kind, params, status, created_at, updated_at) VALUES (?, 'embed', '{}', 'complete', ?, ?)`).run(modelId, now, now).lastInsertRowid);
  const put = db.prepare('INSERT INTO embeddings (run_id, image_id, vector) VALUES (?, ?, ?)');
  vectors.forEach((v, i) => v && put.run(runId, ids[i], Buffer.from(v.buffer, v.byteOffset, v.byteLength)));
  return runId;
}

function rows(data: { vectors: Float32Array; dim: number }): Float32Array[] {
  return Array.from({ length: data.vectors.length / data.dim }, (_, i) => data.vectors.slice(i * data.dim, (i + 1) * data.dim));
}

test('similar images: nearest first, the image itself left out, named by path or id', async () => {
  const { db } = await smallLibrary(10);
  const vectors = rows(clusteredVectors({ n: 10, dim: 8, clusters: 3, noise: 1, seed: 4 }));
  // img7 is a scaled copy of img2 (cosine distance 0) and img9 a slightly moved one.
  vectors[7] = vectors[2].map((v) => 3 * v);
  vectors[9] = vectors[2].map((v, d) => v + (d === 0 ? 0.05 : 0));
  const runId = addEmbeddingRun(db, vectors);
  const ids = imageIds(db, 10);

  const result = await similarImages(db, runId, 'img2.png', 4);
  assert.equal(result.image.id, ids[2]);
  assert.match(result.image.path, /img2\.png$/);
  assert.deepEqual(result.neighbors.slice(0, 2).map((n) => n.id), [ids[7], ids[9]]);
  assert.ok(Math.abs(result.neighbors[0].distance) < 1e-6);
  assert.ok(!result.neighbors.some((n) => n.id === ids[2]), 'the image is not its own neighbour');
  for (let j = 1; j < 4; j++) assert.ok(result.neighbors[j].distance >= result.neighbors[j - 1].distance);
  assert.match(result.neighbors[0].path, /img7\.png$/);
  assert.deepEqual((await similarImages(db, 'test-embedder', `id:${ids[2]}`, 4)).neighbors, result.neighbors);
  db.close();
});

test('similar refuses an image without a vector, an unknown image and a k beyond the run', async () => {
  const { db } = await smallLibrary(5);
  const vectors = rows(clusteredVectors({ n: 5, dim: 4, clusters: 2, noise: 1, seed: 1 }));
  const runId = addEmbeddingRun(db, [...vectors.slice(0, 4), null]);
  await assert.rejects(similarImages(db, runId, 'img4.png', 2), new RegExp(`Image \\d+ \\(img4\\.png\\) has no vector in embedding run ${runId} \\(test-embedder\\)\\. Run \`miru embed --model test-embedder\``));
  await assert.rejects(similarImages(db, runId, 'nope.png', 2), /Unknown image "nope\.png": no indexed image has this relative path/);
  await assert.rejects(similarImages(db, runId, 'img0.png', 4), /--k 4 asks for more neighbours than the run has other images \(3\)\. Use --k 3 or less/);
  await assert.rejects(similarImages(db, runId, 'img0.png', 0), /--k must be a whole number of at least 1/);
  db.close();
});

test('similar on a large run searches the cached HNSW index instead of rebuilding it', async () => {
  const dir = tempDir();
  const { db } = await smallLibrary(3);
  const data = clusteredVectors({ n: 3, dim: 4, clusters: 1, noise: 1, seed: 1 });
  const runId = addEmbeddingRun(db, rows(data));
  const cacheDir = path.join(dir, 'knn');
  const first = await similarImages(db, runId, 'img0.png', 2, { exact: false, cacheDir });
  const [file] = readdirSync(cacheDir).filter((f) => f.endsWith('.hnsw'));
  assert.ok(file, 'an index was saved');
  const mtime = statSync(path.join(cacheDir, file)).mtimeMs;
  const second = await similarImages(db, runId, 'img1.png', 2, { exact: false, cacheDir });
  assert.equal(statSync(path.join(cacheDir, file)).mtimeMs, mtime, 'the second query loaded the index, it did not rebuild it');
  const exact = await similarImages(db, runId, 'img0.png', 2);
  assert.deepEqual(first.neighbors.map((n) => n.id), exact.neighbors.map((n) => n.id));
  assert.equal(second.neighbors.length, 2);
  db.close();
});

test('outlier scores: mean distance to the k nearest, cleanlab-style exp(-d / median) score, far points first', async () => {
  const knn: KnnResult = { k: 2, indices: Int32Array.of(1, 2, 0, 2, 0, 1), distances: Float32Array.of(0.1, 0.3, 0.1, 0.2, 0.2, 0.6) };
  const scores = outlierScoresFromKnn(knn);
  assert.deepEqual(Array.from(scores.meanDistance, (v) => Math.round(v * 1e6) / 1e6), [0.2, 0.15, 0.4]);
  assert.ok(Math.abs(scores.median - 0.2) < 1e-7);
  scores.score.forEach((s, i) => assert.ok(Math.abs(s - Math.exp(-scores.meanDistance[i] / scores.median)) < 1e-12));
  assert.deepEqual(Array.from(outlierScoresFromKnn(knn, 1).meanDistance, (v) => Math.round(v * 1e6) / 1e6), [0.1, 0.1, 0.2]);

  const { db } = await smallLibrary(20);
  const data = rows(clusteredVectors({ n: 20, dim: 6, clusters: 2, noise: 0.2, seed: 8 }));
  data[13] = Float32Array.of(-5, 4, -3, 9, 1, -7); // unlike everything else
  const runId = addEmbeddingRun(db, data);
  const result = await outlierScores(db, runId, 3);
  const ids = imageIds(db, 20);
  assert.equal(result.images[0].id, ids[13], 'the odd vector is the top outlier');
  assert.ok(result.images[0].score < 0.5 && result.images.at(-1)!.score > result.images[0].score);
  const stored = findAnalysis(db, 'outliers', runId, { k: 3, metric: 'cosine' });
  assert.equal(stored?.id, result.analysisId);
  const byId = new Map(result.images.map((img) => [img.id, img.meanDistance]));
  for (const v of readAnalysisValues(db, result.analysisId)) assert.ok(Math.abs(v.value! - byId.get(v.imageId)!) < 1e-12);
  await assert.rejects(outlierScores(db, runId, 20), /--k 20 needs more than 20 images with vectors; embedding run \d+ has 20\. Use --k 19 or less/);
  db.close();
});

test('near-duplicate pairs within the threshold are chained into groups by union-find', () => {
  // Rows 0-1 and 1-2 are close (so 0, 1, 2 form one group); 3-4 are close; 5 is alone.
  const knn: KnnResult = {
    k: 2,
    indices: Int32Array.of(1, 3, 2, 0, 1, 0, 4, 0, 3, 1, 0, 1),
    distances: Float32Array.of(0.01, 0.5, 0.008, 0.01, 0.008, 0.6, 0.02, 0.5, 0.02, 0.7, 0.4, 0.5),
  };
  assert.deepEqual(nearDuplicateGroupsFromKnn(knn, 0.015), [{ rows: [0, 1, 2], maxDistance: knn.distances[0] }]);
  const both = nearDuplicateGroupsFromKnn(knn, 0.03);
  assert.deepEqual(both.map((g) => g.rows), [[0, 1, 2], [3, 4]]);
  assert.equal(nearDuplicateGroupsFromKnn(knn, 0).length, 0);
  const sets = new DisjointSets(6);
  sets.union(5, 2);
  sets.union(2, 0);
  assert.deepEqual(sets.groups(), [[0, 2, 5]]);
});

test('duplicates: byte-identical files by content hash without any embeddings, stored as groups', async () => {
  const { db, images, dbPath } = await smallLibrary(4);
  copyFileSync(path.join(images, 'img1.png'), path.join(images, 'img1 copy.png'));
  copyFileSync(path.join(images, 'img1.png'), path.join(images, 'zz.png'));
  copyFileSync(path.join(images, 'img3.png'), path.join(images, 'img3b.png'));
  await indexLibrary(db, [images], { cacheDir: cacheDirFor(dbPath) });
  const id = (rel: string) => db.prepare('SELECT id FROM images WHERE rel_path = ?').pluck().get(rel) as number;
  const expected = [[id('img1.png'), id('img1 copy.png'), id('zz.png')].sort((a, b) => a - b), [id('img3.png'), id('img3b.png')].sort((a, b) => a - b)].sort((a, b) => a[0] - b[0]);
  assert.deepEqual(exactDuplicateGroups(db), expected);

  const result = await findDuplicates(db, null);
  assert.deepEqual(result.exact, expected);
  assert.deepEqual(result.near, []);
  assert.equal(result.embedding, null);
  assert.equal(result.threshold, null);
  const stored = findAnalysis(db, 'near-duplicates', null, { method: 'content-hash' });
  assert.equal(stored?.id, result.analysisId);
  const values = readAnalysisValues(db, result.analysisId);
  assert.deepEqual(values.map((v) => [v.imageId, v.value]), expected.flatMap((g, i) => g.map((imageId) => [imageId, i + 1])).sort((a, b) => a[0] - b[0]));
  db.close();
});

test('duplicates with an embedding run: near groups join exact copies and close vectors; bad thresholds store nothing', async () => {
  const { db } = await smallLibrary(10);
  const vectors = rows(clusteredVectors({ n: 10, dim: 8, clusters: 5, noise: 1, seed: 12 }));
  vectors[6] = vectors[1].map((v, d) => v + (d === 3 ? 0.01 : 0)); // a near copy of img1
  const runId = addEmbeddingRun(db, vectors);
  const ids = imageIds(db, 10);

  const auto = await findDuplicates(db, runId);
  assert.equal(auto.thresholdSource, 'auto');
  const pair = [ids[1], ids[6]].sort((a, b) => a - b);
  assert.deepEqual(auto.near.map((g) => g.ids), [pair]);
  assert.ok(auto.near[0].maxDistance <= auto.threshold!);
  const given = await findDuplicates(db, 'test-embedder', { threshold: 0.001 });
  assert.equal(given.thresholdSource, 'given');
  assert.deepEqual(given.near.map((g) => g.ids), [pair]);
  assert.ok(findAnalysis(db, 'near-duplicates', runId, { threshold: 0.001, metric: 'cosine', k: 9 }));
  // Threshold 2 joins everything under cosine distance.
  assert.deepEqual((await findDuplicates(db, runId, { threshold: 2 })).near.map((g) => g.ids), [[...ids].sort((a, b) => a - b)]);

  // A run with a single vector has no pair to compare: no near groups, and a given threshold is still reported.
  const single = addEmbeddingRun(db, [vectors[0]!, ...Array.from({ length: 9 }, () => null)], 'one-vector');
  const lone = await findDuplicates(db, single, { threshold: 0.1 });
  assert.deepEqual([lone.near, lone.threshold, lone.thresholdSource], [[], 0.1, 'given']);
  const loneAuto = await findDuplicates(db, single);
  assert.deepEqual([loneAuto.near, loneAuto.threshold, loneAuto.thresholdSource], [[], null, null]);
  await assert.rejects(similarImages(db, single, 'img0.png', 1), /holds only this image's vector, so there is nothing to compare it with\. Embed more images/);
  await assert.rejects(outlierScores(db, single, 1), /compare each image with its neighbours, but embedding run \d+ has 1 vector\. Embed more images first/);

  const before = listAnalyses(db).length;
  await assert.rejects(findDuplicates(db, runId, { threshold: 2.5 }), /--threshold 2\.5 is outside \[0, 2\], the range of cosine distance/);
  await assert.rejects(findDuplicates(db, runId, { threshold: -0.1 }), /--threshold must be a distance of 0 or more/);
  assert.equal(listAnalyses(db).length, before);
  db.close();
});
