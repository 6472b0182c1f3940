import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { InputImage } from '../../../core/explain/explainTypes.js';
import { confidenceChange, deletionCurve, deletionInsertion, gaussianBlur, insertionCurve, trapezoidAuc } from '../../../core/explain/faithfulness.js';
import { SeededRandom } from '../../../core/synth/random.js';

const SIZE = 16;

function randomInput(layout: 'NCHW' | 'NHWC', seed: number, baseline: [number, number, number] = [0, 0, 0]): InputImage {
  const random = new SeededRandom(seed);
  const tensor = new Float32Array(3 * SIZE * SIZE);
  for (let i = 0; i < tensor.length; i++) tensor[i] = random.uniform(0.5, 1);
  return { tensor, layout, height: SIZE, width: SIZE, baseline };
}

/** Channel 0 of pixel (y, x), relative to black. */
function red(input: InputImage, t: Float32Array, y: number, x: number): number {
  const i = y * SIZE + x;
  return (input.layout === 'NCHW' ? t[i]! : t[i * 3]!) - input.baseline[0];
}

/** y = offset + sum of channel 0 over the top-left 4 x 4 block (the "subject"). */
function subjectScorer(input: InputImage, offset = 0, sign = 1) {
  const batches: number[] = [];
  const scorer = async (tensors: Float32Array[]) => {
    batches.push(tensors.length);
    return Float32Array.from(tensors, (t) => {
      let s = 0;
      for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) s += red(input, t, y, x);
      return offset + sign * s;
    });
  };
  return { scorer, batches };
}

/** 1 on the subject block, 0 elsewhere, at input resolution; or its reverse. */
function subjectMap(reverse = false): Float32Array {
  const map = new Float32Array(SIZE * SIZE);
  for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) map[y * SIZE + x] = (y < 4 && x < 4) !== reverse ? 1 : 0;
  return map;
}

test('trapezoidAuc is RISE auc(): (sum - first / 2 - last / 2) / steps', () => {
  assert.equal(trapezoidAuc([1, 0.5, 0]), 0.5);
  assert.equal(trapezoidAuc([1, 1, 1, 1]), 1);
  assert.equal(trapezoidAuc([0, 1]), 0.5);
  assert.throws(() => trapezoidAuc([1]), /at least two points/);
});

test('deletion of a uniform-score image is a straight line to baseline: AUC is half the start score', async () => {
  const input = randomInput('NHWC', 1, [-1, -1, -1]);
  const scorer = async (tensors: Float32Array[]) =>
    Float32Array.from(tensors, (t) => {
      let s = 0;
      for (let i = 0; i < SIZE * SIZE; i++) s += red(input, t, Math.floor(i / SIZE), i % SIZE) > 0 ? 1 : 0;
      return s;
    });
  // Any map: every step removes 16 pixels of the 256.
  const random = new SeededRandom(2);
  const map = Float32Array.from({ length: 16 }, () => random.next());
  const curve = await deletionCurve(input, map, [4, 4], scorer, { steps: 16, batch: 5 });
  assert.equal(curve.scores.length, 17);
  assert.deepEqual(Array.from(curve.scores), Array.from({ length: 17 }, (_, i) => 256 - 16 * i));
  assert.equal(curve.fractions[0], 0);
  assert.equal(curve.fractions[16], 1);
  assert.equal(curve.auc, 128);
});

test('a faithful map deletes the score faster and inserts it faster than its reverse', async () => {
  for (const layout of ['NCHW', 'NHWC'] as const) {
    const input = randomInput(layout, 3, [0.1, -0.5, 0.3]);
    // A bright subject, so the blurred substrate scores clearly lower than the input.
    for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) input.tensor[layout === 'NCHW' ? y * SIZE + x : (y * SIZE + x) * 3] = 4;
    const { scorer, batches } = subjectScorer(input);
    const original = (await scorer([input.tensor]))[0]!;
    batches.length = 0;
    const right = await deletionCurve(input, subjectMap(), [SIZE, SIZE], scorer, { steps: 32, batch: 10 });
    assert.deepEqual(batches, [10, 10, 10, 3]);
    const wrong = await deletionCurve(input, subjectMap(true), [SIZE, SIZE], scorer, { steps: 32 });
    assert.ok(Math.abs(right.scores[0]! - original) < 1e-4, 'deletion starts from the input');
    assert.ok(Math.abs(right.scores[32]!) < 1e-4, 'deletion ends at black');
    assert.ok(Math.abs(right.scores[2]!) < 1e-4, 'the 16 subject pixels are gone after two steps of 8');
    assert.ok(right.auc < wrong.auc / 4, `deletion AUC ${right.auc} vs reversed ${wrong.auc}`);

    const insertRight = await insertionCurve(input, subjectMap(), [SIZE, SIZE], scorer, { steps: 32 });
    const insertWrong = await insertionCurve(input, subjectMap(true), [SIZE, SIZE], scorer, { steps: 32 });
    assert.ok(Math.abs(insertRight.scores[32]! - original) < 1e-4, 'insertion ends at the input');
    assert.ok(insertRight.scores[0]! < original * 0.7, 'insertion starts from a blur of the input');
    assert.ok(insertRight.auc > insertWrong.auc * 1.2, `insertion AUC ${insertRight.auc} vs reversed ${insertWrong.auc}`);
  }
});

