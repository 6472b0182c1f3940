import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import sharp from 'sharp';
import { runMiru, runMiruJson } from '../helpers/runMiru.js';
import { tempDir } from '../helpers/paths.js';
import { meanScoreCard, meanScoreModel } from '../helpers/tinyModels.js';

async function libraryWithModel() {
  const dir = tempDir();
  const images = path.join(dir, 'images');
  mkdirSync(images);
  for (let k = 1; k <= 4; k++) await sharp({ create: { width: 16, height: 12, channels: 3, background: { r: 50 * k, g: 50 * k, b: 50 * k } } }).png().toFile(path.join(images, `g${k}.png`));
  const db = path.join(dir, 'lib.db');
  assert.equal((await runMiru(['index', images, '--db', db])).code, 0);
  const model = path.join(dir, 'mean.onnx');
  writeFileSync(model, meanScoreModel({ size: 8 }));
  return { dir, db, model };
}

test('inspect, add, score, rescore, export scores: the whole model workflow from the command line', async () => {
  const { dir, db, model } = await libraryWithModel();
  const info = await runMiruJson<{ inputs: { name: string; shape: (number | string)[]; type: string }[]; outputs: { name: string }[]; layers: { name: string; kind: string }[] }>(['models', 'inspect', model]);
  assert.equal(info.code, 0, info.stderr);
  assert.deepEqual(info.json.inputs, [{ name: 'x', shape: ['batch', 3, 8, 8], type: 'float32' }]);
  assert.deepEqual(info.json.outputs.map((o) => o.name), ['score']);
  assert.deepEqual(info.json.layers.map((l) => [l.name, l.kind]), [['m', 'spatial']]);

  const card = path.join(dir, 'card.json');
  writeFileSync(card, JSON.stringify(meanScoreCard('mean', 8)));
  const added = await runMiruJson<{ name: string; sha256: string }>(['models', 'add', model, '--db', db, '--card', card]);
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.json.sha256, /^[0-9a-f]{64}$/);
  const list = await runMiruJson<{ name: string }[]>(['models', 'list', '--db', db]);
  assert.deepEqual(list.json.map((m) => m.name), ['mean']);

  const scored = await runMiruJson<{ run: number; scored: number; skipped: number; failed: number; ep: string; imagesPerSecond: number }>(['score', '--db', db, '--model', 'mean', '--ep', 'cpu']);
  assert.equal(scored.code, 0, scored.stderr);
  assert.deepEqual([scored.json.scored, scored.json.skipped, scored.json.failed, scored.json.ep], [4, 0, 0, 'cpu']);
  assert.equal(typeof scored.json.imagesPerSecond, 'number');
  const again = await runMiruJson<{ run: number; scored: number; skipped: number }>(['score', '--db', db, '--model', 'mean', '--ep', 'cpu']);
  assert.deepEqual([again.json.run, again.json.scored, again.json.skipped], [scored.json.run, 0, 4]);

  const out = path.join(dir, 'scores.csv');
  assert.equal((await runMiru(['export', '--db', db, '--what', 'scores', '--model', 'mean', '--out', out])).code, 0);
  const lines = readFileSync(out, 'utf8').trim().split('\n');
  assert.equal(lines[0], 'image,path,hash,model,run,score');
  const rows = lines.slice(1).map((l) => l.split(','));
  const byImage = Object.fromEntries(rows.map((f) => [f[0], Number(f[5])]));
  for (let k = 1; k <= 4; k++) assert.ok(Math.abs(byImage[`g${k}.png`]! - (50 * k) / 255) < 1e-5);
  assert.deepEqual(rows.map((f) => f[1]), rows.map((f) => path.join(dir, 'images', f[0]!)));

  // A run that no longer covers the library (an image added since) is exported with a warning naming the gap.
  await sharp({ create: { width: 10, height: 10, channels: 3, background: '#808080' } }).png().toFile(path.join(dir, 'images', 'g5.png'));
  assert.equal((await runMiru(['index', path.join(dir, 'images'), '--db', db])).code, 0);
  const partial = await runMiru(['export', '--db', db, '--what', 'scores', '--model', 'mean', '--format', 'jsonl']);
  assert.equal(partial.code, 0);
  assert.equal(partial.stdout.trim().split('\n').length, 4);
  assert.match(partial.stderr, /score run \d+ of "mean" is partial: 4 of 5 readable images have a score, 1 have none yet\. Run `miru score --db D --model mean`/);
  assert.equal((await runMiru(['score', '--db', db, '--model', 'mean', '--ep', 'cpu'])).code, 0);
  const whole = await runMiru(['export', '--db', db, '--what', 'scores', '--model', 'mean', '--format', 'jsonl']);
  assert.doesNotMatch(whole.stderr, /partial/);
});

