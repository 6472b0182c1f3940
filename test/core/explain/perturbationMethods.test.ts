import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InputImage } from '../../../core/explain/explainTypes.js';
import { maskInput, occlusion, rise } from '../../../core/explain/perturbationMethods.js';
import { SeededRandom } from '../../../core/synth/random.js';

const BLACK: [number, number, number] = [0.2, -1, 0.5];
const CHANNEL_WEIGHTS = [1, 0.5, 2];

function randomInput(height: number, width: number, layout: 'NCHW' | 'NHWC', seed: number): InputImage {
  const random = new SeededRandom(seed);
  const tensor = new Float32Array(3 * height * width);
  for (let i = 0; i < tensor.length; i++) tensor[i] = random.uniform(1, 3);
  return { tensor, layout, height, width, baseline: BLACK };
}

function valueAt(input: InputImage, t: Float32Array, c: number, y: number, x: number): number {
  const n = input.height * input.width;
  return input.layout === 'NCHW' ? t[c * n + y * input.width + x]! : t[(y * input.width + x) * 3 + c]!;
}

interface Region {
  top: number;
  left: number;
  height: number;
  width: number;
}

const inRegion = (r: Region, y: number, x: number) => y >= r.top && y < r.top + r.height && x >= r.left && x < r.left + r.width;

/** y = sum over the region's pixels of sum_c w_c (t - black_c): linear, so occluding a window removes exactly its share. */
function regionScorer(input: InputImage, region: Region) {
  const batches: number[] = [];
  const contribution = (t: Float32Array, y: number, x: number) =>
    CHANNEL_WEIGHTS.reduce((sum, w, c) => sum + w * (valueAt(input, t, c, y, x) - BLACK[c]!), 0);
  const scorer = async (tensors: Float32Array[]) => {
    batches.push(tensors.length);
    return Float32Array.from(tensors, (t) => {
      let s = 0;
      for (let y = region.top; y < region.top + region.height; y++) for (let x = region.left; x < region.left + region.width; x++) s += contribution(t, y, x);
      return s;
    });
  };
  return { scorer, batches, contribution: (y: number, x: number) => contribution(input.tensor, y, x) };
}

test('maskInput fades each tensor channel toward its own black value', () => {
  for (const layout of ['NCHW', 'NHWC'] as const) {
    const input = randomInput(2, 3, layout, 1);
    const mask = Float32Array.from([1, 0, 0.5, 1, 0, 0.25]);
    const out = maskInput(input, mask);
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 2; y++) {
        for (let x = 0; x < 3; x++) {
          const m = mask[y * 3 + x]!;
          const expected = BLACK[c]! + (valueAt(input, input.tensor, c, y, x) - BLACK[c]!) * m;
          assert.ok(Math.abs(valueAt(input, out, c, y, x) - expected) < 1e-6);
        }
      }
    }
  }
  assert.throws(() => maskInput(randomInput(2, 3, 'NCHW', 1), new Float32Array(5)), /2x3/);
});

test('occlusion matches Captum: per pixel, the mean score drop of the windows covering it', async () => {
  for (const layout of ['NCHW', 'NHWC'] as const) {
    const input = randomInput(12, 12, layout, 2);
    const region: Region = { top: 3, left: 6, height: 3, width: 3 };
    const { scorer, batches, contribution } = regionScorer(input, region);
    const map = await occlusion(input, scorer, { window: 4, stride: 2, batch: 8 });
    assert.deepEqual(map.grid, [12, 12]);
    // (12 - 4) / 2 + 1 = 5 windows per axis, plus the unoccluded input: 26 tensors in batches of 8.
    assert.deepEqual(batches, [8, 8, 8, 2]);
    const starts = [0, 2, 4, 6, 8];
    for (let y = 0; y < 12; y++) {
      for (let x = 0; x < 12; x++) {
        let sum = 0;
        let count = 0;
        for (const wy of starts) {
          for (const wx of starts) {
            if (y < wy || y >= wy + 4 || x < wx || x >= wx + 4) continue;
            count++;
            for (let py = wy; py < wy + 4; py++) for (let px = wx; px < wx + 4; px++) if (inRegion(region, py, px)) sum += contribution(py, px);
          }
        }
        const expected = sum / count;
        assert.ok(Math.abs(map.raw[y * 12 + x]! - expected) < 1e-3, `${layout} (${y}, ${x}): ${map.raw[y * 12 + x]} vs ${expected}`);
      }
    }
    assert.ok(map.raw[4 * 12 + 7]! > 0, 'the scored region lights up');
    assert.equal(map.raw[11 * 12 + 0], 0, 'a far corner gets nothing');
  }
});

