import { test } from 'node:test';
import assert from 'node:assert/strict';
import ort from 'onnxruntime-node';
import type { ModelProto } from 'onnx-buf';
import { addGraphOutputs, splitAtTensor, SplitPointError } from '../../../../core/models/onnx/editGraph.js';
import { inspectModel, type LayerInfo } from '../../../../core/models/onnx/inspectModel.js';
import { loadOnnxModel, saveOnnxModel } from '../../../../core/models/onnx/onnxModel.js';
import { shapeOf } from '../../../../core/models/onnx/tensorTypes.js';
import { fixtureBytes, floatTensor, maxAbsDifference, randomTensor, runModel } from './onnxTestSupport.js';

const TOLERANCE = 1e-5;

interface Case {
  fixture: string;
  input: string;
  /** Input dims after the batch dim. */
  sampleDims: number[];
}

const CASES: Case[] = [
  { fixture: 'convnext_style.onnx', input: 'input', sampleDims: [3, 32, 32] },
  { fixture: 'vit_style.onnx', input: 'input', sampleDims: [3, 32, 32] },
  { fixture: 'runnable_shape_if.onnx', input: 'x', sampleDims: [4, 6] },
  { fixture: 'mlp_torch_opset13.onnx', input: 'input', sampleDims: [8] }, // IR 7, initializers listed as inputs
];

/**
 * For every split point and batch sizes 1 and 3: head(backbone(x)) equals model(x), and the backbone's output
 * equals the same tensor read through addGraphOutputs on the whole model.
 */
for (const { fixture, input, sampleDims } of CASES) {
  test(`${fixture}: head(backbone(x)) = model(x) at every split point, batch 1 and 3`, async () => {
    const bytes = fixtureBytes(fixture);
    const model = loadOnnxModel(bytes, fixture);
    const { layers } = await inspectModel(bytes);
    assert.ok(layers.length >= 3, `${fixture} has only ${layers.length} split points`);
    const exposed = addGraphOutputs(model, layers.map((layer) => layer.name));
    for (const batch of [1, 3]) {
      const feeds = { [input]: randomTensor([batch, ...sampleDims], 1000 + batch) };
      const expected = await runModel(bytes, feeds);
      const intermediates = await runModel(exposed, feeds);
      for (const layer of layers) {
        const { backbone, head } = splitAtTensor(model, layer.name, { shape: layer.shape });
        const fromBackbone = (await runModel(backbone, feeds))[layer.name];
        assert.ok(fromBackbone, `${layer.name}: backbone has no output ${layer.name}`);
        assert.ok(maxAbsDifference(fromBackbone.data, intermediates[layer.name].data) <= TOLERANCE, `${layer.name}: backbone vs addGraphOutputs`);
        const fromHead = await runModel(head, { [layer.name]: floatTensor(fromBackbone) });
        for (const output of head.graph!.output) {
          const difference = maxAbsDifference(fromHead[output.name].data, expected[output.name].data);
          assert.ok(difference <= TOLERANCE, `${fixture} split at ${layer.name}, batch ${batch}: ${output.name} differs by ${difference}`);
        }
        assert.ok(head.graph!.output.some((output) => output.name === model.graph!.output[0].name));
      }
    }
  });
}

const layerNamed = async (fixture: string, name: string): Promise<LayerInfo> => {
  const layer = (await inspectModel(fixtureBytes(fixture))).layers.find((l) => l.name === name);
  assert.ok(layer, `${fixture} has no layer ${name}`);
  return layer;
};

const initializerNames = (model: ModelProto) => new Set(model.graph!.initializer.map((t) => t.name));
const producedNames = (model: ModelProto) => new Set(model.graph!.node.flatMap((n) => n.output));

