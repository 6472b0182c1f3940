import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import sharp from 'sharp';
import { openLibrary, cacheDirFor, type LibraryDb } from '../../../core/library/openLibrary.js';
import { indexLibrary } from '../../../core/library/indexLibrary.js';
import { addModel } from '../../../core/models/modelRegistry.js';
import { generateSynthDataset } from '../../../core/synth/generateDataset.js';
import { SeededRandom } from '../../../core/synth/random.js';
import { parseFilter } from '../../../core/library/queryImages.js';
import {
  TRANSFORMS,
  TRANSFORM_NAMES,
  gaussianBlurJs,
  patchPermutation,
  perturbImage,
  type RgbImage,
  type TransformName,
} from '../../../core/explain/perturbImage.js';
import {
  meanAndStderr,
  parseStrengthOptions,
  parseTransformList,
  probeSensitivity,
  resolveProbePlan,
  type ProbeReport,
} from '../../../core/explain/sensitivityProbe.js';
import { repoRoot, tempDir } from '../../helpers/paths.js';
import { meanScoreModel } from '../../helpers/tinyModels.js';
import { probeCard, probeModel, type ProbeModelKind } from '../../helpers/probeModels.js';

const SIZE = 32;

/**
 * A colourful image at the models' input size (so preprocessing does no resampling and closed forms hold
 * exactly): a position-dependent layout (a horizontal ramp and a bright block at a seeded place) plus seeded
 * per-pixel noise as texture.
 */
function textureImage(seed: number, width = SIZE, height = SIZE): RgbImage {
  const rng = new SeededRandom(seed);
  const bx = rng.int(0, Math.floor(width / 2));
  const by = rng.int(0, Math.floor(height / 2));
  const data = new Uint8ClampedArray(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const block = x >= bx && x < bx + width / 3 && y >= by && y < by + height / 3 ? 90 : 0;
      const base = 40 + (120 * x) / width + block;
      const i = (y * width + x) * 3;
      data[i] = base + rng.uniform(-30, 30);
      data[i + 1] = 0.6 * base + rng.uniform(-30, 30);
      data[i + 2] = 0.5 * base + rng.uniform(-30, 30);
    }
  }
  return { data: new Uint8Array(data.buffer), width, height };
}

async function writeRgb(file: string, image: RgbImage): Promise<void> {
  await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } }).png().toFile(file);
}

interface TestLibrary {
  dir: string;
  images: string;
  db: LibraryDb;
}

async function probeLibrary(count: number, models: (ProbeModelKind | 'mean')[]): Promise<TestLibrary> {
  const dir = tempDir();
  const images = path.join(dir, 'images');
  mkdirSync(images, { recursive: true });
  for (let k = 1; k <= count; k++) await writeRgb(path.join(images, `t${String(k).padStart(2, '0')}.png`), textureImage(k));
  const dbPath = path.join(dir, 'lib.db');
  const db = openLibrary(dbPath);
  await indexLibrary(db, [images], { cacheDir: cacheDirFor(dbPath) });
  for (const kind of models) {
    const file = path.join(dir, `${kind}.onnx`);
    writeFileSync(file, kind === 'mean' ? meanScoreModel({ size: SIZE }) : probeModel(kind, SIZE));
    writeFileSync(path.join(dir, `${kind}.card.json`), JSON.stringify(probeCard(kind, SIZE)));
    await addModel(db, file);
  }
  return { dir, images, db };
}

let shared: Promise<TestLibrary> | null = null;
/** One library of 10 images with all four tiny models, shared by the tests that only read it. */
const sharedLibrary = () => (shared ??= probeLibrary(10, ['mean', 'chroma', 'position', 'texture']));

function strengthOf(report: ProbeReport, transform: TransformName, strength: number) {
  const t = report.transforms.find((x) => x.name === transform);
  assert.ok(t, `no ${transform} in the report`);
  const s = t.strengths.find((x) => x.strength === strength);
  assert.ok(s, `no ${transform} ${strength} in the report`);
  return s;
}

// ------------------------------------------------------------------------------------------------ perturbImage