test('occlusion cuts the last window at the edge so every pixel is covered, and refuses gaps', async () => {
  const input = randomInput(11, 11, 'NCHW', 3);
  const { scorer, batches } = regionScorer(input, { top: 8, left: 8, height: 3, width: 3 });
  const map = await occlusion(input, scorer, { window: 4, stride: 3 });
  // ceil((11 - 4) / 3) + 1 = 4 windows per axis (starts 0, 3, 6, 9; the last one 2 pixels wide).
  assert.deepEqual(batches, [17]);
  assert.ok(map.raw.every((v) => Number.isFinite(v)));
  assert.ok(map.raw[10 * 11 + 10]! > 0, 'the bottom-right corner is covered by the cut window');
  await assert.rejects(occlusion(input, scorer, { window: 2, stride: 3 }), /stride of 3 skips pixels/);
  await assert.rejects(occlusion(input, async () => new Float32Array(1), { window: 4, stride: 2 }), /returned 1 scores for a batch of 26 tensors/);
});

/** The fraction of a region that survives masking (t = 1, black = 0 in channel 0). */
function survivingFraction(region: Region) {
  const calls: number[] = [];
  const scorer = async (tensors: Float32Array[]) => {
    calls.push(tensors.length);
    return Float32Array.from(tensors, (t) => {
      let s = 0;
      for (let y = region.top; y < region.top + region.height; y++) for (let x = region.left; x < region.left + region.width; x++) s += t[y * 24 + x]!;
      return s / (region.height * region.width);
    });
  };
  return { scorer, calls };
}

function onesInput(): InputImage {
  return { tensor: new Float32Array(3 * 24 * 24).fill(1), layout: 'NCHW', height: 24, width: 24, baseline: [0, 0, 0] };
}

function regionMean(raw: Float32Array, r: Region): number {
  let s = 0;
  for (let y = r.top; y < r.top + r.height; y++) for (let x = r.left; x < r.left + r.width; x++) s += raw[y * 24 + x]!;
  return s / (r.height * r.width);
}

test('RISE lights up the region the score depends on, reproducibly from its seed', async () => {
  const region: Region = { top: 4, left: 14, height: 6, width: 6 };
  const far: Region = { top: 16, left: 0, height: 8, width: 8 };
  const { scorer, calls } = survivingFraction(region);
  const options = { masks: 300, grid: 6, keep: 0.5, seed: 11, batch: 64 };
  const map = await rise(onesInput(), scorer, options);
  assert.deepEqual(map.grid, [24, 24]);
  assert.deepEqual(calls, [64, 64, 64, 64, 44]);
  const inside = regionMean(map.raw, region);
  const outside = regionMean(map.raw, far);
  // Far from the region, mask and score are independent: E[y M] / p = p. Inside they move together.
  assert.ok(Math.abs(outside - 0.5) < 0.08, `far saliency ${outside} should be near p = 0.5`);
  assert.ok(inside > outside + 0.1, `region ${inside} vs far ${outside}`);
  let best = 0;
  for (let i = 1; i < map.raw.length; i++) if (map.raw[i]! > map.raw[best]!) best = i;
  const by = Math.floor(best / 24);
  const bx = best % 24;
  assert.ok(by >= region.top - 2 && by < region.top + region.height + 2 && bx >= region.left - 2 && bx < region.left + region.width + 2, `maximum at (${by}, ${bx})`);

  // The masks depend on the seed only, not on the batch size.
  const again = await rise(onesInput(), survivingFraction(region).scorer, { ...options, batch: 7 });
  assert.deepEqual(again.raw, map.raw);
  const other = await rise(onesInput(), survivingFraction(region).scorer, { ...options, seed: 12 });
  assert.notDeepEqual(other.raw, map.raw);
});

test('RISE masks keep about p of the image, lie in 0..1 and are not all alike', async () => {
  const means: number[] = [];
  const scorer = async (tensors: Float32Array[]) => {
    for (const t of tensors) {
      let s = 0;
      for (let i = 0; i < 576; i++) {
        assert.ok(t[i]! >= 0 && t[i]! <= 1);
        s += t[i]!;
      }
      means.push(s / 576);
    }
    return new Float32Array(tensors.length);
  };
  await rise(onesInput(), scorer, { masks: 200, grid: 5, keep: 0.3, seed: 1 });
  const mean = means.reduce((a, b) => a + b, 0) / means.length;
  assert.ok(Math.abs(mean - 0.3) < 0.04, `mean kept fraction ${mean}`);
  assert.ok(Math.max(...means) - Math.min(...means) > 0.2);
  await assert.rejects(rise(onesInput(), scorer, { keep: 0 }), /keep must be a probability/);
});
