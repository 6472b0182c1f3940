import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import sharp from 'sharp';
import { runMiru, runMiruJson } from '../helpers/runMiru.js';
import { tempDir } from '../helpers/paths.js';
import { probeCard, probeModel } from '../helpers/probeModels.js';

interface Report {
  model: string;
  ep: string;
  sample: { requested: number; used: number; available: number; seed: number };
  baseline: { mean: number; stderr: number; n: number };
  transforms: { name: string; unit: string; strengths: { strength: number; identity: boolean; meanScore: number; meanChange: number; stderr: number | null; n: number }[] }[];
  failed: { path: string; transform: string | null; strength: number | null; error: string }[];
  notes: string[];
}

/** Four colourful 16 x 16 images (the model's size) and a chroma model: mean max(R,G,B) - min(R,G,B). */
async function libraryWithChromaModel() {
  const dir = tempDir();
  const images = path.join(dir, 'images');
  mkdirSync(images);
  for (let k = 1; k <= 4; k++) {
    const data = Buffer.alloc(16 * 16 * 3);
    for (let i = 0; i < 16 * 16; i++) {
      data[i * 3] = (40 * k + 7 * i) & 255;
      data[i * 3 + 1] = (90 + 13 * i) & 255;
      data[i * 3 + 2] = (30 * k) & 255;
    }
    await sharp(data, { raw: { width: 16, height: 16, channels: 3 } }).png().toFile(path.join(images, `c${k}.png`));
  }
  const db = path.join(dir, 'lib.db');
  assert.equal((await runMiru(['index', images, '--db', db])).code, 0);
  const model = path.join(dir, 'chroma.onnx');
  writeFileSync(model, probeModel('chroma', 16));
  writeFileSync(path.join(dir, 'chroma.card.json'), JSON.stringify(probeCard('chroma', 16)));
  const added = await runMiru(['models', 'add', model, '--db', db]);
  assert.equal(added.code, 0, added.stderr);
  return { dir, images, db };
}

let shared: ReturnType<typeof libraryWithChromaModel> | null = null;
/** One library for the whole file; the last test corrupts an image in it. */
const library = () => (shared ??= libraryWithChromaModel());

test('miru probe prints a table; the help documents transforms and the JSON shape', async () => {
  const { db } = await library();
  const run = await runMiru(['probe', '--db', db, '--model', 'chroma', '--transforms', 'grayscale', '--strengths', '0,1', '--ep', 'cpu']);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^Probe of chroma on cpu: 4 images \(seed 1\), unperturbed mean score 0\.\d{4} ± 0\.\d{4} \(n 4\)/);
  assert.match(run.stdout, /transform\s+strength\s+mean score\s+change\s+± s\.e\.\s+n/);
  assert.match(run.stdout, /grayscale\s+0 \(id\)\s+0\.\d{4}\s+\+0\.0000\s+0\.0000\s+4/);
  assert.match(run.stdout, /\n\s+1\s+0\.0\d{3}\s+-0\.\d{4}\s+0\.\d{4}\s+4/);
  const help = await runMiru(['probe', '--help']);
  assert.equal(help.code, 0);
  for (const word of ['saturation', 'contrast', 'blur', 'jpeg', 'resolution', 'patch-shuffle', 'grayscale', '"meanChange"', '"stderr"', '"failed"', 'default strengths']) assert.ok(help.stdout.includes(word), word);
});

test('miru probe refuses bad input with what to do', async () => {
  const { dir, db } = await library();
  const cases: [string[], RegExp][] = [
    [['--transforms', 'saturation,sharpen'], /Unknown transform "sharpen"; valid transforms: saturation, contrast, blur, jpeg, resolution, patch-shuffle, grayscale/],
    [['--transforms', 'grayscale', '--strengths', '0,2'], /Bad strength 2 for grayscale: a grayscale amount must be a number from 0 to 1/],
    [['--transforms', 'blur,jpeg', '--strengths', '0,1'], /names no transform, and 2 transforms are probed; write NAME=S1,S2/],
    [['--model', 'nothing'], /No model named "nothing" in this library \(models: chroma\)/],
  ];
  for (const [args, message] of cases) {
    const model = args.includes('--model') ? [] : ['--model', 'chroma'];
    const run = await runMiru(['probe', '--db', db, ...model, ...args, '--ep', 'cpu']);
    assert.equal(run.code, 1, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, message, args.join(' '));
  }
  const zero = await runMiru(['probe', '--db', db, '--model', 'chroma', '--sample', '0']);
  assert.equal(zero.code, 2);
  assert.match(zero.stderr, /--sample must be a positive whole number/);

  const emptyImages = path.join(dir, 'empty');
  mkdirSync(emptyImages);
  const emptyDb = path.join(dir, 'empty.db');
  assert.equal((await runMiru(['index', emptyImages, '--db', emptyDb])).code, 0);
  assert.equal((await runMiru(['models', 'add', path.join(dir, 'chroma.onnx'), '--db', emptyDb])).code, 0);
  const empty = await runMiru(['probe', '--db', emptyDb, '--model', 'chroma']);
  assert.equal(empty.code, 1);
  assert.match(empty.stderr, /The library has no usable images to probe .*miru index/);
});

test('miru probe: JSON report with predicted saturation changes, a note for a sample larger than the library, failures per image', async () => {
  const { images, db } = await library();
  writeFileSync(path.join(images, 'c4.png'), 'corrupted after indexing');
  const run = await runMiruJson<Report>(['probe', '--db', db, '--model', 'chroma', '--transforms', 'saturation,patch-shuffle', '--strengths', 'saturation=0,0.5,1', '--strengths', 'patch-shuffle=1,4', '--sample', '10', '--seed', '3', '--ep', 'cpu', '--batch', '3']);
  assert.equal(run.code, 0, run.stderr);
  const r = run.json;
  assert.equal(r.model, 'chroma');
  assert.equal(r.ep, 'cpu');
  assert.deepEqual(r.sample, { requested: 10, used: 4, available: 4, seed: 3 });
  assert.match(r.notes.join('\n'), /sample of 10 is more than the 4 usable images in the library; all 4 are probed/);
  assert.equal(r.baseline.n, 3);
  assert.deepEqual(r.failed.map((f) => [path.basename(f.path), f.transform, f.strength]), [['c4.png', null, null]]);
  assert.match(r.failed[0]!.error, /cannot decode image/);
  assert.deepEqual(r.transforms.map((t) => [t.name, t.strengths.map((s) => s.strength)]), [['saturation', [0, 0.5, 1]], ['patch-shuffle', [1, 4]]]);
  const [none, half, id] = r.transforms[0]!.strengths;
  assert.ok(Math.abs(none!.meanChange + r.baseline.mean) <= 1 / 255, `saturation 0 removes all chroma: ${none!.meanChange} vs ${r.baseline.mean}`);
  assert.ok(Math.abs(half!.meanChange + 0.5 * r.baseline.mean) <= 1 / 255, `saturation 0.5 halves it: ${half!.meanChange}`);
  assert.deepEqual([id!.identity, id!.meanChange, id!.n], [true, 0, 3]);
  assert.ok(Math.abs(r.transforms[1]!.strengths[1]!.meanChange) < 1e-6, 'shuffling tiles keeps a per-pixel chroma mean');
});