test('every transform returns the input unchanged at its identity strength, and new same-size pixels otherwise', async () => {
  // 128 x 96: the smallest default blur, 0.5% of the short side, is 0.48 px.
  const image = textureImage(3, 128, 96);
  for (const name of TRANSFORM_NAMES) {
    const spec = TRANSFORMS[name];
    assert.ok(spec.defaults.includes(spec.identity), `${name}: the defaults include the identity`);
    const same = await perturbImage(image, name, spec.identity);
    assert.deepEqual(same.data, image.data, name);
    for (const strength of spec.defaults.filter((s) => s !== spec.identity)) {
      const out = await perturbImage(image, name, strength, { seed: 1, key: 1 });
      assert.deepEqual([out.width, out.height, out.data.length], [image.width, image.height, image.data.length], `${name} ${strength}`);
      assert.notDeepEqual(out.data, image.data, `${name} ${strength} changes the image`);
    }
  }
});

test('saturation, grayscale and contrast follow their blend formulas pixel by pixel', async () => {
  const image: RgbImage = { data: Uint8Array.of(200, 100, 50, 10, 20, 30), width: 2, height: 1 };
  const luma = (r: number, g: number, b: number) => 0.299 * r + 0.587 * g + 0.114 * b;
  const l0 = luma(200, 100, 50);
  const half = await perturbImage(image, 'saturation', 0.5);
  assert.deepEqual([...half.data.subarray(0, 3)], [200, 100, 50].map((c) => Math.round(l0 + 0.5 * (c - l0))));
  const grey = await perturbImage(image, 'saturation', 0);
  assert.equal(grey.data[0], grey.data[1]);
  assert.equal(grey.data[1], grey.data[2]);
  assert.deepEqual((await perturbImage(image, 'grayscale', 1)).data, grey.data);
  assert.deepEqual((await perturbImage(image, 'grayscale', 0.5)).data, half.data);
  const over = await perturbImage(image, 'saturation', 3);
  assert.deepEqual([...over.data.subarray(0, 3)], [255, Math.round(l0 + 3 * (100 - l0)), 0], 'clamped to 0..255');
  const mean = (l0 + luma(10, 20, 30)) / 2;
  const flat = await perturbImage(image, 'contrast', 0);
  assert.deepEqual([...flat.data], Array(6).fill(Math.round(mean)));
  const low = await perturbImage(image, 'contrast', 0.5);
  assert.deepEqual([...low.data], [...image.data].map((p) => Math.round(mean + 0.5 * (p - mean))));
});

test('blur: sigma in % of the short side, a flat image stays flat, detail fades with sigma, both code paths agree', async () => {
  const flat: RgbImage = { data: new Uint8Array(40 * 20 * 3).fill(77), width: 40, height: 20 };
  assert.ok((await perturbImage(flat, 'blur', 4)).data.every((v) => v === 77));
  const noisy = textureImage(5, 40, 20);
  const roughness = (img: RgbImage) => {
    let sum = 0;
    for (let i = 3; i < img.data.length; i++) sum += Math.abs(img.data[i]! - img.data[i - 3]!);
    return sum;
  };
  const values = [];
  for (const s of [0, 2, 4, 8, 16]) values.push(roughness(await perturbImage(noisy, 'blur', s)));
  for (let i = 1; i < values.length; i++) assert.ok(values[i]! < values[i - 1]!, `roughness falls with sigma: ${values.join(', ')}`);
  // 1.45% of a 20 px short side = 0.29 px (JS kernel), 1.5% = 0.3 px (libvips): nearly the same blur.
  const js = await perturbImage(noisy, 'blur', 1.45);
  const vips = await perturbImage(noisy, 'blur', 1.5);
  let diff = 0;
  for (let i = 0; i < js.data.length; i++) diff += Math.abs(js.data[i]! - vips.data[i]!);
  assert.ok(diff / js.data.length < 1.5, `JS and libvips blurs differ by ${diff / js.data.length} levels on average`);
  const direct = gaussianBlurJs(noisy, 0.29);
  assert.deepEqual(direct.data, js.data);
});

