import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import sharp from 'sharp';
import { openLibrary, cacheDirFor } from '../../../core/library/openLibrary.js';
import { indexLibrary } from '../../../core/library/indexLibrary.js';
import { addModel } from '../../../core/models/modelRegistry.js';
import { scoreLibrary } from '../../../core/models/scoreLibrary.js';
import { embedLibrary } from '../../../core/models/embedLibrary.js';
import { inferSplittingOnOutOfMemory } from '../../../core/models/libraryInference.js';
import { OutOfMemoryError } from '../../../core/models/inferencePool.js';
import { Writable } from 'node:stream';
import { exportScores } from '../../../core/models/exportScores.js';
import { repoRoot, tempDir } from '../../helpers/paths.js';
import { meanScoreCard, meanScoreModel } from '../../helpers/tinyModels.js';

/** A library of flat grey images whose mean value is known exactly: image k has grey level 20 * k. */
async function greyLibrary(count: number) {
  const dir = tempDir();
  const images = path.join(dir, 'images');
  mkdirSync(images, { recursive: true });
  for (let k = 1; k <= count; k++) {
    const grey = { r: 20 * k, g: 20 * k, b: 20 * k };
    await sharp({ create: { width: 24 + k, height: 20, channels: 3, background: grey } }).png().toFile(path.join(images, `grey${String(k).padStart(2, '0')}.png`));
  }
  const dbPath = path.join(dir, 'lib.db');
  const db = openLibrary(dbPath);
  await indexLibrary(db, [images], { cacheDir: cacheDirFor(dbPath) });
  return { dir, images, db };
}

async function addTinyModel(dir: string, db: ReturnType<typeof openLibrary>, name: string, nanBelow?: number) {
  const file = path.join(dir, `${name}.onnx`);
  writeFileSync(file, meanScoreModel({ size: 8, nanBelow }));
  writeFileSync(path.join(dir, `${name}.card.json`), JSON.stringify(meanScoreCard(name, 8)));
  return addModel(db, file);
}

test('every image gets the score its pixels imply, across batch boundaries', async () => {
  const { dir, db } = await greyLibrary(11);
  await addTinyModel(dir, db, 'mean');
  const summary = await scoreLibrary(db, 'mean', { batch: 4, ep: 'cpu' });
  assert.deepEqual([summary.scored, summary.skipped, summary.failed, summary.status, summary.ep], [11, 0, 0, 'complete', 'cpu']);
  assert.ok(summary.imagesPerSecond > 0);
  const rows = db.prepare('SELECT i.rel_path, s.score FROM scores s JOIN images i ON i.id = s.image_id ORDER BY i.rel_path').all() as { rel_path: string; score: number }[];
  rows.forEach((row, i) => assert.ok(Math.abs(row.score - (20 * (i + 1)) / 255) < 1e-5, `${row.rel_path}: ${row.score}`));
});

test('a rerun skips what is scored; --force rescores; a new image is picked up', async () => {
  const { dir, images, db } = await greyLibrary(5);
  await addTinyModel(dir, db, 'mean');
  await scoreLibrary(db, 'mean', { ep: 'cpu' });
  const again = await scoreLibrary(db, 'mean', { ep: 'cpu' });
  assert.deepEqual([again.scored, again.skipped, again.run], [0, 5, 1]);
  await sharp({ create: { width: 9, height: 9, channels: 3, background: '#ffffff' } }).png().toFile(path.join(images, 'white.png'));
  await indexLibrary(db, [images], { cacheDir: cacheDirFor(path.join(dir, 'lib.db')) });
  const more = await scoreLibrary(db, 'mean', { ep: 'cpu' });
  assert.deepEqual([more.scored, more.skipped], [1, 5]);
  const forced = await scoreLibrary(db, 'mean', { ep: 'cpu', force: true });
  assert.deepEqual([forced.scored, forced.skipped], [6, 0]);
  assert.equal(db.prepare('SELECT count(*) FROM scores').pluck().get(), 6);
});

