import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { openLibrary } from '../../core/library/openLibrary.js';
import { readSaliency } from '../../core/explain/explainLibrary.js';
import { runMiru, runMiruJson } from '../helpers/runMiru.js';
import { synthCliLibrary } from '../helpers/synthLibrary.js';
import { repoRoot, tempDir } from '../helpers/paths.js';

const convnext = path.join(repoRoot, 'assets/models/miru-convnext-s.onnx');

/** A small synth library (with truth.json) and the bundled ConvNeXt added to it. */
async function synthLibrary(images: number): Promise<{ dir: string; db: string; data: string }> {
  const { dir, db, synth } = await synthCliLibrary({ images, raters: 3, seed: 4, size: 160, ratings: false, models: [{ name: 'miru-convnext-s' }] });
  return { dir, db, data: synth };
}

test('miru explain <image>: the JSON result, the same JSON in --out, and an overlay at the original size', async () => {
  const { dir, data } = await synthLibrary(2);
  const image = path.join(data, 'images', 'img_00001.png');
  const out = path.join(dir, 'map.json');
  const overlay = path.join(dir, 'overlay.png');
  const run = await runMiruJson<Record<string, unknown>>(['explain', image, '--model', convnext, '--method', 'gradcam', '--out', out, '--overlay', overlay, '--check-gradients']);
  assert.equal(run.code, 0, run.stderr);
  for (const key of ['method', 'layer', 'target', 'score', 'grid', 'raw', 'map', 'elapsedMs', 'ep']) assert.ok(key in run.json, `missing ${key}`);
  assert.equal(run.json.layer, 'feature_map');
  assert.deepEqual(run.json.grid, [8, 8]);
  assert.equal((run.json.raw as number[]).length, 64);
  assert.equal(run.json.gradients, 'backward-graph');
  assert.ok((run.json.gradientCheck as { pearson: number }).pearson > 0.9999);
  const saved = JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>;
  assert.deepEqual(saved.map, run.json.map);
  const [original, rendered] = await Promise.all([sharp(image).metadata(), sharp(overlay).metadata()]);
  assert.equal(rendered.format, 'png');
  assert.deepEqual([rendered.width, rendered.height], [original.width, original.height]);
});

test('miru explain --db: maps stored per recipe, a rerun resumes, --force recomputes, a broken image is a failure', async () => {
  const { db, data } = await synthLibrary(4);
  // Break one image after indexing: it must fail alone, with its path, and store nothing.
  const broken = path.join(data, 'images', 'img_00003.png');
  writeFileSync(broken, Buffer.from('not a png any more'));
  const first = await runMiruJson<{ explained: number; skipped: number; failed: number; layer: string; failures: { path: string; error: string }[] }>(['explain', '--db', db, '--model', 'miru-convnext-s', '--method', 'layercam']);
  assert.equal(first.code, 0, first.stderr);
  assert.deepEqual([first.json.explained, first.json.skipped, first.json.failed], [3, 0, 1]);
  assert.equal(first.json.failures[0]!.path, broken);
  const again = await runMiruJson<{ explained: number; skipped: number; failed: number }>(['explain', '--db', db, '--model', 'miru-convnext-s', '--method', 'layercam']);
  assert.deepEqual([again.json.explained, again.json.skipped, again.json.failed], [0, 3, 1]);
  const other = await runMiruJson<{ explained: number }>(['explain', '--db', db, '--model', 'miru-convnext-s', '--method', 'layercam', '--target', 'class:4', '--limit', '2']);
  assert.equal(other.json.explained, 2, 'another target is another recipe');
  const forced = await runMiruJson<{ explained: number; skipped: number }>(['explain', '--db', db, '--model', 'miru-convnext-s', '--method', 'layercam', '--force', '--filter', 'path~img_0000']);
  assert.equal(forced.json.explained, 3);
  const library = openLibrary(db);
  try {
    const modelId = (library.prepare("SELECT id FROM models WHERE name = 'miru-convnext-s'").get() as { id: number }).id;
    const stored = readSaliency(library, modelId, 1);
    assert.deepEqual(stored.map((s) => s.target).sort(), ['class:4', 'score']);
    for (const s of stored) {
      assert.deepEqual(s.grid, [8, 8]);
      assert.equal(s.map.length, 64);
      assert.equal(s.layer, 'feature_map');
      assert.equal(s.provider, 'cpu');
    }
  } finally {
    library.close();
  }
});

test('miru explain --metrics: deletion, insertion, average drop and the pointing game per method', async () => {
  const { db, data } = await synthLibrary(3);
  const run = await runMiruJson<{ images: number; methods: { method: string; deletionAuc: number; insertionAuc: number; averageDrop: number; increaseInConfidence: number; pointingGame: { hits: number; total: number; hitRate: number } }[] }>([
    'explain', '--db', db, '--model', 'miru-convnext-s', '--method', 'gradcam,eigencam', '--metrics', '--sample', '3', '--truth', path.join(data, 'truth.json'), '--metric-steps', '8',
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.json.images, 3);
  assert.deepEqual(run.json.methods.map((m) => m.method), ['gradcam', 'eigencam']);
  for (const m of run.json.methods) {
    assert.ok(Number.isFinite(m.deletionAuc) && Number.isFinite(m.insertionAuc));
    assert.ok(m.increaseInConfidence >= 0 && m.increaseInConfidence <= 100);
    assert.equal(m.pointingGame.total, 3);
  }
});

test('miru explain refuses bad input with what to do', async () => {
  const dir = tempDir();
  const image = path.join(dir, 'x.png');
  await sharp({ create: { width: 40, height: 30, channels: 3, background: '#808080' } }).png().toFile(image);
  const unknown = await runMiru(['explain', image, '--model', convnext, '--method', 'gradkam']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /unknown method gradkam; methods: gradcam, hirescam/);
  const two = await runMiru(['explain', image, '--model', convnext, '--method', 'gradcam,rise']);
  assert.match(two.stderr, /--method takes one method, except with --metrics/);
  const missing = await runMiru(['explain', path.join(dir, 'none.png'), '--model', convnext, '--method', 'gradcam']);
  assert.match(missing.stderr, /Cannot read image .*none\.png: no such file/);
  const notModel = path.join(dir, 'model.onnx');
  writeFileSync(notModel, 'hello');
  const bad = await runMiru(['explain', image, '--model', notModel, '--method', 'gradcam']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /not an ONNX model/);
  const noDb = await runMiru(['explain', '--model', convnext, '--method', 'gradcam']);
  assert.match(noDb.stderr, /Give an image to explain, or --db/);
  const opacity = await runMiru(['explain', image, '--model', convnext, '--method', 'gradcam', '--opacity', '2']);
  assert.equal(opacity.code, 2);
  assert.match(opacity.stderr, /--opacity must be a number from 0 to 1/);
});