test('jpeg and resolution lose more the stronger they are', async () => {
  const image = textureImage(8, 64, 48);
  const error = (img: RgbImage) => img.data.reduce((sum, v, i) => sum + Math.abs(v - image.data[i]!), 0) / img.data.length;
  const jpeg = [];
  for (const q of [95, 50, 10]) jpeg.push(error(await perturbImage(image, 'jpeg', q)));
  assert.ok(jpeg[0]! > 0 && jpeg[0]! < jpeg[1]! && jpeg[1]! < jpeg[2]!, `jpeg errors ${jpeg.join(', ')}`);
  const res = [];
  for (const f of [0.75, 0.5, 0.125]) res.push(error(await perturbImage(image, 'resolution', f)));
  assert.ok(res[0]! > 0 && res[0]! < res[1]! && res[1]! < res[2]!, `resolution errors ${res.join(', ')}`);
});

test('patch-shuffle moves every tile by a seeded derangement and keeps the leftover strip in place', async () => {
  for (const n of [2, 3, 8]) {
    const order = patchPermutation(n, 5, 9);
    assert.deepEqual([...order].sort((a, b) => a - b), Array.from({ length: n * n }, (_, i) => i));
    assert.ok(order.every((from, to) => from !== to), `no tile stays in place for n = ${n}`);
    assert.deepEqual(patchPermutation(n, 5, 9), order, 'same seed and key, same permutation');
  }
  assert.notDeepEqual(patchPermutation(8, 5, 9), patchPermutation(8, 6, 9));
  assert.notDeepEqual(patchPermutation(8, 5, 9), patchPermutation(8, 5, 10));
  // 35 x 34 with n = 4: tiles 8 x 8, the last 3 columns and 2 rows stay where they are.
  const image = textureImage(2, 35, 34);
  const out = await perturbImage(image, 'patch-shuffle', 4, { seed: 5, key: 9 });
  const pixel = (img: RgbImage, x: number, y: number) => [...img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3)];
  for (let y = 0; y < 34; y++) for (let x = 32; x < 35; x++) assert.deepEqual(pixel(out, x, y), pixel(image, x, y));
  for (let y = 32; y < 34; y++) for (let x = 0; x < 35; x++) assert.deepEqual(pixel(out, x, y), pixel(image, x, y));
  const order = patchPermutation(4, 5, 9);
  const from = order[0]!;
  assert.deepEqual(pixel(out, 3, 5), pixel(image, (from % 4) * 8 + 3, Math.floor(from / 4) * 8 + 5), 'tile 0 comes from tile order[0]');
  assert.deepEqual([...out.data].sort(), [...image.data].sort(), 'the same pixels, moved');
  await assert.rejects(perturbImage(textureImage(1, 6, 6), 'patch-shuffle', 8), /8 x 8 patch-shuffle grid needs at least 8 x 8 pixels; the image is 6x6/);
});