test('NaN outputs and undecodable images are failures, never scores, and the run is still complete', async () => {
  const { dir, images, db } = await greyLibrary(6);
  await addTinyModel(dir, db, 'nanny', 70 / 255); // log(mean - 70/255): NaN for grey levels 20..60
  const file = path.join(images, 'grey01.png');
  writeFileSync(file, 'corrupted after indexing');
  const summary = await scoreLibrary(db, 'nanny', { ep: 'cpu', batch: 2 });
  assert.equal(summary.scored, 3);
  assert.equal(summary.failed, 3);
  assert.equal(summary.status, 'complete');
  const errors = summary.failures.map((f) => `${path.basename(f.path)}: ${f.error}`).sort();
  assert.match(errors[0]!, /^grey01.png: not an image: the content is not a format Miru reads/);
  assert.match(errors[1]!, /^grey02.png: the model output score holds NaN/);
  assert.equal(db.prepare('SELECT count(*) FROM scores WHERE score != score').pluck().get(), 0);
  assert.equal(db.prepare('SELECT count(*) FROM run_failures').pluck().get(), 3);
});

test('a model file that changed since it was added is refused before any work', async () => {
  const { dir, db } = await greyLibrary(1);
  await addTinyModel(dir, db, 'mean');
  writeFileSync(path.join(dir, 'mean.onnx'), meanScoreModel({ size: 8, nanBelow: 0 }));
  await assert.rejects(scoreLibrary(db, 'mean'), /changed since it was added as "mean".*models add/);
  await assert.rejects(scoreLibrary(db, 'nothing'), /No model named "nothing".*models: mean/);
  assert.equal(db.prepare('SELECT count(*) FROM runs').pluck().get(), 0);
});

test('embeddings from an inner tensor exposed as an extra output', async () => {
  const { dir, db } = await greyLibrary(3);
  await addTinyModel(dir, db, 'mean');
  const summary = await embedLibrary(db, 'mean', { layer: 'm', pool: 'none', ep: 'cpu' });
  assert.deepEqual([summary.embedded, summary.dimension, summary.status], [3, 1, 'complete']);
  const vectors = (db.prepare('SELECT e.vector FROM embeddings e JOIN images i ON i.id = e.image_id ORDER BY i.rel_path').pluck().all() as Buffer[]).map((b) => b.readFloatLE(0));
  vectors.forEach((v, i) => assert.ok(Math.abs(v - (20 * (i + 1)) / 255) < 1e-5));
  await assert.rejects(embedLibrary(db, 'mean'), /names no embedding output/);
});

test('out of memory halves the batch until it fits, and later batches use the size that fit', async () => {
  const items = Array.from({ length: 8 }, (_, i) => ({ id: i, tensor: Float32Array.of(i) }));
  const sizesTried: number[] = [];
  let smallest = Infinity;
  const results = await inferSplittingOnOutOfMemory(
    items,
    async (tensors) => {
      sizesTried.push(tensors.length);
      if (tensors.length > 2) throw new OutOfMemoryError('Failed to allocate memory');
      return { y: { type: 'float32', data: Float32Array.from(tensors.map((t) => t[0]! * 10)), dims: [tensors.length, 1] } };
    },
    (size) => (smallest = Math.min(smallest, size)),
  );
  assert.deepEqual(sizesTried, [8, 4, 2, 2, 4, 2, 2]);
  assert.equal(smallest, 2);
  assert.deepEqual(results.map((r) => r.outputs!.y!.data[0]), [0, 10, 20, 30, 40, 50, 60, 70]);
  const single = await inferSplittingOnOutOfMemory([items[0]!], async () => {
    throw new OutOfMemoryError('bad_alloc');
  }, () => {});
  assert.match(single[0]!.error!, /out of memory even for a batch of 1/);
});

