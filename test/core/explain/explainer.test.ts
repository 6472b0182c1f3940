import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { emptyMapNotice, Explainer, EXPLAIN_METHODS, scoreSplittingOnOutOfMemory, type Derived } from '../../../core/explain/explainer.js';
import { OutOfMemoryError, type InferencePool } from '../../../core/models/inferencePool.js';
import { loadInputImage } from '../../../core/explain/inputImage.js';
import { layerLayout, LayerShapeError, toActivationMap, fromActivationMap } from '../../../core/explain/layerMaps.js';
import { channelsLastModel } from './channelsLastModel.js';
import { parseTarget, TargetError } from '../../../core/explain/explainTargets.js';
import { loadOnnxModel } from '../../../core/models/onnx/onnxModel.js';
import { missingGradientRules } from '../../../core/explain/gradientGraph.js';
import { inspectModel, layerKind } from '../../../core/models/onnx/inspectModel.js';
import type { ModelCard } from '../../../core/models/modelCard.js';
import type { InputImage } from '../../../core/explain/explainTypes.js';
import { repoRoot, tempDir } from '../../helpers/paths.js';
import { modelWithoutRule } from './noRuleModel.js';
import { writeTestImage } from '../../helpers/images.js';

// The bundled cards are complete cards (the training script writes every field).
const bundled = (name: string) => ({
  bytes: new Uint8Array(readFileSync(path.join(repoRoot, 'assets/models', `${name}.onnx`))),
  card: JSON.parse(readFileSync(path.join(repoRoot, 'assets/models', `${name}.card.json`), 'utf8')) as ModelCard,
});

async function testImage(card: ModelCard, seed = 3): Promise<InputImage> {
  const file = path.join(tempDir(), 'image.png');
  await writeTestImage(file, { width: 96, height: 80, seed });
  return loadInputImage(file, card);
}

test('every method explains the bundled ConvNeXt: maps in 0..1 at the layer or input grid, the same score', async () => {
  const { bytes, card } = bundled('miru-convnext-s');
  const explainer = Explainer.open(bytes, card, { ep: 'cpu' });
  try {
    const image = await testImage(card);
    const scores = new Set<string>();
    for (const method of EXPLAIN_METHODS) {
      const result = await explainer.explain(image, { method, rise: { masks: 200 }, steps: 8, samples: 4, occlusion: { window: 32, stride: 32 } });
      const expectedGrid = ['occlusion', 'rise', 'gradients', 'integrated-gradients', 'smoothgrad'].includes(method) ? [128, 128] : [8, 8];
      assert.deepEqual(result.grid, expectedGrid, method);
      assert.equal(result.raw.length, expectedGrid[0]! * expectedGrid[1]!);
      assert.equal(result.layer, expectedGrid[0] === 8 ? 'feature_map' : 'input', method);
      assert.ok(result.map.every((v) => v >= 0 && v <= 1), `${method}: map outside 0..1`);
      // A map is all zeros only when its raw map has no positive evidence (ReLU); otherwise its maximum is 1.
      assert.ok(Math.max(...result.map) > 0.99 || result.raw.every((v) => v <= 0), `${method}: the map's maximum is not 1`);
      scores.add(result.score.toFixed(5));
    }
    assert.equal(scores.size, 1, `the target's value differs between methods: ${[...scores].join(', ')}`);
    assert.equal(explainer.provider, 'cpu');
  } finally {
    await explainer.close();
  }
});

test('backward-graph Grad-CAM weights agree with central differences on both bundled models', async () => {
  for (const name of ['miru-convnext-s', 'miru-vit-s']) {
    const { bytes, card } = bundled(name);
    const explainer = Explainer.open(bytes, card, { ep: 'cpu' });
    try {
      const check = await explainer.checkGradients(await testImage(card), undefined, 'score');
      assert.ok(check.pearson > 0.9999, `${name}: Pearson ${check.pearson}`);
      assert.ok(check.maxRelativeDifference < 0.01, `${name}: largest difference ${check.maxRelativeDifference}`);
      const backward = await explainer.explain(await testImage(card), { method: 'gradcam' });
      const numeric = await explainer.explain(await testImage(card), { method: 'gradcam', numeric: true });
      assert.equal(backward.gradients, 'backward-graph');
      assert.equal(numeric.gradients, 'central-differences');
      for (let i = 0; i < backward.raw.length; i++) assert.ok(Math.abs(backward.raw[i]! - numeric.raw[i]!) <= 0.01 * Math.max(...backward.raw.map(Math.abs)), `${name}: raw map differs at ${i}`);
    } finally {
      await explainer.close();
    }
  }
});