test('a coarse map is upsampled before ranking, and steps that do not divide the pixels still end at 1', async () => {
  const input = randomInput('NCHW', 4);
  const { scorer } = subjectScorer(input);
  // 4 x 4 map: cell (0, 0) covers the subject block exactly.
  const coarse = new Float32Array(16);
  coarse[0] = 1;
  const curve = await deletionCurve(input, coarse, [4, 4], scorer, { steps: 100 });
  // ceil(256 / 100) = 3 pixels per step -> ceil(256 / 3) = 86 steps.
  assert.equal(curve.scores.length, 87);
  assert.equal(curve.fractions[86], 1);
  const reversed = await deletionCurve(input, Float32Array.from(coarse, (v) => 1 - v), [4, 4], scorer, { steps: 100 });
  assert.ok(curve.auc < reversed.auc);
  const both = await deletionInsertion([{ input, map: coarse, grid: [4, 4] }], scorer, { steps: 8 });
  assert.equal(both.deletion.curves.length, 1);
  assert.equal(both.deletion.meanAuc, both.deletion.curves[0]!.auc);
  assert.equal(both.insertion.curves[0]!.scores.length, 9);
});

test('gaussianBlur keeps a constant image constant (no dark border) and smooths an edge', () => {
  const flat: InputImage = { tensor: new Float32Array(3 * SIZE * SIZE).fill(0.7), layout: 'NHWC', height: SIZE, width: SIZE, baseline: [0, 0, 0] };
  assert.ok(gaussianBlur(flat, 5, 5).every((v) => Math.abs(v - 0.7) < 1e-6));
  const edge = randomInput('NCHW', 5);
  for (let i = 0; i < SIZE * SIZE; i++) edge.tensor[i] = i % SIZE < 8 ? 0 : 1;
  const blurred = gaussianBlur(edge, 5, 5);
  assert.ok(blurred[7]! > 0.2 && blurred[8]! < 0.8);
});

test('average drop and increase in confidence follow Chattopadhay et al.', async () => {
  const input = randomInput('NCHW', 6);
  const { scorer, batches } = subjectScorer(input);
  const half = new Float32Array(SIZE * SIZE).fill(0.5);
  const result = await confidenceChange(
    [
      { input, map: subjectMap(), grid: [SIZE, SIZE] },
      { input, map: new Float32Array(SIZE * SIZE), grid: [SIZE, SIZE] },
      { input, map: half, grid: [SIZE, SIZE] },
    ],
    scorer,
    { batch: 4 },
  );
  assert.deepEqual(batches, [4, 2]);
  const drops = result.perImage.map((p) => p.drop!);
  assert.ok(Math.abs(drops[0]!) < 1e-4, 'a map covering the subject keeps the score');
  assert.ok(Math.abs(drops[1]! - 100) < 1e-4, 'an empty map loses it all');
  assert.ok(Math.abs(drops[2]! - 50) < 1e-3, 'a half map keeps half');
  assert.ok(Math.abs(result.averageDrop - 50) < 1e-3);
  assert.equal(result.increaseInConfidence, 0);
  assert.deepEqual(result.skipped, []);
});

test('scores at or below the reference are left out of the drop, not of the increase', async () => {
  const input = randomInput('NHWC', 7);
  // y = -100 - subject: negative, and masking raises it (o > y).
  const { scorer } = subjectScorer(input, -100, -1);
  const cases = [{ input, map: new Float32Array(SIZE * SIZE), grid: [SIZE, SIZE] as [number, number] }];
  const plain = await confidenceChange(cases, scorer);
  assert.deepEqual(plain.skipped, [0]);
  assert.equal(plain.perImage[0]!.drop, null);
  assert.ok(Number.isNaN(plain.averageDrop));
  assert.equal(plain.increaseInConfidence, 100);
  assert.equal(plain.perImage[0]!.increased, true);
  // Relative to a reference below the score, the drop is defined again (o > y: no drop).
  const referenced = await confidenceChange(cases, scorer, { reference: -200 });
  assert.deepEqual(referenced.skipped, []);
  assert.equal(referenced.averageDrop, 0);
  // y = 100 + subject against a reference of 100: an empty map leaves o = 100, all of the evidence gone.
  const offset = subjectScorer(input, 100);
  const full = await confidenceChange(cases, offset.scorer, { reference: 100 });
  assert.ok(Math.abs(full.averageDrop - 100) < 1e-3, `drop ${full.averageDrop}`);
});