test('re-adding a name with another model file keeps the earlier version\'s results under name@sha and scores afresh', async () => {
  const { dir, db } = await greyLibrary(3);
  const first = await addTinyModel(dir, db, 'mean');
  assert.equal(first.replaced, null);
  const before = await scoreLibrary(db, 'mean', { ep: 'cpu' });
  // The same file again (e.g. re-run of a setup script) is the same model: nothing is set aside.
  assert.equal((await addModel(db, path.join(dir, 'mean.onnx'))).replaced, null);
  // New weights under the same name: log(mean) instead of mean.
  writeFileSync(path.join(dir, 'mean.onnx'), meanScoreModel({ size: 8, nanBelow: 0 }));
  const second = await addModel(db, path.join(dir, 'mean.onnx'));
  assert.deepEqual(second.replaced, { keptAs: `mean@${first.model.sha256.slice(0, 8)}`, runs: 1, saliencyMaps: 0 });
  const after = await scoreLibrary(db, 'mean', { ep: 'cpu' });
  assert.notEqual(after.run, before.run);
  assert.deepEqual([after.scored, after.skipped], [3, 0]);
  const scores = (run: number) => db.prepare('SELECT score FROM scores WHERE run_id = ? ORDER BY image_id').pluck().all(run) as number[];
  scores(after.run).forEach((s, i) => assert.ok(Math.abs(s - Math.log((20 * (i + 1)) / 255)) < 1e-4, `new model's score ${s}`));
  scores(before.run).forEach((s, i) => assert.ok(Math.abs(s - (20 * (i + 1)) / 255) < 1e-5, 'the earlier version keeps its scores'));
  assert.deepEqual(db.prepare('SELECT name FROM models ORDER BY name').pluck().all(), ['mean', `mean@${first.model.sha256.slice(0, 8)}`]);
});

test('an image whose content changed loses the results of its old pixels, and the run is no longer complete', async () => {
  const { dir, images, db } = await greyLibrary(4);
  await addTinyModel(dir, db, 'mean');
  const first = await scoreLibrary(db, 'mean', { ep: 'cpu' });
  await embedLibrary(db, 'mean', { layer: 'm', pool: 'none', ep: 'cpu' });
  await sharp({ create: { width: 30, height: 20, channels: 3, background: { r: 200, g: 200, b: 200 } } }).png().toFile(path.join(images, 'grey02.png'));
  const indexed = await indexLibrary(db, [images], { cacheDir: cacheDirFor(path.join(dir, 'lib.db')) });
  assert.deepEqual([indexed.updated, indexed.contentChanged], [1, 1]);
  const changedId = db.prepare(`SELECT id FROM images WHERE rel_path = 'grey02.png'`).pluck().get() as number;
  assert.equal(db.prepare('SELECT count(*) FROM scores WHERE image_id = ?').pluck().get(changedId), 0);
  assert.equal(db.prepare('SELECT count(*) FROM embeddings WHERE image_id = ?').pluck().get(changedId), 0);
  assert.equal(db.prepare('SELECT status FROM runs WHERE id = ?').pluck().get(first.run), 'partial');
  const again = await scoreLibrary(db, 'mean', { ep: 'cpu' });
  assert.deepEqual([again.run, again.scored, again.skipped, again.status], [first.run, 1, 3, 'complete']);
  const score = db.prepare('SELECT score FROM scores WHERE run_id = ? AND image_id = ?').pluck().get(first.run, changedId) as number;
  assert.ok(Math.abs(score - 200 / 255) < 1e-5, `the new content's score, got ${score}`);
  // Touching a file without changing its content keeps its results.
  const same = readFileSync(path.join(images, 'grey03.png'));
  writeFileSync(path.join(images, 'grey03.png'), same);
  utimesSync(path.join(images, 'grey03.png'), new Date(), new Date(Date.now() + 5000));
  const touched = await indexLibrary(db, [images], { cacheDir: cacheDirFor(path.join(dir, 'lib.db')) });
  assert.deepEqual([touched.updated, touched.contentChanged], [1, 0]);
  assert.equal(db.prepare('SELECT count(*) FROM scores WHERE run_id = ?').pluck().get(first.run), 4);
});

