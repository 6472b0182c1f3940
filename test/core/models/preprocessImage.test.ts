import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import sharp from 'sharp';
import type { ModelCard, ModelCardInput } from '../../../core/models/modelCard.js';
import { planResize, preprocessImage, preprocessRaw, toBatchTensor } from '../../../core/models/preprocessImage.js';
import { roundHalfEven } from '../../../core/models/preprocessResample.js';
import { repoRoot } from '../../helpers/paths.js';

// Reference tensors from test/fixtures/preprocess/makeReference.py (PIL + numpy, the model families' own recipes).
const FIXTURES = path.join(repoRoot, 'test/fixtures/preprocess');

interface ReferenceCase {
  image: string;
  card: { name: string; input: Omit<ModelCardInput, 'name'> };
  preset: string | null;
  expect: 'exact' | 'resampled';
  dims: number[];
  offset: number;
  length: number;
}

const manifest = JSON.parse(readFileSync(path.join(FIXTURES, 'reference.json'), 'utf8')) as { floats: number; cases: ReferenceCase[] };
const floats = (() => {
  const bytes = gunzipSync(readFileSync(path.join(FIXTURES, 'reference.f32.gz')));
  const copy = new Uint8Array(bytes); // aligned for the Float32Array view
  return new Float32Array(copy.buffer, 0, copy.length / 4);
})();

function cardOf(c: ReferenceCase): ModelCard {
  return { name: c.card.name, input: { name: 'x', ...c.card.input }, outputs: {} };
}

/**
 * Tolerances where libvips' shrink and Pillow's differ, in levels of the 0-255 pixel (|difference| x std x scale,
 * so the same bound holds for 0-1 and 0-255 cards). Measured on these fixtures (PIL 9.4, sharp 0.35.5 / libvips
 * 8.18): per case mean at most 0.29 levels, max 11 (at 1-pixel lines), at most 0.26% of values more than 2 levels
 * off; enlarging, padding without resizing and nearest are bit-identical to Pillow.
 */
const MEAN_LEVELS = 0.35;
const MAX_LEVELS = 12;
const FAR_LEVELS = 2;
const FAR_SHARE = 0.005;

test('the fixture manifest matches its float file and covers every preset and image', () => {
  assert.equal(floats.length, manifest.floats);
  const presets = new Set(manifest.cases.map((c) => c.preset).filter(Boolean));
  assert.deepEqual([...presets].sort(), ['clip', 'deepghs-aesthetic', 'imagenet', 'wd-tagger']);
  assert.equal(new Set(manifest.cases.map((c) => c.image)).size, 9);
});

for (const c of manifest.cases) {
  test(`${c.image} under ${c.card.name} matches the PIL/numpy reference (${c.expect})`, async () => {
    const ref = floats.subarray(c.offset, c.offset + c.length);
    const got = await preprocessImage(path.join(FIXTURES, c.image), cardOf(c));
    assert.equal(got.length, ref.length, 'tensor length');
    const { size, layout, std, scale } = c.card.input;
    const plane = size[0] * size[1];
    let maxAbs = 0;
    let sumLevels = 0;
    let maxLevels = 0;
    let far = 0;
    for (let i = 0; i < ref.length; i++) {
      const d = Math.abs(got[i]! - ref[i]!);
      const channel = layout === 'NCHW' ? Math.floor(i / plane) : i % 3;
      const levels = d * Math.abs(std[channel]!) * scale;
      maxAbs = Math.max(maxAbs, d);
      sumLevels += levels;
      maxLevels = Math.max(maxLevels, levels);
      if (levels > FAR_LEVELS) far++;
    }
    if (c.expect === 'exact') {
      assert.ok(maxAbs < 1e-6, `no resampling happens, so the tensors must be identical: max |diff| ${maxAbs}`);
    } else {
      const mean = sumLevels / ref.length;
      assert.ok(mean <= MEAN_LEVELS, `mean |diff| ${mean.toFixed(3)} levels > ${MEAN_LEVELS}`);
      assert.ok(maxLevels <= MAX_LEVELS, `max |diff| ${maxLevels.toFixed(2)} levels > ${MAX_LEVELS}`);
      assert.ok(far / ref.length <= FAR_SHARE, `${far} of ${ref.length} values more than ${FAR_LEVELS} levels off`);
    }
  });
}

