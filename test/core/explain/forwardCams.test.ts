import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ActivationMap, InputImage } from '../../../core/explain/explainTypes.js';
import { ablationCam, eigenCam, scoreCam } from '../../../core/explain/forwardCams.js';
import { SeededRandom } from '../../../core/synth/random.js';

function randomActs(channels: number, height: number, width: number, seed: number): ActivationMap {
  const random = new SeededRandom(seed);
  const data = new Float32Array(channels * height * width);
  for (let i = 0; i < data.length; i++) data[i] = random.uniform(0, 2);
  return { data, channels, height, width };
}

function channelMean(acts: ActivationMap, k: number): number {
  const plane = acts.height * acts.width;
  let sum = 0;
  for (let i = 0; i < plane; i++) sum += acts.data[k * plane + i]!;
  return sum / plane;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tolerance, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

/** A linear head: y = bias + sum_k u_k * mean(A_k), so ablating channel k drops y by exactly u_k * mean(A_k). */
function linearHead(acts: ActivationMap, u: number[], bias: number) {
  const plane = acts.height * acts.width;
  const batches: number[] = [];
  const scorer = async (maps: Float32Array[]) => {
    batches.push(maps.length);
    return Float32Array.from(maps, (m) => {
      let y = bias;
      for (let k = 0; k < acts.channels; k++) {
        let s = 0;
        for (let i = 0; i < plane; i++) s += m[k * plane + i]!;
        y += (u[k]! * s) / plane;
      }
      return y;
    });
  };
  const score = bias + u.reduce((sum, uk, k) => sum + uk * channelMean(acts, k), 0);
  return { scorer, score, batches };
}

test('Ablation-CAM weights equal the analytic (y - y_k) / y and the map is their weighted sum', async () => {
  const acts = randomActs(5, 3, 4, 1);
  const u = [2, -1, 0.5, 0, 3];
  const head = linearHead(acts, u, 1);
  const result = await ablationCam(acts, head.score, head.scorer, { batch: 2 });
  assert.deepEqual(head.batches, [2, 2, 1]);
  assert.deepEqual(result.grid, [3, 4]);
  const expected = u.map((uk, k) => (uk * channelMean(acts, k)) / head.score);
  assertClose(result.weights, expected, 1e-5, 'weights');
  const plane = 12;
  const raw = new Float32Array(plane);
  for (let k = 0; k < 5; k++) for (let i = 0; i < plane; i++) raw[i] += expected[k]! * acts.data[k * plane + i]!;
  assertClose(result.raw, raw, 1e-4, 'raw');
});

test('Ablation-CAM keeps the map the right way up when the score is negative', async () => {
  const acts = randomActs(4, 2, 2, 2);
  const u = [1, 2, -1, 0.5];
  const positive = linearHead(acts, u, 10);
  const negative = linearHead(acts, u, -50);
  assert.ok(negative.score < 0);
  const a = await ablationCam(acts, positive.score, positive.scorer);
  const b = await ablationCam(acts, negative.score, negative.scorer);
  // Same drops, different |y|: weights differ by a positive factor only.
  const factor = Math.abs(positive.score) / Math.abs(negative.score);
  assertClose(b.weights, Array.from(a.weights, (w) => w * factor), 1e-5, 'weights');
  await assert.rejects(ablationCam(acts, Number.NaN, positive.scorer), /base score/);
});

function flatInput(height: number, width: number, layout: 'NCHW' | 'NHWC', value: number, baseline: [number, number, number]): InputImage {
  return { tensor: new Float32Array(3 * height * width).fill(value), layout, height, width, baseline };
}

test('Score-CAM masks the input in pixel space with align_corners upsampling and softmaxes the scores', async () => {
  for (const layout of ['NCHW', 'NHWC'] as const) {
    const H = 8;
    const W = 8;
    const input = flatInput(H, W, layout, 1, [-1, -2, -1]);
    // Channel 0 is hot top-left, channel 1 bottom-right.
    const acts: ActivationMap = { data: Float32Array.from([1, 0, 0, 0, 0, 0, 0, 1]), channels: 2, height: 2, width: 2 };
    const seen: Float32Array[] = [];
    const at = (t: Float32Array, c: number, y: number, x: number) => (layout === 'NCHW' ? t[c * H * W + y * W + x]! : t[(y * W + x) * 3 + c]!);
    // The score counts how much of the top-left quadrant survives (channel 0, relative to black).
    const scorer = async (tensors: Float32Array[]) => {
      seen.push(...tensors);
      return Float32Array.from(tensors, (t) => {
        let s = 0;
        for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) s += (at(t, 0, y, x) + 1) / 2;
        return s / 4;
      });
    };
    const result = await scoreCam(input, acts, scorer, { batch: 1 });
    assert.equal(seen.length, 2);
    // align_corners=True: the corners carry the activation values exactly (1 keeps the pixel, 0 turns it black).
    assert.equal(at(seen[0]!, 0, 0, 0), 1);
    assert.equal(at(seen[0]!, 1, 0, 0), 1);
    assert.equal(at(seen[0]!, 1, 7, 7), -2);
    assert.equal(at(seen[1]!, 1, 0, 0), -2);
    // Halfway along the top row of channel 0's mask: 4/7 of the way from 1 to 0 -> t' = black + 2 * (3/7).
    assert.ok(Math.abs(at(seen[0]!, 0, 0, 4) - (-1 + 2 * (3 / 7))) < 1e-5);
    const scores = await scorer(seen.slice(0, 2));
    const e0 = Math.exp(scores[0]!);
    const e1 = Math.exp(scores[1]!);
    assertClose(result.weights, [e0 / (e0 + e1), e1 / (e0 + e1)], 1e-6, `${layout} weights`);
    assert.ok(result.weights[0]! > result.weights[1]!, 'the channel covering the scored region weighs more');
    assert.ok(result.raw[0]! > result.raw[3]!, 'the map is hot where the score comes from');
  }
});