test('bad strengths and unknown transforms are refused with what is allowed', async () => {
  const image = textureImage(1);
  await assert.rejects(perturbImage(image, 'grayscale', 1.5), /grayscale strength 1.5: a grayscale amount must be a number from 0 to 1/);
  await assert.rejects(perturbImage(image, 'jpeg', 50.5), /JPEG quality is a whole number from 1 to 100/);
  await assert.rejects(perturbImage(image, 'resolution', 0), /more than 0 and at most 1/);
  await assert.rejects(perturbImage(image, 'patch-shuffle', 2.5), /whole number from 1 to 64/);
  await assert.rejects(perturbImage(image, 'sharpen' as TransformName, 1), /Unknown transform "sharpen"; valid transforms: saturation, contrast, blur, jpeg, resolution, patch-shuffle, grayscale/);
  assert.throws(() => parseTransformList('saturation,sharpen'), /Unknown transform "sharpen"; valid transforms: saturation, contrast, blur, jpeg, resolution, patch-shuffle, grayscale\./);
  assert.throws(() => parseTransformList(' , '), /No transforms given/);
  assert.throws(() => resolveProbePlan(['blur'], { blur: [-1] }), /Bad strength -1 for blur: .*percentage of the short side/);
  // The reason says the range once; the unit text is not appended after it.
  assert.throws(() => resolveProbePlan(['jpeg'], { jpeg: [101] }), (error: Error) => error.message === 'Bad strength 101 for jpeg: a JPEG quality is a whole number from 1 to 100 (0 = not re-encoded).');
  assert.throws(() => resolveProbePlan(['patch-shuffle'], { 'patch-shuffle': [1.5] }), (error: Error) => error.message === 'Bad strength 1.5 for patch-shuffle: a patch-shuffle grid is a whole number from 1 to 64 (1 = identity).');
  assert.throws(() => resolveProbePlan(['blur'], { blur: [] }), /No strengths for blur/);
  assert.throws(() => resolveProbePlan(['blur'], { jpeg: [50] }), /Strengths given for jpeg, which is not probed \(transforms: blur\)/);
  assert.throws(() => parseStrengthOptions(['0,1,x'], ['blur']), /"x" is not a number; blur takes Gaussian sigma/);
  assert.throws(() => parseStrengthOptions(['0,1'], ['blur', 'jpeg']), /names no transform, and 2 transforms are probed; write NAME=S1,S2/);
  assert.throws(() => parseStrengthOptions(['sharpen=1'], ['blur']), /unknown transform "sharpen"/);
  assert.throws(() => parseStrengthOptions(['blur=1', 'blur=2'], ['blur']), /strengths for blur twice/);
  assert.deepEqual(parseStrengthOptions(['blur=0, 2', 'jpeg=50'], ['blur', 'jpeg']), { blur: [0, 2], jpeg: [50] });
  assert.deepEqual(parseStrengthOptions(['0.5,1'], ['saturation']), { saturation: [0.5, 1] });
  assert.deepEqual(resolveProbePlan(undefined, { jpeg: [0, 20] }).map((t) => [t.name, t.strengths.join(',')]), TRANSFORM_NAMES.map((n) => [n, n === 'jpeg' ? '0,20' : TRANSFORMS[n].defaults.join(',')]));
});

// ------------------------------------------------------------------------------------------------ the probe

test('saturation, grayscale and contrast move a chroma model by the predicted amount; identity changes nothing', async () => {
  const { db } = await sharedLibrary();
  const report = await probeSensitivity(db, 'chroma', {
    transforms: ['saturation', 'grayscale', 'contrast'],
    strengths: { saturation: [0, 0.5, 1, 1.5], grayscale: [0, 0.25, 1], contrast: [0.5, 1] },
    ep: 'cpu',
    batch: 4,
  });
  assert.equal(report.ep, 'cpu');
  assert.deepEqual(report.sample, { requested: 64, used: 10, available: 10, seed: 1 });
  assert.equal(report.baseline.n, 10);
  assert.deepEqual(report.failed, []);
  const base = report.baseline.mean!;
  assert.ok(base > 0.1, `the images are colourful: mean chroma ${base}`);
  // c' = L + s (c - L) scales max - min by exactly s before rounding: within one level (1/255) per pixel.
  const tolerance = 1 / 255;
  const expect = (transform: TransformName, strength: number, factor: number) => {
    const s = strengthOf(report, transform, strength);
    assert.equal(s.n, 10);
    assert.ok(Math.abs(s.meanChange! - (factor - 1) * base) <= tolerance, `${transform} ${strength}: change ${s.meanChange}, predicted ${(factor - 1) * base}`);
    assert.ok(Math.abs(s.meanScore! - factor * base) <= tolerance, `${transform} ${strength}: mean ${s.meanScore}`);
  };
  expect('saturation', 0, 0);
  expect('saturation', 0.5, 0.5);
  expect('grayscale', 0.25, 0.75);
  expect('grayscale', 1, 0);
  expect('contrast', 0.5, 0.5);
  assert.ok(strengthOf(report, 'saturation', 1.5).meanChange! > 0.1 * base, 'oversaturating raises the chroma');
  assert.ok(strengthOf(report, 'saturation', 0.5).stderr! > 0, 'a standard error across images');
  for (const [t, s] of [['saturation', 1], ['grayscale', 0], ['contrast', 1]] as const) {
    const id = strengthOf(report, t, s);
    assert.deepEqual([id.identity, id.meanChange, id.stderr, id.n, id.meanScore], [true, 0, 0, 10, base]);
  }
});