test('each part keeps only the nodes and weights it needs', async () => {
  const model = loadOnnxModel(fixtureBytes('convnext_style.onnx'));
  const tensor = '/down/down.1/Conv_output_0';
  const { backbone, head } = splitAtTensor(model, tensor);
  assert.deepEqual(backbone.graph!.input.map((i) => i.name), ['input']);
  assert.deepEqual(backbone.graph!.output.map((o) => o.name), [tensor]);
  assert.deepEqual(head.graph!.input.map((i) => i.name), [tensor]);
  assert.deepEqual(head.graph!.output.map((o) => o.name), ['logits']);
  assert.ok(initializerNames(backbone).has('stem.0.weight') && !initializerNames(backbone).has('head.weight'));
  assert.ok(initializerNames(head).has('head.weight') && !initializerNames(head).has('stem.0.weight'));
  // The head's final LayerNorm reads norm.weight through an Identity of a shared initializer (torch dedups
  // equal weights): that constant subgraph sits at the top of the file and must come along.
  assert.ok(producedNames(head).has('norm.weight') && initializerNames(head).has('stage2.0.norm.weight'));
  // Only weight-only nodes (the Identity copies of shared weights) may be needed by both parts.
  const shared = [...producedNames(backbone)].filter((name) => producedNames(head).has(name));
  const opOf = (name: string) => model.graph!.node.find((node) => node.output.includes(name))?.opType;
  assert.ok(shared.every((name) => opOf(name) === 'Identity'), shared.join(', '));
  assert.equal(producedNames(backbone).size + producedNames(head).size - shared.length, producedNames(model).size);
  assert.equal(model.graph!.output.length, 1, 'the source model is left unchanged');
  assert.equal(head.irVersion, model.irVersion);
  assert.deepEqual(head.opsetImport, model.opsetImport);
});

test('the head copies the Constant nodes and weight-only shape subgraph it needs, and the If reading outer tensors', async () => {
  const model = loadOnnxModel(fixtureBytes('runnable_shape_if.onnx'));
  const { backbone, head } = splitAtTensor(model, 's');
  const headOps = head.graph!.node.map((n) => n.name);
  for (const name of ['if_node', 'cond_node', 'w2_shape_node', 'zero_node', 'gather_rows', 'axes0_node', 'unsqueeze_rows', 'minus_one_node', 'concat_shape', 'reshape_flat', 'matmul2', 'softmax']) {
    assert.ok(headOps.includes(name), `head lacks ${name}`);
  }
  assert.ok(initializerNames(head).has('two'), 'the If branch reads the outer initializer "two"');
  assert.deepEqual(backbone.graph!.node.map((n) => n.name), ['matmul1', 'add1', 'relu1', 'residual_branch', 'residual_add']);
  assert.deepEqual([...initializerNames(backbone)].sort(), ['W1', 'b1']);
});

test('the split tensor gets the layer shape (symbolic batch kept) when given, and runs without one', async () => {
  const model = loadOnnxModel(fixtureBytes('vit_style.onnx'));
  const layer = await layerNamed('vit_style.onnx', '/blocks/blocks.0/Add_1_output_0');
  const withShape = splitAtTensor(model, layer.name, { shape: layer.shape });
  assert.deepEqual(shapeOf(withShape.head.graph!.input[0]), ['batch', 17, 32]);
  assert.deepEqual(shapeOf(withShape.backbone.graph!.output[0]), ['batch', 17, 32]);
  const withoutShape = splitAtTensor(model, layer.name);
  assert.equal(shapeOf(withoutShape.head.graph!.input[0]), undefined);
  const feeds = { input: randomTensor([2, 3, 32, 32], 5) };
  const tokens = (await runModel(withoutShape.backbone, feeds))[layer.name];
  assert.deepEqual(tokens.dims, [2, 17, 32]);
  const expected = await runModel(fixtureBytes('vit_style.onnx'), feeds);
  const fromHead = await runModel(withoutShape.head, { [layer.name]: floatTensor(tokens) });
  assert.ok(maxAbsDifference(fromHead.logits.data, expected.logits.data) <= TOLERANCE);
});

test('the head produces every output the split point dominates, and leaves out the split tensor itself', () => {
  const model = loadOnnxModel(fixtureBytes('vit_style.onnx'));
  const atBlock = splitAtTensor(model, '/blocks/blocks.1/Add_1_output_0');
  assert.deepEqual(atBlock.head.graph!.output.map((o) => o.name), ['logits', 'embedding']);
  const atEmbedding = splitAtTensor(model, 'embedding');
  assert.deepEqual(atEmbedding.head.graph!.output.map((o) => o.name), ['logits']);
  const forEmbedding = splitAtTensor(model, '/norm/LayerNormalization_output_0', { output: 'embedding' });
  assert.deepEqual(forEmbedding.head.graph!.output.map((o) => o.name), ['logits', 'embedding']);
  assert.throws(() => splitAtTensor(model, 'embedding', { output: 'embedding' }), /embedding is not a valid split point for output embedding: it is the output itself/);
});