/** A zero-mean, unit-norm +-1 pattern over 16 positions: row r of the 16 x 16 Hadamard matrix (r >= 1). */
function hadamardRow(r: number): Float64Array {
  const out = new Float64Array(16);
  for (let i = 0; i < 16; i++) {
    let bits = i & r;
    let parity = 0;
    while (bits) {
      parity ^= bits & 1;
      bits >>= 1;
    }
    out[i] = (parity ? -1 : 1) / 4;
  }
  return out;
}

function unit(values: number[]): Float64Array {
  const norm = Math.hypot(...values);
  return Float64Array.from(values, (v) => v / norm);
}

/** A_k(i) = sum_j sigma_j u_j(i) v_j(k) + offset_k: the centred matrix has exactly these singular triples. */
function lowRankActs(terms: Array<{ sigma: number; u: Float64Array; v: Float64Array }>, offsets: number[]): ActivationMap {
  const C = offsets.length;
  const data = new Float32Array(C * 16);
  for (let k = 0; k < C; k++) {
    for (let i = 0; i < 16; i++) {
      let value = offsets[k]!;
      for (const t of terms) value += t.sigma * t.u[i]! * t.v[k]!;
      data[k * 16 + i] = value;
    }
  }
  return { data, channels: C, height: 4, width: 4 };
}

test('Eigen-CAM of a rank-1 activation returns its pattern, signed to match the channel sum', () => {
  const pattern = Array.from({ length: 16 }, (_, i) => (i % 4) * (Math.floor(i / 4) + 1));
  const mean = pattern.reduce((a, b) => a + b, 0) / 16;
  // [-3, 2, 2]: the strongest channel points against the sum, so an unsigned power iteration or SVD can return
  // the inverted map; 20 channels take the other Gram path (h * w <= C).
  const twenty = Array.from({ length: 20 }, (_, k) => (k === 0 ? -9 : 1));
  for (const coefficients of [[1, 2, 0.5], [-1, -3, 0.5], [-3, 2, 2], [3, -2, -2], twenty, twenty.map((c) => -c)]) {
    const C = coefficients.length;
    const data = new Float32Array(C * 16);
    for (let k = 0; k < C; k++) for (let i = 0; i < 16; i++) data[k * 16 + i] = coefficients[k]! * pattern[i]! + 5;
    const result = eigenCam({ data, channels: C, height: 4, width: 4 });
    assert.deepEqual(result.grid, [4, 4]);
    // X v1 = (P - mean) * |c|, up to sign; the sign follows sum_k c_k.
    const norm = Math.hypot(...coefficients);
    const sign = Math.sign(coefficients.reduce((a, b) => a + b, 0));
    assertClose(result.raw, pattern.map((p) => sign * (p - mean) * norm), 1e-3, `rank-1 ${coefficients}`);
  }
});

test('Eigen-CAM finds the first singular vector on both Gram paths (h*w <= C and h*w > C)', () => {
  const u1 = hadamardRow(3);
  const u2 = hadamardRow(5);
  for (const C of [3, 40]) {
    const v1 = unit(Array.from({ length: C }, (_, k) => (k === 0 ? 2 : 1)));
    // v2 orthogonal to v1.
    const raw2 = Array.from({ length: C }, (_, k) => (k === 1 ? 1 : k === 2 ? -1 : 0));
    const v2 = unit(raw2);
    const offsets = Array.from({ length: C }, (_, k) => k * 0.3);
    const acts = lowRankActs([{ sigma: 10, u: u1, v: v1 }, { sigma: 7, u: u2, v: v2 }], offsets);
    const result = eigenCam(acts);
    // Sum of v1 is positive, so the channel sum correlates with +u1.
    assertClose(result.raw, Array.from(u1, (x) => 10 * x), 1e-3, `C=${C}`);
  }
});