test('enlarging, padding and nearest are bit-identical to Pillow', async () => {
  // small.png (26x20) is enlarged by every 48-pixel card; Pillow's resampler is ported exactly for that.
  for (const c of manifest.cases.filter((k) => k.image === 'images/small.png' || k.card.input.interpolation === 'nearest')) {
    const ref = floats.subarray(c.offset, c.offset + c.length);
    const got = await preprocessImage(path.join(FIXTURES, c.image), cardOf(c));
    assert.deepEqual(got, ref, `${c.image} under ${c.card.name}`);
  }
});

test('preprocessRaw on already decoded pixels gives what preprocessImage gives', async () => {
  for (const image of ['images/rgb.png', 'images/small.png', 'images/exif6.jpg']) {
    const { data, info } = await sharp(path.join(FIXTURES, image)).autoOrient().removeAlpha().raw().toBuffer({ resolveWithObject: true });
    for (const c of manifest.cases.filter((k) => k.image === image)) {
      const fromFile = await preprocessImage(path.join(FIXTURES, image), cardOf(c));
      const fromRaw = await preprocessRaw(new Uint8Array(data), info.width, info.height, cardOf(c));
      if (image !== 'images/exif6.jpg') {
        assert.deepEqual(fromRaw, fromFile, `${image} under ${c.card.name}`);
        continue;
      }
      // For a 90-degree EXIF rotation libvips shrinks before it rotates, so its two passes run in the other
      // order than on the upright raw pixels: one level of rounding apart at most.
      const { std, scale } = c.card.input;
      let maxLevels = 0;
      for (let i = 0; i < fromRaw.length; i++) maxLevels = Math.max(maxLevels, Math.abs(fromRaw[i]! - fromFile[i]!) * Math.max(...std) * scale);
      assert.ok(maxLevels <= 1 + 1e-4, `${image} under ${c.card.name}: ${maxLevels} levels apart`);
    }
  }
});

test('a Buffer and a path give the same tensor', async () => {
  const c = manifest.cases.find((k) => k.image === 'images/rgba.png' && k.card.name === 'wd-tagger')!;
  const file = path.join(FIXTURES, c.image);
  assert.deepEqual(await preprocessImage(readFileSync(file), cardOf(c)), await preprocessImage(file, cardOf(c)));
});

test('toBatchTensor stacks images with the layout dims and refuses a wrong-sized image', () => {
  const nchw: ModelCard = { name: 'm', input: { ...cardOf(manifest.cases[0]!).input, size: [2, 3], layout: 'NCHW' }, outputs: {} };
  const a = Float32Array.from({ length: 18 }, (_, i) => i);
  const b = Float32Array.from({ length: 18 }, (_, i) => 100 + i);
  const batch = toBatchTensor([a, b], nchw);
  assert.deepEqual(batch.dims, [2, 3, 2, 3]);
  assert.equal(batch.data[18], 100);
  assert.deepEqual(toBatchTensor([a], { ...nchw, input: { ...nchw.input, layout: 'NHWC' } }).dims, [1, 2, 3, 3]);
  assert.throws(() => toBatchTensor([a, new Float32Array(17)], nchw), /image 1 has 17 values.*takes 2x3x3 = 18/);
  assert.throws(() => toBatchTensor([], nchw), /no images/);
});

test('bytes that are not an image are refused with sharp\'s reason', async () => {
  const c = cardOf(manifest.cases[0]!);
  await assert.rejects(preprocessImage(Buffer.from('this is not an image'), c), /unsupported image format|Input buffer/i);
  await assert.rejects(preprocessRaw(new Uint8Array(10), 2, 2, c), /10 bytes is not 2x2 interleaved RGB/);
});

