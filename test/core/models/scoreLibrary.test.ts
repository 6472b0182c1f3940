import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import sharp from 'sharp';
import { openLibrary, cacheDirFor } from '../../../core/library/openLibrary.js';
import { indexLibrary } from '../../../core/library/indexLibrary.js';
import { addModel } from '../../../core/models/modelRegistry.js';
import { scoreLibrary } from '../../../core/models/scoreLibrary.js';
import { embedLibrary } from '../../../core/models/embedLibrary.js';
import { inferSplittingOnOutOfMemory } from '../../../core/models/libraryInference.js';
import { OutOfMemoryError } from '../../../core/models/inferencePool.js';
import { tempDir } from '../../helpers/paths.js';
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
  assert.match(errors[0]!, /^grey01.png: cannot decode image/);
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