test('integrated gradients are complete: attributions sum to score(x) - score(baseline), for both baselines', async () => {
  const { bytes, card } = bundled('miru-convnext-s');
  const explainer = Explainer.open(bytes, card, { ep: 'cpu' });
  try {
    const image = await testImage(card, 9);
    // card mean/std 0.5: a black pixel is -1 in every channel; the default baseline is the all-zero tensor.
    for (const [baseline, value] of [['zero', 0], ['black', -1]] as const) {
      const result = await explainer.explain(image, { method: 'integrated-gradients', steps: 64, baseline });
      const [baselineScore] = await explainer.inputScorer('score')([new Float32Array(image.tensor.length).fill(value)]);
      const total = result.raw.reduce((a, v) => a + v, 0);
      const expected = result.score - baselineScore!;
      assert.ok(Math.abs(total - expected) < 0.05 * Math.abs(expected) + 0.01, `${baseline}: sum of attributions ${total}, score difference ${expected}`);
    }
  } finally {
    await explainer.close();
  }
});

test('an operator without a rule: Grad-CAM falls back to central differences once, HiResCAM and input gradients refuse naming it', async () => {
  const { bytes, card } = modelWithoutRule(16);
  const explainer = Explainer.open(bytes, card, { ep: 'cpu' });
  try {
    const image = await testImage(card);
    const a = await explainer.explain(image, { method: 'gradcam' });
    const b = await explainer.explain(image, { method: 'gradcam' });
    assert.equal(a.gradients, 'central-differences');
    assert.deepEqual(Array.from(a.raw), Array.from(b.raw));
    assert.equal(explainer.notices.length, 1);
    assert.match(explainer.notices[0]!, /HardSigmoid/);
    // HardSigmoid(0.2 a + 0.5) has slope 0.2 inside 0..1: the Grad-CAM weight of channel k is 0.2 w_k / (h w)
    // times the fraction of unsaturated positions, so its sign is w_k's; check the map is not trivially flat.
    assert.ok(Math.max(...a.map) > 0.99);
    await assert.rejects(explainer.explain(image, { method: 'hirescam' }), /hirescam needs the gradient at every position.*HardSigmoid/);
    await assert.rejects(explainer.explain(image, { method: 'gradients' }), /input-gradient methods need a rule for every operator.*HardSigmoid/);
    const eigen = await explainer.explain(image, { method: 'eigencam' });
    assert.deepEqual(eigen.grid, [16, 16]);
  } finally {
    await explainer.close();
  }
});

test('the operator that makes the layer is not part of the head: a layer output by HardSigmoid runs on the backward graph', async () => {
  const { bytes, card } = modelWithoutRule(16);
  const model = loadOnnxModel(bytes);
  assert.deepEqual(missingGradientRules(model, ['hard'], 'score'), []);
  assert.deepEqual(missingGradientRules(model, ['feat'], 'score'), ['HardSigmoid']);
  assert.deepEqual(missingGradientRules(model, ['x'], 'score'), ['HardSigmoid']);
  const explainer = Explainer.open(bytes, card, { ep: 'cpu' });
  try {
    const image = await testImage(card);
    for (const method of ['gradcam', 'xgradcam', 'hirescam', 'gradcam++', 'layercam'] as const) {
      const result = await explainer.explain(image, { method, layer: 'hard' });
      assert.equal(result.gradients, 'backward-graph', method);
      assert.deepEqual(result.grid, [16, 16]);
    }
    assert.deepEqual(explainer.notices, []);
    const check = await explainer.checkGradients(image, 'hard');
    assert.ok(check.pearson > 0.9999, `Pearson ${check.pearson}`);
  } finally {
    await explainer.close();
  }
});

test('an empty map says so: all zeros after ReLU gets a notice naming the layer, a map with evidence none', async () => {
  const { bytes, card } = modelWithoutRule(16, { negative: true });
  const explainer = Explainer.open(bytes, card, { ep: 'cpu' });
  try {
    const image = await testImage(card);
    const empty = await explainer.explain(image, { method: 'gradcam', layer: 'hard' });
    assert.ok(empty.raw.every((v) => v <= 0) && empty.map.every((v) => v === 0));
    assert.match(empty.notice ?? '', /the map is empty after ReLU: nothing at layer hard raises the target/);
    const shown = await explainer.explain(image, { method: 'occlusion', occlusion: { window: 4, stride: 4 } });
    assert.ok(Math.max(...shown.map) > 0.99);
    assert.equal(shown.notice, undefined);
  } finally {
    await explainer.close();
  }
  assert.match(emptyMapNotice(Float32Array.of(2, 2), new Float32Array(2), 'input') ?? '', /flat: every raw value in the input is the same/);
});