test('planResize: the WD letterbox, torchvision centre crop and stretch geometry', () => {
  // WD: a 300x200 image on a 300x300 white canvas (offset (300-200)//2 = 50), then resized to 448.
  const wd = planResize(300, 200, { size: [448, 448], resize: 'letterbox' });
  assert.deepEqual(wd.y, { source: 200, padBefore: 50, canvas: 300, resized: 448, cropStart: 0, target: 448 });
  assert.deepEqual(wd.x, { source: 300, padBefore: 0, canvas: 300, resized: 448, cropStart: 0, target: 448 });
  // Odd excess: floor offset, the extra pad row goes after.
  assert.equal(planResize(301, 200, { size: [448, 448], resize: 'letterbox' }).y.padBefore, 50);
  // ImageNet: 500x375 -> shorter side 256 (floor(224 / 0.875)), long side int(256 * 500 / 375) = 341, crop at round(117 / 2) = 58 (half to even).
  const imagenet = planResize(500, 375, { size: [224, 224], resize: 'center-crop', crop: 0.875 });
  assert.deepEqual(imagenet.x, { source: 500, padBefore: 0, canvas: 500, resized: 341, cropStart: 58, target: 224 });
  assert.deepEqual(imagenet.y, { source: 375, padBefore: 0, canvas: 375, resized: 256, cropStart: 16, target: 224 });
  // CLIP on a portrait 300x451: 224 x int(224 * 451 / 300) = 336, crop top round(56) = 56.
  const clip = planResize(300, 451, { size: [224, 224], resize: 'center-crop' });
  assert.equal(clip.y.resized, 336);
  assert.equal(clip.y.cropStart, 56);
  const stretch = planResize(640, 480, { size: [448, 448], resize: 'stretch' });
  assert.equal(stretch.x.resized, 448);
  assert.equal(stretch.y.cropStart, 0);
  // Non-square letterbox: pad to the target's aspect ratio (a 100x100 image into 60x40: a 150x100 canvas), then resize.
  const wide = planResize(100, 100, { size: [40, 60], resize: 'letterbox' });
  assert.deepEqual(wide.x, { source: 100, padBefore: 25, canvas: 150, resized: 60, cropStart: 0, target: 60 });
  assert.deepEqual(wide.y, { source: 100, padBefore: 0, canvas: 100, resized: 40, cropStart: 0, target: 40 });
  assert.deepEqual([roundHalfEven(16.5), roundHalfEven(17.5), roundHalfEven(2.4), roundHalfEven(2.6)], [16, 18, 2, 3]);
});

test('transparent pixels take the pad colour and grayscale is replicated', async () => {
  const rgba = Buffer.alloc(4 * 4 * 4); // fully transparent, stored colour green
  for (let i = 0; i < 16; i++) rgba.set([0, 255, 0, 0], i * 4);
  const png = await sharp(rgba, { raw: { width: 4, height: 4, channels: 4 } }).png().toBuffer();
  const card: ModelCard = {
    name: 'm',
    input: { name: 'x', layout: 'NHWC', size: [4, 4], channels: 'RGB', resize: 'stretch', pad: [10, 20, 30], interpolation: 'bilinear', scale: 1, mean: [0, 0, 0], std: [1, 1, 1] },
    outputs: {},
  };
  assert.deepEqual([...(await preprocessImage(png, card)).subarray(0, 3)], [10, 20, 30]);
  const gray = await sharp(Buffer.alloc(16, 77), { raw: { width: 4, height: 4, channels: 1 } }).png().toBuffer();
  assert.deepEqual([...(await preprocessImage(gray, { ...card, input: { ...card.input, channels: 'BGR' } })).subarray(0, 6)], [77, 77, 77, 77, 77, 77]);
});
