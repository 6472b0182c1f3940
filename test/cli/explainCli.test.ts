import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { openLibrary } from '../../core/library/openLibrary.js';
import { readSaliency } from '../../core/explain/explainLibrary.js';
import { runMiru, runMiruJson } from '../helpers/runMiru.js';
import { synthCliLibrary } from '../helpers/synthLibrary.js';
import { repoRoot, tempDir } from '../helpers/paths.js';
import { writeModelWithoutRule } from '../core/explain/noRuleModel.js';

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

test('miru explain --db stops once, with rc 1, on errors that do not depend on the image', async () => {
  const { dir, db } = await synthLibrary(3);
  const noRule = writeModelWithoutRule(dir, 16);
  const add = await runMiru(['models', 'add', noRule.model, '--db', db, '--card', noRule.card]);
  assert.equal(add.code, 0, add.stderr);
  for (const [args, message] of [
    [['--method', 'gradcam', '--layer', 'pooled'], /layer pooled has shape \[1, 4\], which is neither a spatial map/],
    [['--method', 'gradients'], /input-gradient methods need a rule for every operator of the model, but no gradient rule for HardSigmoid/],
    [['--method', 'hirescam'], /hirescam needs the gradient at every position.*HardSigmoid/],
  ] as const) {
    const run = await runMiru(['explain', '--db', db, '--model', noRule.name, ...args]);
    assert.equal(run.code, 1, `${args.join(' ')}: ${run.stdout}`);
    assert.match(run.stderr, message);
    assert.doesNotMatch(run.stdout, /failed/);
  }
  // An overlay is drawn for one image: a job refuses the option rather than dropping it.
  const overlay = await runMiru(['explain', '--db', db, '--model', noRule.name, '--method', 'eigencam', '--overlay', path.join(dir, 'o.png')]);
  assert.equal(overlay.code, 1);
  assert.match(overlay.stderr, /--overlay draws one map: give an image/);
});

