import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { miruOk, runMiru, runMiruJson } from '../helpers/runMiru.js';
import { repoRoot, tempDir } from '../helpers/paths.js';
import { writeTestImage } from '../helpers/images.js';

interface Link {
  id: number;
  path: string;
}

/**
 * A `miru synth` library embedded with the bundled ConvNeXt, plus a byte-identical copy and a 3/4-size copy of
 * one image (the near-duplicate every embedding should place next to its original).
 */
async function embeddedLibrary() {
  const dir = tempDir();
  const synth = path.join(dir, 'synth');
  await miruOk(['synth', synth, '--images', '24', '--raters', '2', '--seed', '5']);
  const images = path.join(synth, 'images');
  const original = readdirSync(images).filter((f) => f.endsWith('.png')).sort()[0];
  copyFileSync(path.join(images, original), path.join(images, `copy-${original}`));
  const meta = await sharp(path.join(images, original)).metadata();
  await sharp(path.join(images, original)).resize(Math.round(meta.width! * 0.75)).toFile(path.join(images, `small-${original}`));
  const db = path.join(dir, 'lib.db');
  for (const args of [
    ['index', images, '--db', db],
    ['models', 'add', path.join(repoRoot, 'assets/models/miru-convnext-s.onnx'), '--db', db],
    ['embed', '--db', db, '--model', 'miru-convnext-s', '--ep', 'cpu'],
  ])
    await miruOk(args);
  return { dir, images, db, original, copy: `copy-${original}`, small: `small-${original}`, count: 26 };
}

let shared: ReturnType<typeof embeddedLibrary> | null = null;
const library = () => (shared ??= embeddedLibrary());

test('miru similar lists the byte-identical copy first, then the resized copy', async () => {
  const lib = await library();
  const { code, json, stderr } = await runMiruJson<{ image: Link; embedding: { runId: number; model: string }; neighbors: (Link & { distance: number })[] }>(['similar', '--db', lib.db, '--image', lib.original, '--k', '5']);
  assert.equal(code, 0, stderr);
  assert.equal(path.basename(json.image.path), lib.original);
  assert.equal(json.embedding.model, 'miru-convnext-s');
  assert.equal(json.neighbors.length, 5);
  assert.deepEqual(json.neighbors.slice(0, 2).map((n) => path.basename(n.path)), [lib.copy, lib.small]);
  assert.ok(json.neighbors[0].distance < 1e-5, `copy at ${json.neighbors[0].distance}`);
  for (const n of json.neighbors) assert.deepEqual(Object.keys(n).sort(), ['distance', 'id', 'path']);
  // The same image named by id, with the run given by id.
  const byId = await runMiruJson<{ neighbors: Link[] }>(['similar', '--db', lib.db, '--image', `id:${json.image.id}`, '--embedding', String(json.embedding.runId), '--k', '5']);
  assert.deepEqual(byId.json.neighbors, json.neighbors);
  const text = await runMiru(['similar', '--db', lib.db, '--image', lib.original, '--k', '2']);
  assert.equal(text.code, 0);
  assert.match(text.stdout, new RegExp(`Nearest to .*${lib.original} \\(id \\d+\\) in embedding run \\d+ \\(miru-convnext-s\\), cosine distance:\\n\\s+1\\s+0\\.0000\\s+.*${lib.copy}`));
});

test('miru duplicates finds the byte-identical pair by hash and groups the resized copy with it', async () => {
  const lib = await library();
  const { code, json, stderr } = await runMiruJson<{
    analysisId: number;
    embedding: { runId: number; model: string };
    threshold: number;
    thresholdSource: string;
    exact: number[][];
    near: { ids: number[]; maxDistance: number }[];
  }>(['duplicates', '--db', lib.db]);
  assert.equal(code, 0, stderr);
  const sim = await runMiruJson<{ image: Link; neighbors: Link[] }>(['similar', '--db', lib.db, '--image', lib.original, '--k', '2']);
  const [copyId, smallId] = sim.json.neighbors.map((n) => n.id);
  const originalId = sim.json.image.id;
  assert.deepEqual(json.exact, [[originalId, copyId].sort((a, b) => a - b)]);
  assert.equal(json.thresholdSource, 'auto');
  assert.ok(json.threshold > 0 && json.threshold < 2);
  // Only the original and its two copies are this close: the other synthetic images are all different.
  assert.deepEqual(json.near.map((g) => g.ids), [[originalId, copyId, smallId].sort((a, b) => a - b)]);
  assert.ok(json.near[0].maxDistance <= json.threshold);
  assert.deepEqual(Object.keys(json.near[0]).sort(), ['ids', 'maxDistance']);

  const strict = await runMiruJson<{ near: { ids: number[] }[] }>(['duplicates', '--db', lib.db, '--threshold', '0']);
  assert.deepEqual(strict.json.near.map((g) => g.ids), [[originalId, copyId].sort((a, b) => a - b)], 'threshold 0: only identical vectors');
  const bad = await runMiru(['duplicates', '--db', lib.db, '--threshold', '2.5']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--threshold 2\.5 is outside \[0, 2\], the range of cosine distance/);
});