test('patch-shuffle keeps a global-mean model and changes a structure model; blur hurts a texture model far more than patch-shuffle', async () => {
  const { db } = await sharedLibrary();
  const options = { transforms: ['patch-shuffle', 'blur'], strengths: { 'patch-shuffle': [2, 3, 4, 8], blur: [3] }, ep: 'cpu' as const };
  const mean = await probeSensitivity(db, 'mean', options);
  for (const n of [2, 3, 4, 8]) assert.ok(Math.abs(strengthOf(mean, 'patch-shuffle', n).meanChange!) < 1e-6, `mean model, ${n} x ${n}: ${strengthOf(mean, 'patch-shuffle', n).meanChange}`);
  assert.ok(Math.abs(strengthOf(mean, 'blur', 3).meanChange!) < 0.005, 'blur nearly keeps the mean (edges are replicated)');

  const position = await probeSensitivity(db, 'position', options);
  for (const n of [2, 4, 8]) {
    const s = strengthOf(position, 'patch-shuffle', n);
    // Brighter content sits right and low, where the weights are high: moving tiles away lowers the score.
    assert.ok(Math.abs(s.meanChange!) > 0.003, `position model, ${n} x ${n}: change ${s.meanChange} ± ${s.stderr}`);
    if (n >= 4) assert.ok(Math.abs(s.meanChange!) > 3 * s.stderr!, `position model, ${n} x ${n}: change ${s.meanChange} ± ${s.stderr}`);
  }
  assert.ok(Math.abs(strengthOf(position, 'blur', 3).meanChange!) < 0.005, 'blur keeps where content sits');

  const texture = await probeSensitivity(db, 'texture', options);
  const blurred = strengthOf(texture, 'blur', 3).meanChange!;
  const shuffled = strengthOf(texture, 'patch-shuffle', 4).meanChange!;
  assert.ok(blurred < -0.5 * texture.baseline.mean!, `blur removes most local detail: ${blurred} of ${texture.baseline.mean}`);
  // Only the new tile borders add detail.
  assert.ok(Math.abs(shuffled) < 0.2 * texture.baseline.mean!, `patch-shuffle keeps local detail: ${shuffled} of ${texture.baseline.mean}`);
  assert.ok(Math.abs(blurred) > 5 * Math.abs(shuffled), `texture model: blur ${blurred}, patch-shuffle ${shuffled}`);
});

test('the same seed gives the same report; another seed another sample and other shuffles', async () => {
  const { db } = await sharedLibrary();
  const run = (seed: number) => probeSensitivity(db, 'position', { transforms: ['patch-shuffle', 'jpeg'], strengths: { 'patch-shuffle': [4], jpeg: [30] }, sample: 6, seed, ep: 'cpu', batch: 5 });
  const strip = (r: ProbeReport) => ({ ...r, seconds: 0 });
  const [a, b, c] = [await run(3), await run(3), await run(4)];
  assert.deepEqual(strip(a), strip(b));
  assert.equal(a.sample.used, 6);
  assert.notDeepEqual(strengthOf(a, 'patch-shuffle', 4).meanChange, strengthOf(c, 'patch-shuffle', 4).meanChange);
  assert.notEqual(a.baseline.mean, c.baseline.mean, 'another sample of 6 from 10');
});

