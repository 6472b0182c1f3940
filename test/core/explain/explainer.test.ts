import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { create } from '@bufbuild/protobuf';
import { GraphProtoSchema, ModelProtoSchema, OperatorSetIdProtoSchema, TensorProto_DataType } from 'onnx-buf';
import { Explainer, EXPLAIN_METHODS, scoreSplittingOnOutOfMemory, type Derived } from '../../../core/explain/explainer.js';
import { OutOfMemoryError, type InferencePool } from '../../../core/models/inferencePool.js';
import { GraphBuilder } from '../../../core/explain/graphBuilder.js';
import { loadInputImage } from '../../../core/explain/inputImage.js';
import { layerLayout, LayerShapeError, toActivationMap, fromActivationMap } from '../../../core/explain/layerMaps.js';
import { parseTarget, TargetError } from '../../../core/explain/explainTargets.js';
import { saveOnnxModel } from '../../../core/models/onnx/onnxModel.js';
import { tensorValueInfo } from '../../../core/models/onnx/tensorTypes.js';
import type { ModelCard } from '../../../core/models/modelCard.js';
import { SeededRandom } from '../../../core/synth/random.js';
import type { InputImage } from '../../../core/explain/explainTypes.js';
import { repoRoot, tempDir } from '../../helpers/paths.js';
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

/**
 * x -> Conv 3x3 (4 channels) = "feat" -> HardSigmoid (no backward rule) -> GlobalAveragePool -> Flatten -> Gemm
 * -> score. Gradient CAMs at "feat" must fall back (Grad-CAM) or refuse (HiResCAM) with the operator named.
 */
function modelWithoutRule(size: number): { bytes: Uint8Array; card: ModelCard } {
  const random = new SeededRandom(5);
  const weights = (n: number) => Array.from({ length: n }, () => random.normal(0, 0.3));
  const graph = create(GraphProtoSchema, { name: 'no-rule', input: [tensorValueInfo('x', TensorProto_DataType.FLOAT, ['batch', 3, size, size])] });
  const b = new GraphBuilder(graph, 17, 'm');
  b.nodeNamed('feat', 'Conv', ['x', b.floats(weights(4 * 3 * 9), [4, 3, 3, 3])], { pads: [1, 1, 1, 1] });
  const hard = b.node('HardSigmoid', ['feat'], { alpha: { float: 0.2 }, beta: { float: 0.5 } });
  const pooled = b.node('Flatten', [b.node('GlobalAveragePool', [hard])]);
  b.nodeNamed('score', 'Gemm', [pooled, b.floats(weights(4), [1, 4])], { transB: 1 });
  graph.output.push(tensorValueInfo('score', TensorProto_DataType.FLOAT, ['batch', 1]));
  const model = create(ModelProtoSchema, { irVersion: 8n, opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 17n })], graph });
  const card: ModelCard = {
    name: 'no-rule',
    input: { name: 'x', layout: 'NCHW', size: [size, size], channels: 'RGB', resize: 'stretch', pad: [255, 255, 255], interpolation: 'bilinear', scale: 255, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
    outputs: { score: { name: 'score', kind: 'scalar' } },
    saliency: { layer: 'feat' },
  };
  return { bytes: saveOnnxModel(model), card };
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

test('bad layers and targets get errors that say what is valid', async () => {
  const { bytes, card } = bundled('miru-vit-s');
  const explainer = Explainer.open(bytes, card, { ep: 'cpu' });
  try {
    const image = await testImage(card);
    await assert.rejects(explainer.explain(image, { method: 'gradcam', layer: 'no-such-tensor' }), /no tensor named no-such-tensor; candidates:/);
    await assert.rejects(explainer.explain(image, { method: 'gradcam', layer: '/blocks.3/attn/Softmax_output_0' }), /is not a valid split point for output logits.*Valid split points near it: .*tokens/);
    await assert.rejects(explainer.explain(image, { method: 'gradcam', layer: 'embedding' }), /neither a spatial map .* nor a token sequence/);
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
  assert.throws(() => layerLayout('t', [1, 65, 8], { prefix: 5, grid: [8, 8] }), /fix saliency.tokens/);
  assert.throws(() => layerLayout('t', [1, 3, 7, 5, 2]), LayerShapeError);
  const layout = layerLayout('t', [1, 5, 2], { prefix: 1, grid: [2, 2] });
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
