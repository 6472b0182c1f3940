import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { inspectModel, type ModelInfo } from '../../../../core/models/onnx/inspectModel.js';
import { loadOnnxModel, saveOnnxModel, OnnxLoadError } from '../../../../core/models/onnx/onnxModel.js';
import { fixtureBytes } from './onnxTestSupport.js';
import { residualMlp } from './syntheticModels.js';

const shapeOf = (info: ModelInfo, name: string) => info.layers.find((layer) => layer.name === name)?.shape;

/**
 * Wall and CPU milliseconds of `work`. Budgets are checked on CPU time (this process, all threads) so other
 * jobs on a busy machine cannot fail the test; wall time goes in the message.
 */
async function timed<T>(work: () => Promise<T>): Promise<{ result: T; wallMs: number; cpuMs: number }> {
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const result = await work();
  const cpu = process.cpuUsage(cpuBefore);
  return { result, wallMs: performance.now() - started, cpuMs: (cpu.user + cpu.system) / 1000 };
}

test('the ConvNeXt-style CNN: inputs, outputs, opsets, operators, weights and spatial then vector layers', async () => {
  const info = await inspectModel(fixtureBytes('convnext_style.onnx'));
  assert.equal(info.irVersion, 8);
  assert.deepEqual(info.opsets, { 'ai.onnx': 17 });
  assert.match(info.producer, /^pytorch/);
  assert.deepEqual(info.inputs, [{ name: 'input', shape: ['batch', 3, 32, 32], type: 'float32' }]);
  assert.deepEqual(info.outputs, [{ name: 'logits', shape: ['batch', 7], type: 'float32' }]);
  assert.equal(info.operators.Conv, 6); // stem, 4 depthwise 7x7, downsampling
  assert.equal(info.operators.LayerNormalization, 7);
  assert.equal(info.operators.Erf, 4); // GELU, one per block
  // Parameters: 27,999 float32 values (see the fixture script's TinyConvNeXt).
  assert.ok(info.initializerBytes > 100_000 && info.initializerBytes < 130_000, `${info.initializerBytes}`);

  const names = info.layers.map((layer) => layer.name);
  assert.deepEqual(info.layers[0], { name: '/stem/stem.0/Conv_output_0', shape: ['batch', 16, 8, 8], kind: 'spatial', op: 'Conv' });
  assert.deepEqual(shapeOf(info, '/stage1/stage1.1/Add_output_0'), ['batch', 16, 8, 8]);
  assert.deepEqual(shapeOf(info, '/down/down.1/Conv_output_0'), ['batch', 32, 4, 4]);
  assert.deepEqual(shapeOf(info, '/stage2/stage2.1/Add_output_0'), ['batch', 32, 4, 4]);
  assert.deepEqual(info.layers.at(-1), { name: '/norm/LayerNormalization_output_0', shape: ['batch', 32], kind: 'vector', op: 'LayerNormalization' });
  // Residual blocks: only the block boundaries are split points, nothing inside a branch.
  assert.ok(!names.some((name) => /stage\d\.\d\/(dwconv|pwconv|act|norm|Mul)/.test(name)), names.join('\n'));
  assert.ok(!names.includes('input') && !names.includes('logits'));
  // Kinds follow rank, and the list runs from input to output.
  assert.ok(info.layers.every((layer) => layer.kind === (layer.shape.length === 4 ? 'spatial' : 'vector')));
  assert.ok(names.indexOf('/stage1/stage1.0/Add_output_0') < names.indexOf('/stage1/stage1.1/Add_output_0'));
  assert.ok(names.indexOf('/stage1/stage1.1/Add_output_0') < names.indexOf('/stage2/stage2.0/Add_output_0'));
});

test('the ViT-style model: token layers from patch embedding to the final norm, then the CLS embedding', async () => {
  const info = await inspectModel(fixtureBytes('vit_style.onnx'));
  assert.deepEqual(info.outputs.map((output) => output.name), ['logits', 'embedding']);
  const tokens = info.layers.filter((layer) => layer.kind === 'tokens');
  assert.ok(tokens.length >= 6, JSON.stringify(info.layers));
  for (const name of ['/Concat_2_output_0', '/Add_output_0', '/blocks/blocks.0/Add_output_0', '/blocks/blocks.0/Add_1_output_0', '/blocks/blocks.1/Add_1_output_0', '/norm/LayerNormalization_output_0']) {
    assert.deepEqual(shapeOf(info, name), ['batch', 17, 32], name); // 16 patches + CLS, 32 features
  }
  assert.deepEqual(shapeOf(info, '/Transpose_output_0'), ['batch', 16, 32]); // patches before the CLS token joins
  // The patch grid before that Transpose is channels-first (N, C, L): not a token sequence explain could read.
  assert.deepEqual(info.layers.find((layer) => layer.name === '/Reshape_output_0'), { name: '/Reshape_output_0', shape: ['batch', 32, 16], kind: 'other', op: 'Reshape' });
  assert.deepEqual(info.layers[0], { name: '/patch_embed/Conv_output_0', shape: ['batch', 32, 4, 4], kind: 'spatial', op: 'Conv' });
  assert.deepEqual(info.layers.at(-1), { name: 'embedding', shape: ['batch', 32], kind: 'vector', op: 'Gather' });
  // Inside a block the attention and MLP branches are bypassed by the residual stream.
  assert.ok(!info.layers.some((layer) => /attn|mlp|norm1|norm2/.test(layer.name)));
  // The CLS expand reads Shape(patches): the patch tokens stay a split point because that read is after them.
  assert.ok(info.layers.some((layer) => layer.name === '/Transpose_output_0'));
});