test('bad input: unknown model, empty library, no match, sample too large, undecodable images, grids too fine', async () => {
  const lib = await probeLibrary(4, ['chroma']);
  await assert.rejects(probeSensitivity(lib.db, 'nothing'), /No model named "nothing" in this library \(models: chroma\)/);
  await assert.rejects(probeSensitivity(lib.db, 'chroma', { transforms: ['sharpen'] }), /Unknown transform "sharpen"; valid transforms: saturation,/);
  await assert.rejects(probeSensitivity(lib.db, 'chroma', { transforms: ['jpeg'], strengths: { jpeg: [120] } }), /Bad strength 120 for jpeg/);
  await assert.rejects(probeSensitivity(lib.db, 'chroma', { sample: 0 }), /sample size must be a positive whole number/);
  await assert.rejects(probeSensitivity(lib.db, 'chroma', { filters: [parseFilter('width>100')] }), /No images match the filters/);

  // One image is corrupted after indexing, one is too small for an 8 x 8 grid: both are recorded, the rest go on.
  writeFileSync(path.join(lib.images, 't01.png'), 'no longer an image');
  await writeRgb(path.join(lib.images, 'tiny.png'), textureImage(9, 6, 6));
  await indexLibrary(lib.db, [lib.images], { cacheDir: cacheDirFor(path.join(lib.dir, 'lib.db')) });
  writeFileSync(path.join(lib.images, 't02.png'), 'corrupted after indexing');
  const report = await probeSensitivity(lib.db, 'chroma', { transforms: ['saturation', 'patch-shuffle'], strengths: { saturation: [0], 'patch-shuffle': [2, 8] }, sample: 50, ep: 'cpu' });
  assert.deepEqual(report.sample, { requested: 50, used: 4, available: 4, seed: 1 }, 't01 failed indexing (status error) and is not sampled');
  assert.match(report.notes.join('\n'), /The sample of 50 is more than the 4 usable images in the library; all 4 are probed/);
  assert.match(report.notes.join('\n'), /1 of 4 images could not be scored unperturbed/);
  const failed = report.failed.map((f) => `${path.basename(f.path)} ${f.transform} ${f.strength}: ${f.error}`);
  assert.equal(failed.length, 2, failed.join('\n'));
  assert.match(failed[0]!, /^t02\.png null null: cannot decode image/);
  assert.match(failed[1]!, /^tiny\.png patch-shuffle 8: a 8 x 8 patch-shuffle grid needs at least 8 x 8 pixels; the image is 6x6/);
  assert.equal(report.baseline.n, 3);
  assert.deepEqual([strengthOf(report, 'saturation', 0).n, strengthOf(report, 'patch-shuffle', 2).n, strengthOf(report, 'patch-shuffle', 8).n], [3, 3, 2]);

  const empty = openLibrary(path.join(tempDir(), 'empty.db'));
  const file = path.join(lib.dir, 'chroma.onnx');
  await addModel(empty, file);
  await assert.rejects(probeSensitivity(empty, 'chroma'), /The library has no usable images to probe.*miru index/);
});

test('meanAndStderr: sample standard deviation over sqrt(n)', () => {
  assert.deepEqual(meanAndStderr([]), { mean: null, stderr: null });
  assert.deepEqual(meanAndStderr([2]), { mean: 2, stderr: null });
  const r = meanAndStderr([1, 2, 3, 4]);
  assert.equal(r.mean, 2.5);
  assert.ok(Math.abs(r.stderr! - Math.sqrt(5 / 3 / 4)) < 1e-12);
});

test('the bundled models score less saturated synthetic images lower (saturation weighs positively in the truth)', async () => {
  const dir = tempDir();
  const data = path.join(dir, 'synth');
  await generateSynthDataset(data, { images: 16, raters: 2, seed: 99, size: 128 });
  const dbPath = path.join(dir, 'lib.db');
  const db = openLibrary(dbPath);
  await indexLibrary(db, [path.join(data, 'images')], { cacheDir: cacheDirFor(dbPath) });
  for (const name of ['miru-convnext-s', 'miru-vit-s']) {
    await addModel(db, path.join(repoRoot, 'assets/models', `${name}.onnx`));
    const report = await probeSensitivity(db, name, { transforms: ['saturation', 'grayscale'], strengths: { saturation: [0, 0.5, 1], grayscale: [1] }, ep: 'cpu' });
    assert.deepEqual([report.baseline.n, report.failed.length, report.score.kind], [16, 0, 'ordinal']);
    const none = strengthOf(report, 'saturation', 0);
    const half = strengthOf(report, 'saturation', 0.5);
    assert.ok(none.meanChange! < -2 * none.stderr!, `${name}: saturation 0 changes the score by ${none.meanChange} ± ${none.stderr}`);
    assert.ok(none.meanChange! < half.meanChange! && half.meanChange! < 0, `${name}: less saturation, lower score (${none.meanChange}, ${half.meanChange})`);
    assert.ok(Math.abs(strengthOf(report, 'grayscale', 1).meanChange! - none.meanChange!) < 1e-5, 'grayscale 1 is saturation 0');
  }
});