test('bad layers and targets get errors that say what is valid', async () => {
  const { bytes, card } = bundled('miru-vit-s');
  const explainer = Explainer.open(bytes, card, { ep: 'cpu' });
  try {
    const image = await testImage(card);
    await assert.rejects(explainer.explain(image, { method: 'gradcam', layer: 'no-such-tensor' }), /no tensor named no-such-tensor; candidates:/);
    await assert.rejects(explainer.explain(image, { method: 'gradcam', layer: '/blocks.3/attn/Softmax_output_0' }), /is not a valid split point for output logits.*Valid split points near it: .*tokens/);
    await assert.rejects(explainer.explain(image, { method: 'gradcam', layer: 'embedding' }), /neither a spatial map .* nor a token sequence/);
    // The patch embedding before its Transpose is (N, C, L) = [1, 128, 64]: refused, not read as 7 + 11x11 tokens.
    await assert.rejects(explainer.explain(image, { method: 'gradcam', layer: '/Reshape_output_0' }), /looks channels-first/);
    const after = await explainer.explain(image, { method: 'gradcam', layer: '/Transpose_output_0' });
    assert.deepEqual(after.grid, [8, 8]);
    const kinds = new Map((await inspectModel(bytes, { output: 'logits' })).layers.map((l) => [l.name, l.kind]));
    assert.equal(kinds.get('/Reshape_output_0'), 'other');
    assert.equal(kinds.get('/Transpose_output_0'), 'tokens');
    await assert.rejects(explainer.explain(image, { method: 'gradcam', target: 'class:5' }), /class 5 is out of range; logits has 5 classes \(0\.\.4\)/);
    await assert.rejects(explainer.explain(image, { method: 'gradcam', target: 'label:masterpiece' }), /has no label "masterpiece"; its labels are 1, 2, 3, 4, 5/);
    await assert.rejects(explainer.explain(image, { method: 'gradcam', target: 'logit' }), /use score, class:K, label:NAME or prob:K/);
    const prob = await explainer.explain(image, { method: 'gradcam', target: 'prob:4' });
    const logit = await explainer.explain(image, { method: 'gradcam', target: 'label:5' });
    assert.equal(logit.target, 'class:4');
    assert.ok(prob.score > 0 && prob.score < 1, 'prob:K is a probability');
  } finally {
    await explainer.close();
  }
});

test('token layers: prefix and grid from the card, inferred when square, refused when neither', () => {
  assert.deepEqual(layerLayout('t', [1, 65, 8]), { kind: 'tokens', channels: 8, length: 65, tokens: { prefix: 1, grid: [8, 8] } });
  assert.deepEqual(layerLayout('t', [1, 201, 8]), { kind: 'tokens', channels: 8, length: 201, tokens: { prefix: 5, grid: [14, 14] } });
  assert.throws(() => layerLayout('t', [1, 65, 8], { layer: 't', tokens: { prefix: 5, grid: [8, 8] } }), /fix saliency.tokens/);
  // The card's layout serves every token layer of its length; other lengths (patches before CLS joins) are inferred.
  assert.deepEqual(layerLayout('u', [1, 69, 8], { layer: 't', tokens: { prefix: 5, grid: [8, 8] } }), { kind: 'tokens', channels: 8, length: 69, tokens: { prefix: 5, grid: [8, 8] } });
  assert.deepEqual(layerLayout('u', [1, 64, 8], { layer: 't', tokens: { prefix: 5, grid: [8, 8] } }), { kind: 'tokens', channels: 8, length: 64, tokens: { prefix: 0, grid: [8, 8] } });
  // Only common prefixes are inferred: 128 = 7 + 11x11 is no ViT; with a square last axis it reads as channels-first.
  assert.throws(() => layerLayout('/Reshape_output_0', [1, 128, 64]), /looks channels-first \(N, C, L\).*after the Transpose/);
  assert.throws(() => layerLayout('t', [1, 128, 60]), /no prefix of 0, 1, 2, 5 tokens leaves a square grid; set saliency.tokens/);
  assert.deepEqual(layerLayout('t', [1, 128, 64], { tokens: { prefix: 7, grid: [11, 11] } }).kind, 'tokens');
  // models inspect labels by the same test.
  assert.equal(layerKind(['batch', 128, 64]), 'other');
  assert.equal(layerKind(['batch', 65, 128]), 'tokens');
  assert.equal(layerKind(['batch', 'tokens', 128]), 'tokens');
  assert.equal(layerKind(['batch', 128, 64], 't', { tokens: { prefix: 7, grid: [11, 11] } }), 'tokens');
  assert.throws(() => layerLayout('t', [1, 3, 7, 5, 2]), LayerShapeError);
  const layout = layerLayout('t', [1, 5, 2], { layer: 't', tokens: { prefix: 1, grid: [2, 2] } });
  const tokens = Float32Array.from([9, 9, 1, 10, 2, 20, 3, 30, 4, 40]);
  const map = toActivationMap(tokens, layout, 0);
  assert.deepEqual(Array.from(map.data), [1, 2, 3, 4, 10, 20, 30, 40]);
  assert.deepEqual(Array.from(fromActivationMap(map.data, tokens, layout)), Array.from(tokens));
});