test('miru duplicates works from content hashes alone in a library without embeddings', async () => {
  const dir = tempDir();
  const images = path.join(dir, 'images');
  await writeTestImage(path.join(images, 'a.png'), { seed: 1 });
  await writeTestImage(path.join(images, 'b.png'), { seed: 2 });
  copyFileSync(path.join(images, 'a.png'), path.join(images, 'a2.png'));
  const db = path.join(dir, 'lib.db');
  assert.equal((await runMiru(['index', images, '--db', db])).code, 0);
  const { code, json } = await runMiruJson<{ embedding: null; exact: number[][]; near: unknown[] }>(['duplicates', '--db', db]);
  assert.equal(code, 0);
  assert.equal(json.embedding, null);
  assert.equal(json.exact.length, 1);
  assert.equal(json.exact[0].length, 2);
  assert.deepEqual(json.near, []);
  const text = await runMiru(['duplicates', '--db', db]);
  assert.match(text.stderr, /no embedding run in this library, so only byte-identical duplicates are found/);
  assert.match(text.stdout, /^1 group of byte-identical images:\n\s+.*\/a2?\.png \(id \d+\)\n\s+.*\/a2?\.png \(id \d+\)\nStored 1 group as analysis \d+\.\n$/);
  const similar = await runMiru(['similar', '--db', db, '--image', 'a.png']);
  assert.equal(similar.code, 1);
  assert.match(similar.stderr, /The library has no embeddings yet\. Make some with `miru embed/);
});

test('miru outliers scores every image, most unusual first, and stores the scores', async () => {
  const lib = await library();
  const { code, json, stderr } = await runMiruJson<{ analysisId: number; k: number; median: number; images: (Link & { meanDistance: number; score: number })[] }>([
    'outliers', '--db', lib.db, '--embedding', 'miru-convnext-s', '--k', '5',
  ]);
  assert.equal(code, 0, stderr);
  assert.equal(json.k, 5);
  assert.equal(json.images.length, lib.count);
  for (let i = 1; i < json.images.length; i++) assert.ok(json.images[i].meanDistance <= json.images[i - 1].meanDistance);
  for (const img of json.images) assert.ok(Math.abs(img.score - Math.exp(-img.meanDistance / json.median)) < 1e-9);
  assert.deepEqual(Object.keys(json.images[0]).sort(), ['id', 'meanDistance', 'path', 'score']);
  const text = await runMiru(['outliers', '--db', lib.db, '--embedding', 'miru-convnext-s', '--top', '3']);
  assert.match(text.stdout, /Outlier scores of 26 images in embedding run \d+ \(miru-convnext-s\), k = 10; .* Stored as analysis \d+\./);
  assert.equal(text.stdout.trim().split('\n').length, 5, 'summary, header and three images');
  const tooMany = await runMiru(['outliers', '--db', lib.db, '--embedding', 'miru-convnext-s', '--k', '26']);
  assert.equal(tooMany.code, 1);
  assert.match(tooMany.stderr, /--k 26 needs more than 26 images with vectors; embedding run \d+ has 26\. Use --k 25 or less/);
});

test('miru project draws PCA and UMAP maps with every point, stored per recipe; bad settings are refused', async () => {
  const lib = await library();
  const pca = await runMiruJson<{ analysisId: number; method: string; embedding: { model: string | null }; params: Record<string, unknown>; summary: { explainedVarianceRatio: number[] }; points: { id: number; x: number; y: number }[] }>([
    'project', '--db', lib.db, '--embedding', 'miru-convnext-s', '--method', 'pca',
  ]);
  assert.equal(pca.code, 0, pca.stderr);
  assert.equal(pca.json.method, 'pca');
  assert.equal(pca.json.embedding.model, 'miru-convnext-s');
  assert.deepEqual(pca.json.params, { method: 'pca' });
  assert.equal(pca.json.points.length, lib.count);
  assert.ok(pca.json.summary.explainedVarianceRatio[0] >= pca.json.summary.explainedVarianceRatio[1]);
  // The copy sits on the original in the map.
  const sim = await runMiruJson<{ image: Link; neighbors: Link[] }>(['similar', '--db', lib.db, '--image', lib.original, '--k', '1']);
  const at = (id: number) => pca.json.points.find((p) => p.id === id)!;
  assert.ok(Math.abs(at(sim.json.image.id).x - at(sim.json.neighbors[0].id).x) < 1e-4);

  const umapArgs = ['project', '--db', lib.db, '--embedding', 'miru-convnext-s', '--method', 'umap', '--neighbors', '5', '--min-dist', '0.2', '--seed', '3', '--epochs', '60'];
  const umap = await runMiruJson<{ params: Record<string, unknown>; points: { id: number; x: number; y: number }[] }>(umapArgs);
  assert.equal(umap.code, 0, umap.stderr);
  assert.deepEqual(umap.json.params, { method: 'umap', neighbors: 5, minDist: 0.2, seed: 3, metric: 'cosine', nEpochs: 60 });
  assert.equal(umap.json.points.length, lib.count);
  assert.ok(umap.json.points.every((p) => Number.isFinite(p.x) && Number.isFinite(p.y)));
  const again = await runMiruJson<{ points: unknown[] }>(umapArgs);
  assert.deepEqual(again.json.points, umap.json.points, 'same seed, same map');

  const text = await runMiru(['project', '--db', lib.db, '--embedding', 'miru-convnext-s', '--method', 'pca']);
  assert.match(text.stdout, /^PCA map of embedding run \d+: 26 points, explained variance \d+\.\d% \+ \d+\.\d%, \d+ ms\. Stored as analysis \d+\./);

  const cases: [string[], RegExp][] = [
    [['--method', 'umap', '--neighbors', '26'], /UMAP with 26 neighbours needs more than 26 vectors; the run has 26\. Use --neighbors 25 or fewer/],
    [['--method', 'tsne'], /--method tsne: use umap or pca/],
    [['--method', 'pca', '--neighbors', '5'], /UMAP settings; leave them out with --method pca/],
  ];
  for (const [extra, message] of cases) {
    const run = await runMiru(['project', '--db', lib.db, '--embedding', 'miru-convnext-s', ...extra]);
    assert.equal(run.code, 1, extra.join(' '));
    assert.match(run.stderr, message);
  }
  const unknown = await runMiru(['project', '--db', lib.db, '--embedding', 'nope', '--method', 'pca']);
  assert.match(unknown.stderr, /No embedding run "nope"\. Known embedding runs: \d+ \(miru-convnext-s, 26 vectors\)/);
  const negative = await runMiru(['project', '--db', lib.db, '--embedding', 'miru-convnext-s', '--min-dist', '-1']);
  assert.equal(negative.code, 2);
  assert.match(negative.stderr, /--min-dist must be a number of 0 or more/);
});

test('miru similar refuses an image without a vector, an unknown image and a bad --k', async () => {
  const lib = await library();
  // A new image indexed after the embedding run has no vector in it.
  const dir = tempDir();
  const extra = path.join(dir, 'extra');
  await writeTestImage(path.join(extra, 'late.png'), { seed: 9 });
  assert.equal((await runMiru(['index', extra, '--db', lib.db])).code, 0);
  const missing = await runMiru(['similar', '--db', lib.db, '--image', path.join(extra, 'late.png')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /Image \d+ \(.*late\.png\) has no vector in embedding run \d+ \(miru-convnext-s\)\. Run `miru embed --model miru-convnext-s`/);
  const unknown = await runMiru(['similar', '--db', lib.db, '--image', 'nope.png']);
  assert.match(unknown.stderr, /Unknown image "nope\.png"/);
  const big = await runMiru(['similar', '--db', lib.db, '--image', lib.original, '--k', '26']);
  assert.match(big.stderr, /--k 26 asks for more neighbours than the run has other images \(25\)/);
  const zero = await runMiru(['similar', '--db', lib.db, '--image', lib.original, '--k', '0']);
  assert.equal(zero.code, 2);
  assert.match(zero.stderr, /--k must be a positive whole number/);
  assert.ok(!existsSync(path.join(`${lib.db}.cache`, 'knn')), 'small runs need no index on disk');
});