test('layers follow the chosen output', async () => {
  const logits = await inspectModel(fixtureBytes('vit_style.onnx'));
  const embedding = await inspectModel(fixtureBytes('vit_style.onnx'), { output: 'embedding' });
  assert.deepEqual(embedding.layers.map((l) => l.name), logits.layers.map((l) => l.name).slice(0, -1));
  await assert.rejects(inspectModel(fixtureBytes('vit_style.onnx'), { output: 'nope' }), /no output named nope; its outputs are: logits, embedding/);
});

test('initializers listed as graph inputs (old exporters) are not reported as inputs', async () => {
  const info = await inspectModel(fixtureBytes('mlp_torch_opset13.onnx'));
  assert.equal(info.irVersion, 7);
  assert.deepEqual(info.inputs, [{ name: 'input', shape: ['batch', 8], type: 'float32' }]);
  assert.deepEqual(info.layers.map((l) => [l.op, l.shape, l.kind]), [
    ['Gemm', ['batch', 16], 'vector'],
    ['Relu', ['batch', 16], 'vector'],
    ['Gemm', ['batch', 3], 'vector'],
  ]);
});

test('constant subgraphs, Constant nodes and residual branches are never split points; If outputs are', async () => {
  const info = await inspectModel(fixtureBytes('runnable_shape_if.onnx'));
  assert.deepEqual(info.layers.map((l) => l.name), ['h0', 'h', 'a', 's', 'g', 'flat', 'y']);
  assert.deepEqual(shapeOf(info, 'g'), ['batch', 4, 8]);
  assert.deepEqual(shapeOf(info, 'flat'), ['batch', 32]);
  assert.equal(info.layers.find((l) => l.name === 'g')?.op, 'If');
  assert.equal(info.operators.If, 1);
  assert.equal(info.operators.Mul, 1); // counted inside the If's then-branch
  assert.equal(info.shapeProblem, undefined);
});

test('declared shapes are used as they are and custom domains are prefixed', async () => {
  const info = await inspectModel(fixtureBytes('handbuilt_ir10_opset21.onnx'));
  assert.equal(info.irVersion, 10);
  assert.deepEqual(info.opsets, { 'ai.onnx': 21, 'com.miru.test': 1, 'com.microsoft': 1 });
  assert.equal(info.operators['com.miru.test.CustomEverything'], 1);
  assert.deepEqual(info.inputs, [{ name: 'x', shape: ['batch', 3, 'height', 'width'], type: 'float32' }]);
  assert.deepEqual(info.outputs, [
    { name: 'y', shape: ['batch', '?', 4], type: 'float32' },
    { name: 'seq', shape: [], type: 'sequence<int64>' },
  ]);
  assert.deepEqual(info.layers, [{ name: 'r', shape: ['batch', 3, 'height', 'width'], kind: 'spatial', op: 'Relu' }]);
});

test('a model onnxruntime cannot run still inspects, with the shape problem reported', async () => {
  const model = loadOnnxModel(fixtureBytes('handbuilt_ir10_opset21.onnx'));
  model.graph!.valueInfo = []; // without declared shapes the probe run is needed, and the custom op cannot run
  const info = await inspectModel(saveOnnxModel(model));
  assert.deepEqual(info.layers, [{ name: 'r', shape: [], kind: 'other', op: 'Relu' }]);
  assert.match(info.shapeProblem ?? '', /^could not measure layer shapes by running the model once on a zero input: .*CustomEverything/);
});

test('inspect refuses a file that is not ONNX with the load error', async () => {
  await assert.rejects(inspectModel(new TextEncoder().encode('not a model'), { sourceName: 'notes.txt' }), (error: unknown) =>
    error instanceof OnnxLoadError && error.problem === 'not-onnx' && error.message.startsWith('notes.txt is not an ONNX model'));
});

test('inspecting a 30 MB model takes well under a few seconds', async () => {
  // 120 residual blocks of 256x256 float weights (31.6 MB), no value_info: layer shapes need the probe run.
  const bytes = saveOnnxModel(residualMlp(120, 256));
  assert.ok(bytes.length > 30_000_000);
  const { result: info, wallMs, cpuMs } = await timed(() => inspectModel(bytes));
  assert.equal(info.layers.length, 120);
  assert.deepEqual(info.layers.at(-1), { name: 'block119.out', shape: ['batch', 256], kind: 'vector', op: 'Add' });
  assert.ok(cpuMs < 2500, `inspect took ${cpuMs.toFixed(0)} ms of CPU (${wallMs.toFixed(0)} ms wall)`);
});

test('the graph analysis stays linear: 11,400 nodes and 32 MB of weights in well under a few seconds', async () => {
  // Shapes declared, so this times Miru's own work (decode, index, dominators) without an onnxruntime session.
  const bytes = saveOnnxModel(residualMlp(1900, 64, { declareShapes: true }));
  const { result: info, wallMs, cpuMs } = await timed(() => inspectModel(bytes));
  assert.equal(info.layers.length, 1900);
  assert.equal(info.operators.Shape, 1900);
  assert.ok(cpuMs < 1500, `inspect took ${cpuMs.toFixed(0)} ms of CPU (${wallMs.toFixed(0)} ms wall)`);
});
