import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { interpolateInferno, interpolateViridis } from 'd3-scale-chromatic';
import { parseCssColour, renderOverlay } from '../../../core/explain/overlay.js';
import type { ResizeGeometry } from '../../../core/explain/pointingGame.js';
import { SeededRandom } from '../../../core/synth/random.js';

const WIDTH = 60;
const HEIGHT = 40;

/** A 60 x 40 noisy PNG, and its pixels. */
async function noisyImage(): Promise<{ png: Buffer; pixels: Uint8Array }> {
  const random = new SeededRandom(5);
  const pixels = new Uint8Array(WIDTH * HEIGHT * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = random.int(30, 220);
  const png = await sharp(pixels, { raw: { width: WIDTH, height: HEIGHT, channels: 3 } }).png().toBuffer();
  return { png, pixels };
}

async function decode(png: Buffer): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

const pixelAt = (data: Uint8Array, x: number, y: number, width = WIDTH) => Array.from(data.subarray((y * width + x) * 3, (y * width + x) * 3 + 3));

/** A 4 x 4 map with only the top-left cell hot. */
function cornerMap(): Float32Array {
  const map = new Float32Array(16);
  map[0] = 1;
  return map;
}

const STRETCH: ResizeGeometry = { size: [32, 32], resize: 'stretch' };

test('stretch: the PNG has the original size, the hot cell is the colormap top, the cold area its bottom', async () => {
  const { png } = await noisyImage();
  const out = await decode(await renderOverlay(png, cornerMap(), [4, 4], STRETCH, { opacity: 1 }));
  assert.equal(out.width, WIDTH);
  assert.equal(out.height, HEIGHT);
  assert.deepEqual(pixelAt(out.data, 2, 2), parseCssColour(interpolateViridis(1)));
  assert.deepEqual(pixelAt(out.data, 59, 39), parseCssColour(interpolateViridis(0)));
  const inferno = await decode(await renderOverlay(png, cornerMap(), [4, 4], STRETCH, { opacity: 1, colormap: 'inferno' }));
  assert.deepEqual(pixelAt(inferno.data, 2, 2), parseCssColour(interpolateInferno(1)));
});

test('opacity 0 returns the original pixels; 0.5 blends half and half', async () => {
  const { png, pixels } = await noisyImage();
  for (const resize of ['stretch', 'center-crop', 'letterbox'] as const) {
    const out = await decode(await renderOverlay(png, cornerMap(), [4, 4], { size: [32, 32], resize }, { opacity: 0 }));
    assert.deepEqual(new Uint8Array(out.data), pixels, resize);
  }
  const half = await decode(await renderOverlay(png, cornerMap(), [4, 4], STRETCH));
  const hot = parseCssColour(interpolateViridis(1));
  const original = pixelAt(pixels, 1, 1);
  pixelAt(half.data, 1, 1).forEach((v, c) => assert.ok(Math.abs(v - (original[c]! + hot[c]!) / 2) <= 1, `channel ${c}: ${v}`));
});

test('center-crop: the map covers the cropped region only; the sides the model never saw are dimmed', async () => {
  const { png, pixels } = await noisyImage();
  // 60 x 40 -> shorter side 32: 48 x 32, crop 8 columns each side -> image columns [10, 50) were seen.
  const uniform = new Float32Array(16).fill(128 / 255);
  const out = await decode(await renderOverlay(png, uniform, [4, 4], { size: [32, 32], resize: 'center-crop' }, { opacity: 1 }));
  const middle = parseCssColour(interpolateViridis(128 / 255));
  for (const x of [10, 30, 49]) assert.deepEqual(pixelAt(out.data, x, 20), middle, `column ${x} is coloured`);
  for (const x of [0, 9, 50, 59]) {
    const original = pixelAt(pixels, x, 20);
    pixelAt(out.data, x, 20).forEach((v, c) => assert.equal(v, Math.round(0.4 * original[c]!), `column ${x} is dimmed`));
  }
});

test('letterbox: the part of the map over the padding is not drawn', async () => {
  const { png } = await noisyImage();
  // 60 x 40 -> a 60 x 60 canvas with the image 10 rows down; an 8 x 8 map's top row covers canvas rows 0-7.5.
  const map = new Float32Array(64);
  for (let x = 0; x < 8; x++) map[x] = 1;
  const letterbox = await decode(await renderOverlay(png, map, [8, 8], { size: [32, 32], resize: 'letterbox' }, { opacity: 1 }));
  const stretch = await decode(await renderOverlay(png, map, [8, 8], STRETCH, { opacity: 1 }));
  const hot = parseCssColour(interpolateViridis(1));
  assert.deepEqual(pixelAt(stretch.data, 30, 0), hot, 'stretched, the top row is hot');
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      // Image row 0 sits at canvas row 10.5: at most a tenth of the hot row bleeds in by interpolation.
      assert.ok(pixelAt(letterbox.data, x, y)[0]! < 100, `(${x}, ${y}) is not the hot yellow (red 253)`);
    }
  }
  assert.deepEqual(pixelAt(letterbox.data, 30, 39), parseCssColour(interpolateViridis(0)));
});

test('the overlay follows EXIF orientation, and bad input is reported', async () => {
  const { pixels } = await noisyImage();
  const jpeg = await sharp(pixels, { raw: { width: WIDTH, height: HEIGHT, channels: 3 } }).jpeg().withMetadata({ orientation: 6 }).toBuffer();
  const out = await decode(await renderOverlay(jpeg, cornerMap(), [4, 4], STRETCH));
  assert.equal(out.width, HEIGHT);
  assert.equal(out.height, WIDTH);
  await assert.rejects(renderOverlay(Buffer.from('not an image'), cornerMap(), [4, 4], STRETCH), /could not decode the image buffer/);
  const { png } = await noisyImage();
  await assert.rejects(renderOverlay(png, new Float32Array(3), [4, 4], STRETCH), /3 values, not 4x4/);
  await assert.rejects(renderOverlay(png, cornerMap(), [4, 4], STRETCH, { opacity: 2 }), /opacity/);
});
