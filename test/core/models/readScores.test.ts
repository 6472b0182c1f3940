import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readScore } from '../../../core/models/readScores.js';
import { poolEmbedding } from '../../../core/models/embedLibrary.js';
import type { ModelCard } from '../../../core/models/modelCard.js';

function card(score: NonNullable<ModelCard['outputs']['score']>): ModelCard {
  return {
    name: 't',
    input: { name: 'x', layout: 'NCHW', size: [8, 8], channels: 'RGB', resize: 'stretch', pad: [0, 0, 0], interpolation: 'bilinear', scale: 255, mean: [0, 0, 0], std: [1, 1, 1] },
    outputs: { score },
  };
}

const close = (a: number, b: number, eps = 1e-6) => assert.ok(Math.abs(a - b) < eps, `${a} vs ${b}`);

test('a scalar output is the score as is', () => {
  const r = readScore(Float32Array.of(3.25), card({ name: 'y', kind: 'scalar' }));
  assert.ok(!('error' in r));
  assert.equal(r.score, 3.25);
  assert.equal(r.probs, null);
});

test('ordinal: expected value of the class values over softmax probabilities', () => {
  const logits = Float32Array.of(0, Math.log(2), Math.log(3), 0, Math.log(4));
  // softmax = [1,2,3,1,4]/11; values 1..5 -> (1 + 4 + 9 + 4 + 20) / 11
  const r = readScore(logits, card({ name: 'y', kind: 'ordinal', values: [1, 2, 3, 4, 5] }));
  assert.ok(!('error' in r));
  close(r.score, 38 / 11);
  close(r.probs![4]!, 4 / 11);
  // Default values are the class indices 0..K-1, as for deepghs' sum(i * p_i).
  const d = readScore(logits, card({ name: 'y', kind: 'ordinal' }));
  assert.ok(!('error' in d));
  close(d.score, 38 / 11 - 1);
});

test('ordinal outputs that are already probabilities use activation none', () => {
  const r = readScore(Float32Array.of(0.5, 0.5, 0), card({ name: 'y', kind: 'ordinal', activation: 'none' }));
  assert.ok(!('error' in r));
  close(r.score, 0.5);
});

test('ordinal values that are not probabilities are an error that names the card field to fix', () => {
  const r = readScore(Float32Array.of(-2, -1, -3), card({ name: 'logits', kind: 'ordinal', activation: 'none' }));
  assert.ok('error' in r);
  assert.match(r.error, /not class probabilities; set outputs.score.activation to softmax/);
});

test('classes: the named label\'s probability, or the top class\'s', () => {
  const spec = { name: 'y', kind: 'classes' as const, labels: ['bad', 'ok', 'good'], label: 'good' };
  const r = readScore(Float32Array.of(0, 0, Math.log(2)), card(spec));
  assert.ok(!('error' in r));
  close(r.score, 0.5);
  const top = readScore(Float32Array.of(5, 0, 0), card({ ...spec, label: undefined }));
  assert.ok(!('error' in top));
  assert.ok(top.score > 0.98);
});

test('multilabel: sigmoid per label, top labels sorted', () => {
  const r = readScore(Float32Array.of(0, 2, -2), card({ name: 'y', kind: 'multilabel', labels: ['a', 'b', 'c'], label: 'a' }));
  assert.ok(!('error' in r));
  close(r.score, 0.5);
  assert.deepEqual(r.topLabels!.map((t) => t.label), ['b', 'a', 'c']);
});

test('NaN and infinite outputs are errors, never scores', () => {
  for (const bad of [NaN, Infinity, -Infinity]) {
    const r = readScore(Float32Array.of(1, bad), card({ name: 'logits', kind: 'ordinal' }));
    assert.ok('error' in r);
    assert.match(r.error, /the model output logits holds/);
  }
});

test('embedding pooling: mean over maps and tokens, CLS token, flatten, normalise', () => {
  const map = { data: Float32Array.of(1, 3, 5, 7, /* channel 2 */ 0, 0, 0, 4), dims: [2, 2, 2] };
  assert.deepEqual([...(poolEmbedding(map, 'mean', false) as Float32Array)], [4, 1]);
  assert.match((poolEmbedding(map, 'cls', false) as { error: string }).error, /needs a token sequence/);
  const tokens = { data: Float32Array.of(9, 9, 1, 3, 3, 5), dims: [3, 2] };
  assert.deepEqual([...(poolEmbedding(tokens, 'cls', false) as Float32Array)], [9, 9]);
  const mean = poolEmbedding(tokens, 'mean', false) as Float32Array;
  close(mean[0]!, 13 / 3);
  close(mean[1]!, 17 / 3);
  assert.equal((poolEmbedding(tokens, 'none', false) as Float32Array).length, 6);
  const unit = poolEmbedding({ data: Float32Array.of(3, 4), dims: [2] }, 'mean', true) as Float32Array;
  close(unit[0]!, 0.6);
  close(unit[1]!, 0.8);
  assert.match((poolEmbedding({ data: Float32Array.of(0, 0), dims: [2] }, 'mean', true) as { error: string }).error, /all zeros/);
  assert.match((poolEmbedding({ data: Float32Array.of(NaN, 1), dims: [2] }, 'mean', false) as { error: string }).error, /NaN/);
});