test('targets parse against the card', () => {
  const { card } = bundled('miru-convnext-s');
  assert.deepEqual(parseTarget('score', card), { kind: 'score' });
  assert.deepEqual(parseTarget('class:2', card), { kind: 'class', index: 2 });
  assert.deepEqual(parseTarget('label:3', card), { kind: 'class', index: 2 });
  assert.deepEqual(parseTarget('prob:0', card), { kind: 'prob', index: 0 });
  assert.throws(() => parseTarget('class:-1', card), TargetError);
  assert.throws(() => parseTarget('prob:x', card), /whole number/);
});

test('perturbation and difference batches halve until they fit when the provider runs out of memory', async () => {
  // The subject is the splitting: a pool that holds at most 3 images and scores each as the sum of its values.
  const sizes: number[] = [];
  const pool = {
    run: async (feeds: Record<string, { data: Float32Array; dims: number[] }>) => {
      const { data, dims } = feeds.x!;
      sizes.push(dims[0]!);
      if (dims[0]! > 3) throw new OutOfMemoryError('Failed to allocate memory for requested buffer');
      const per = data.length / dims[0]!;
      return { y: { type: 'float32', data: Float32Array.from({ length: dims[0]! }, (_, i) => data.subarray(i * per, (i + 1) * per).reduce((a, v) => a + v, 0)), dims: [dims[0]!, 1] } };
    },
  } as unknown as InferencePool;
  const derived: Derived = { pool, outputs: ['y'] };
  const tensors = Array.from({ length: 10 }, (_, i) => Float32Array.of(i, 2 * i));
  const stack = (batch: Float32Array[]) => ({ x: { type: 'float32' as const, data: Float32Array.from(batch.flatMap((t) => Array.from(t))), dims: [batch.length, 2] } });
  const scores = await scoreSplittingOnOutOfMemory(derived, tensors, stack);
  assert.deepEqual(Array.from(scores), tensors.map((_, i) => 3 * i));
  assert.ok(sizes.includes(10) && Math.max(...sizes.slice(1)) < 10 && sizes.some((n) => n <= 3), `batch sizes tried: ${sizes.join(', ')}`);
  // An error that is not memory is not retried, and names what failed.
  const failing = { pool: { run: async () => { throw new Error('Non-zero status code returned while running Conv node'); } } as unknown as InferencePool, outputs: ['y'] };
  await assert.rejects(scoreSplittingOnOutOfMemory(failing, tensors.slice(0, 4), stack), /Conv node/);
});

test('a channels-last layer (N, H, W, C) gives the same maps as the same values channels-first', async () => {
  const { bytes, card } = channelsLastModel(8);
  const explainer = Explainer.open(bytes, card, { ep: 'cpu' });
  try {
    const image = await testImage(card, 4);
    for (const method of ['gradcam', 'hirescam', 'xgradcam', 'gradcam++', 'layercam', 'eigencam', 'ablationcam'] as const) {
      const last = await explainer.explain(image, { method, layer: 'feat_nhwc' });
      const first = await explainer.explain(image, { method, layer: 'conv_nchw' });
      assert.deepEqual(last.grid, [8, 8]);
      const scale = Math.max(...Array.from(first.raw, Math.abs));
      assert.ok(scale > 0, `${method}: a map with something in it`);
      first.raw.forEach((v, i) => assert.ok(Math.abs(v - last.raw[i]!) <= 1e-4 * scale, `${method} at position ${i}: channels-first ${v}, channels-last ${last.raw[i]}`));
    }
  } finally {
    await explainer.close();
  }
});

test('rank-4 layers: equal axes tell the layout of square maps, the input layout decides the rest', () => {
  assert.deepEqual(layerLayout('a', [1, 192, 8, 8]), { kind: 'spatial', channels: 192, height: 8, width: 8 });
  assert.deepEqual(layerLayout('b', [1, 14, 14, 768]), { kind: 'tokens', channels: 768, length: 196, tokens: { prefix: 0, grid: [14, 14] } });
  assert.equal(layerLayout('c', [1, 6, 8, 5], undefined, 'NHWC').kind, 'tokens');
  assert.equal(layerLayout('d', [1, 6, 8, 5], undefined, 'NCHW').kind, 'spatial');
});