test('a tensor inside a residual branch is refused, listing the valid split points around it', () => {
  const model = loadOnnxModel(fixtureBytes('convnext_style.onnx'));
  assert.throws(
    () => splitAtTensor(model, '/stage1/stage1.0/dwconv/Conv_output_0'),
    (error: unknown) => {
      assert.ok(error instanceof SplitPointError);
      assert.deepEqual(error.nearbySplitPoints, [
        '/stem/stem.1/Transpose_output_0',
        '/stem/stem.1/norm/LayerNormalization_output_0',
        '/stem/stem.1/Transpose_1_output_0',
        '/stage1/stage1.0/Add_output_0',
        '/stage1/stage1.1/Add_output_0',
        '/down/down.0/Transpose_output_0',
      ]);
      assert.match(error.message, /^\/stage1\/stage1\.0\/dwconv\/Conv_output_0 is not a valid split point for output logits: some path from the inputs to logits bypasses it/);
      assert.match(error.message, /Valid split points near it: \/stem\/stem\.1\/Transpose_output_0, .*\/down\/down\.0\/Transpose_output_0$/);
      return true;
    },
  );
  // Inside a ViT block: the attention branch is bypassed by the residual stream.
  const vit = loadOnnxModel(fixtureBytes('vit_style.onnx'));
  assert.throws(() => splitAtTensor(vit, '/blocks/blocks.1/attn/Softmax_output_0'), (error: unknown) =>
    error instanceof SplitPointError && error.nearbySplitPoints.includes('/blocks/blocks.1/Add_output_0') && error.nearbySplitPoints.includes('/blocks/blocks.0/Add_1_output_0'));
});

test('weights, constants, graph inputs and unknown names are refused with a reason', () => {
  const model = loadOnnxModel(fixtureBytes('convnext_style.onnx'));
  assert.throws(() => splitAtTensor(model, 'head.weight'), /head\.weight is not a valid split point for output logits: it is computed from weights and constants only/);
  assert.throws(() => splitAtTensor(model, 'norm.weight'), /computed from weights and constants only/);
  assert.throws(() => splitAtTensor(model, 'input'), (error: unknown) =>
    error instanceof SplitPointError && /it is a graph input/.test(error.message) && error.nearbySplitPoints[0] === '/stem/stem.0/Conv_output_0');
  assert.throws(() => splitAtTensor(model, '/stage1/stage1.9/Add_output_0'), (error: unknown) => {
    assert.ok(error instanceof Error && !(error instanceof SplitPointError));
    assert.equal(
      error.message,
      'no tensor named /stage1/stage1.9/Add_output_0; candidates: /stage1/stage1.0/Add_output_0, /stage1/stage1.1/Add_output_0, ' +
        '/stage2/stage2.0/Add_output_0, /stage2/stage2.1/Add_output_0 (14 split points in all; miru models inspect lists them)',
    );
    return true;
  });
  assert.throws(() => splitAtTensor(model, '/stem/stem.0/Conv_output_0', { output: 'probs' }), /no output named probs; its outputs are: logits/);
});

test('addGraphOutputs exposes tensors of any element type, copies the model and checks names', async () => {
  const model = loadOnnxModel(fixtureBytes('runnable_shape_if.onnx'));
  const exposed = addGraphOutputs(model, ['newshape', 'w2_rows', 'g', 'r', 'probs']);
  assert.deepEqual(exposed.graph!.output.map((o) => o.name), ['probs', 'newshape', 'w2_rows', 'g', 'r']);
  assert.equal(model.graph!.output.length, 1, 'the source model is left unchanged');
  // int64 outputs (a Shape computation) need their inferred type declared, or onnxruntime rejects the model.
  const session = await ort.InferenceSession.create(saveOnnxModel(exposed));
  const results = await session.run({ x: randomTensor([3, 4, 6], 9) });
  await session.release();
  assert.deepEqual(results.g.dims, [3, 4, 8]);
  assert.deepEqual(results.r.dims, [3, 4, 8]);
  assert.equal(results.newshape.type, 'int64');
  assert.deepEqual([...(results.newshape.data as BigInt64Array)], [-1n, 32n]);
  assert.deepEqual([...(results.w2_rows.data as BigInt64Array)], [32n]);
  assert.throws(() => addGraphOutputs(model, ['nope']), /no tensor named nope/);
});