test('miru explain --metrics skips a method the model cannot run, reports the layer used, and counts flat maps as misses', async () => {
  const { dir, db, data } = await synthLibrary(3);
  for (const negative of [false, true]) {
    const m = writeModelWithoutRule(dir, 16, { negative });
    assert.equal((await runMiru(['models', 'add', m.model, '--db', db, '--card', m.card])).code, 0);
  }
  const run = await runMiruJson<{ layer: string; methods: { method: string; layer: string }[]; skipped: { method: string; reason: string }[] }>([
    'explain', '--db', db, '--model', 'no-rule', '--method', 'gradcam,hirescam,occlusion', '--metrics', '--sample', '2', '--metric-steps', '4', '--window', '4',
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.json.layer, 'feat');
  assert.deepEqual(run.json.methods.map((m) => [m.method, m.layer]), [['gradcam', 'feat'], ['occlusion', 'input']]);
  assert.deepEqual(run.json.skipped.map((s) => s.method), ['hirescam']);
  assert.match(run.json.skipped[0]!.reason, /HardSigmoid/);
  // All-negative head weights after HardSigmoid: every Grad-CAM map is empty, and empty maps point nowhere.
  const text = await runMiru(['explain', '--db', db, '--model', 'no-rule-negative', '--method', 'gradcam', '--layer', 'hard', '--metrics', '--sample', '3', '--metric-steps', '4', '--truth', path.join(data, 'truth.json')]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /gradcam .* 0\.0% \(0\/3, 3 flat\)/);
  assert.match(text.stdout, /max\(0, y - o\) \/ \(y - b\), b the score of the baseline image/);
  assert.match(text.stdout, /flat maps .* count as misses/);
});

test('miru explain <image>: notices for a guessed card, an empty map, and a missing backward graph for --check-gradients', async () => {
  const { dir, data } = await synthLibrary(1);
  const image = path.join(data, 'images', 'img_00001.png');
  const negative = writeModelWithoutRule(dir, 16, { negative: true });
  const empty = await runMiruJson<{ notices: string[] }>(['explain', image, '--model', negative.model, '--method', 'gradcam', '--layer', 'hard']);
  assert.equal(empty.code, 0, empty.stderr);
  assert.ok(empty.json.notices.some((n) => /the map is empty after ReLU: nothing at layer hard raises the target/.test(n)), empty.json.notices.join('\n'));
  const check = await runMiru(['explain', image, '--model', negative.model, '--method', 'gradcam', '--check-gradients']);
  assert.equal(check.code, 1);
  assert.match(check.stderr, /--check-gradients: checking gradients at feat needs the backward graph, which cannot be built: no gradient rule for HardSigmoid.*Choose a layer after the HardSigmoid node/);
  // The bundled ConvNeXt copied away from its card: the guess is said, with what was assumed.
  const bare = path.join(dir, 'bare.onnx');
  copyFileSync(convnext, bare);
  const guessed = await runMiru(['explain', image, '--model', bare, '--method', 'eigencam']);
  assert.equal(guessed.code, 0, guessed.stderr);
  assert.match(guessed.stderr, /note: no card for .*bare\.onnx \(no --card, --preset or bare\.card\.json\): assumed NCHW 128x128 RGB/);
  const carded = await runMiru(['explain', image, '--model', convnext, '--method', 'eigencam']);
  assert.doesNotMatch(carded.stderr, /no card/);
});

test('miru explain <image>: outputs into new folders, overlays in the format their name says, images named as in the library', async () => {
  const { dir, db, data } = await synthLibrary(2);
  const out = path.join(dir, 'new', 'deeper', 'map.json');
  const overlay = path.join(dir, 'other', 'overlay.jpg');
  const run = await runMiru(['explain', 'img_00002.png', '--db', db, '--model', 'miru-convnext-s', '--method', 'eigencam', '--out', out, '--overlay', overlay]);
  assert.equal(run.code, 0, run.stderr);
  assert.ok(existsSync(out));
  assert.equal((await sharp(overlay).metadata()).format, 'jpeg');
  const byId = await runMiru(['explain', 'id:1', '--db', db, '--model', 'miru-convnext-s', '--method', 'eigencam']);
  assert.equal(byId.code, 0, byId.stderr);
  const unknown = await runMiru(['explain', 'img_09999.png', '--db', db, '--model', 'miru-convnext-s', '--method', 'eigencam']);
  assert.match(unknown.stderr, /Unknown image "img_09999.png": no indexed image has this relative path, content hash or id/);
  const gif = await runMiru(['explain', path.join(data, 'images', 'img_00001.png'), '--model', convnext, '--method', 'eigencam', '--overlay', path.join(dir, 'o.gif')]);
  assert.equal(gif.code, 1);
  assert.match(gif.stderr, /overlay .*o\.gif: name the file \*\.png, \*\.jpg, \*\.jpeg, \*\.webp/);
});

test('miru explain <image>: undecodable files are named, with what to do', async () => {
  const dir = tempDir();
  const good = path.join(dir, 'good.png');
  await sharp({ create: { width: 64, height: 48, channels: 3, background: '#806040' } }).png().toFile(good);
  const truncated = path.join(dir, 'truncated.png');
  writeFileSync(truncated, readFileSync(good).subarray(0, 60));
  const text = path.join(dir, 'notes.jpg');
  writeFileSync(text, 'just some words');
  const empty = path.join(dir, 'empty.png');
  writeFileSync(empty, '');
  for (const [file, reason] of [
    [truncated, /truncated or damaged image data|cannot decode image: Input buffer has corrupt header/],
    [text, /not an image: the content is not a format Miru reads \(the name says \.jpg\)/],
    [empty, /empty file \(0 bytes\): re-copy or re-export it/],
  ] as const) {
    const run = await runMiru(['explain', file, '--model', convnext, '--method', 'eigencam']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, new RegExp(`Cannot read image ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
    assert.match(run.stderr, reason);
    assert.match(run.stderr, /replace or re-export the file/);
  }
  const keep = await runMiru(['explain', good, '--model', convnext, '--method', 'rise', '--keep', '0']);
  assert.equal(keep.code, 2);
  assert.match(keep.stderr, /--keep must be a number in \(0, 1\]/);
});