test('failures of an earlier attempt are reported and not retried, unless asked', async () => {
  const { dir, images, db } = await greyLibrary(3);
  await addTinyModel(dir, db, 'mean');
  const file = path.join(images, 'grey01.png');
  const original = readFileSync(file);
  writeFileSync(file, 'broken while a copy was running'); // after indexing: the run meets an undecodable file
  const first = await scoreLibrary(db, 'mean', { ep: 'cpu' });
  assert.deepEqual([first.scored, first.failed, first.failedBefore], [2, 1, 0]);
  writeFileSync(file, original); // put back byte for byte: the index sees nothing to re-read
  const plain = await scoreLibrary(db, 'mean', { ep: 'cpu' });
  assert.deepEqual([plain.scored, plain.skipped, plain.failed, plain.failedBefore], [0, 2, 0, 1]);
  const retried = await scoreLibrary(db, 'mean', { ep: 'cpu', retryFailed: true });
  assert.deepEqual([retried.scored, retried.skipped, retried.failed, retried.failedBefore, retried.status], [1, 2, 0, 0, 'complete']);
  assert.equal(db.prepare('SELECT count(*) FROM run_failures').pluck().get(), 0);
});

test('an embedding output the model lacks, or a pooling its shape cannot take, is refused before a run opens', async () => {
  const { dir, db } = await greyLibrary(2);
  await addTinyModel(dir, db, 'mean');
  await assert.rejects(embedLibrary(db, 'mean', { output: 'nosuch', ep: 'cpu' }), /"mean" has no output named "nosuch"; its outputs are score\. Pass one of them to --output, or any inner tensor to --layer/);
  await assert.rejects(embedLibrary(db, 'mean', { output: 'score', pool: 'cls', ep: 'cpu' }), /--pool cls takes the first token of a token sequence .* but output score has rank 2/);
  await assert.rejects(embedLibrary(db, 'mean', { layer: 'nosuch', ep: 'cpu' }), /no tensor named nosuch .*miru models inspect/);
  assert.equal(db.prepare('SELECT count(*) FROM runs').pluck().get(), 0);
});

test('exported class probabilities get one column per class: p_<label>, or p_<index> where the card names no labels', async () => {
  const { db } = await greyLibrary(2);
  const bundled = path.join(repoRoot, 'assets', 'models', 'miru-convnext-s.onnx');
  await addModel(db, bundled);
  await scoreLibrary(db, 'miru-convnext-s', { ep: 'cpu' });
  const exported = async () => {
    const chunks: string[] = [];
    const sink = new Writable({ write: (chunk, _encoding, done) => (chunks.push(String(chunk)), done()) });
    const coverage = await exportScores(db, 'miru-convnext-s', 'jsonl', sink);
    return { coverage, rows: chunks.join('').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
  };
  const labelled = await exported();
  assert.deepEqual(Object.keys(labelled.rows[0]!).filter((k) => k.startsWith('p_')), ['p_1', 'p_2', 'p_3', 'p_4', 'p_5']);
  assert.deepEqual([labelled.coverage.scored, labelled.coverage.images, labelled.coverage.failed], [2, 2, 0]);
  // The same model described by a card without labels (as an ImageNet preset leaves a 1000-class output).
  db.prepare(`UPDATE models SET card = json_remove(card, '$.outputs.score.labels') WHERE name = 'miru-convnext-s'`).run();
  const unlabelled = await exported();
  const p = Object.keys(unlabelled.rows[0]!).filter((k) => k.startsWith('p_'));
  assert.deepEqual(p, ['p_0', 'p_1', 'p_2', 'p_3', 'p_4']);
  const sum = p.reduce((a, k) => a + (unlabelled.rows[0]![k] as number), 0);
  assert.ok(Math.abs(sum - 1) < 1e-5, `probabilities sum to ${sum}`);
});

test('a --preset replaces the card beside the model, which applies only when neither --card nor --preset is given', async () => {
  const { dir, db } = await greyLibrary(1);
  await addTinyModel(dir, db, 'mean'); // writes mean.card.json beside mean.onnx (8x8, as the model)
  // deepghs-aesthetic feeds 448x448: were the sidecar card still layered on top, its 8x8 would hide the clash.
  await assert.rejects(addModel(db, path.join(dir, 'mean.onnx'), { name: 'preset', preset: 'deepghs-aesthetic' }), /448/);
  const plain = await addModel(db, path.join(dir, 'mean.onnx'), { name: 'sidecar' });
  assert.deepEqual(plain.model.card.input.size, [8, 8]);
});