test('bad models and cards are refused before any work, with what to do', async () => {
  const { dir, db, model } = await libraryWithModel();
  const notOnnx = path.join(dir, 'notes.onnx');
  writeFileSync(notOnnx, 'this is not a model');
  const a = await runMiru(['models', 'add', notOnnx, '--db', db]);
  assert.equal(a.code, 1);
  assert.match(a.stderr, /notes\.onnx is not an ONNX model/);
  const truncated = path.join(dir, 'cut.onnx');
  writeFileSync(truncated, readFileSync(model).subarray(0, 60));
  const t = await runMiru(['models', 'inspect', truncated]);
  assert.equal(t.code, 1);
  assert.match(t.stderr, /cut\.onnx/);

  const wrongName = path.join(dir, 'wrong.json');
  writeFileSync(wrongName, JSON.stringify({ ...meanScoreCard('w', 8), input: { ...meanScoreCard('w', 8).input, name: 'pixels' } }));
  const w = await runMiru(['models', 'add', model, '--db', db, '--card', wrongName]);
  assert.equal(w.code, 1);
  assert.match(w.stderr, /pixels/);
  assert.match(w.stderr, /\bx\b/);
  const wrongLayout = path.join(dir, 'layout.json');
  writeFileSync(wrongLayout, JSON.stringify({ ...meanScoreCard('w', 8), input: { ...meanScoreCard('w', 8).input, layout: 'NHWC' } }));
  const l = await runMiru(['models', 'add', model, '--db', db, '--card', wrongLayout]);
  assert.equal(l.code, 1);
  assert.match(l.stderr, /NCHW/);
  const wrongSize = path.join(dir, 'size.json');
  writeFileSync(wrongSize, JSON.stringify({ ...meanScoreCard('w', 8), input: { ...meanScoreCard('w', 8).input, size: [224, 224] } }));
  const s = await runMiru(['models', 'add', model, '--db', db, '--card', wrongSize]);
  assert.equal(s.code, 1);
  assert.match(s.stderr, /224/);
  const missingOutput = path.join(dir, 'out.json');
  writeFileSync(missingOutput, JSON.stringify({ ...meanScoreCard('w', 8), outputs: { score: { name: 'aesthetic', kind: 'scalar' } } }));
  const o = await runMiru(['models', 'add', model, '--db', db, '--card', missingOutput]);
  assert.equal(o.code, 1);
  assert.match(o.stderr, /aesthetic/);
  const preset = await runMiru(['models', 'add', model, '--db', db, '--preset', 'deepghs-aesthetic']);
  assert.equal(preset.code, 1, 'a preset whose fixed size contradicts the model');
  assert.match(preset.stderr, /448/);

  const list = await runMiruJson<unknown[]>(['models', 'list', '--db', db]);
  assert.deepEqual(list.json, [], 'nothing was stored');
  const ep = await runMiru(['score', '--db', db, '--model', 'mean', '--ep', 'quantum']);
  assert.equal(ep.code, 1);
  assert.match(ep.stderr, /No model named "mean"|Unknown execution provider/);
});

test('doctor reports versions, providers with reasons, and native modules', async () => {
  const doctor = await runMiruJson<{ node: string; providers: { name: string; usable: boolean; reason: string }[]; nativeModules: { name: string; ok: boolean }[] }>(['doctor']);
  assert.equal(doctor.code, 0);
  assert.equal(doctor.json.node, process.versions.node);
  assert.ok(doctor.json.providers.find((p) => p.name === 'cpu')!.usable);
  assert.deepEqual(doctor.json.nativeModules.map((m) => [m.name, m.ok]), [['better-sqlite3', true], ['sharp', true], ['onnxruntime-node', true]]);
});
