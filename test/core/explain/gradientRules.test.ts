import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkGradient, modelFrom } from '../../helpers/gradientCheck.js';
import type { GraphBuilder } from '../../../core/explain/graphBuilder.js';
import { OPERATORS_WITH_RULES } from '../../../core/explain/gradientRules.js';
import { SeededRandom } from '../../../core/synth/random.js';

interface Case {
  name: string;
  /** Operators the case exercises (every operator with a rule must appear in some case). */
  ops: string[];
  shape: number[];
  opset?: number;
  /** Inputs away from kinks and outside domains (Sqrt, Log): |x| in [0.2, 1.7] with this sign. */
  input?: 'positive' | 'away-from-zero' | ((r: SeededRandom) => number);
  build: (b: GraphBuilder, x: string) => string;
}

const weights = (seed: number, count: number) => {
  const r = new SeededRandom(seed);
  return Array.from({ length: count }, () => r.normal(0, 0.5));
};
// A per-channel tensor computed from x itself, so binary ops get a gradient through both operands and
// broadcasting (sum back over the broadcast axes) is exercised.
const channelMean = (b: GraphBuilder, x: string) => b.node('ReduceMean', [x], { axes: [0, 2], keepdims: 1 });

const CASES: Case[] = [
  { name: 'identity, dropout and cast', ops: ['Identity', 'Dropout', 'Cast'], shape: [2, 3], build: (b, x) => b.node('Cast', [b.node('Dropout', [b.node('Identity', [x])])], { to: 1 }) },
  { name: 'reshape, flatten, squeeze, unsqueeze', ops: ['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze'], shape: [2, 3, 4], build: (b, x) => b.node('Squeeze', [b.node('Unsqueeze', [b.node('Flatten', [b.reshape(x, [2, 4, 3])]), b.ints([1])]), b.ints([1])]) },
  { name: 'transpose', ops: ['Transpose'], shape: [2, 3, 4], build: (b, x) => b.transpose(x, [2, 0, 1]) },
  { name: 'expand', ops: ['Expand'], shape: [2, 1, 4], build: (b, x) => b.expand(x, [3, 2, 5, 4]) },
  { name: 'add and sub with broadcasting', ops: ['Add', 'Sub', 'ReduceMean'], shape: [2, 3, 4], build: (b, x) => b.sub(b.add(x, b.floats(weights(1, 4), [4])), b.mul(channelMean(b, x), b.floats(2))) },
  { name: 'mul with broadcasting, both operands from x', ops: ['Mul'], shape: [2, 3, 4], build: (b, x) => b.mul(x, channelMean(b, x)) },
  { name: 'div, both operands', ops: ['Div'], shape: [2, 3, 4], input: 'positive', build: (b, x) => b.div(x, b.add(channelMean(b, x), b.floats(0.5))) },
  { name: 'pow with constant exponents', ops: ['Pow'], shape: [2, 5], input: 'positive', build: (b, x) => b.add(b.node('Pow', [x, b.floats(3)]), b.node('Pow', [x, b.floats(0.5)])) },
  { name: 'pow with an int64 exponent', ops: ['Pow'], shape: [2, 5], build: (b, x) => b.node('Pow', [x, b.ints([2], [])]) },
  { name: 'sqrt, exp, log, reciprocal', ops: ['Sqrt', 'Exp', 'Log', 'Reciprocal'], shape: [2, 5], input: 'positive', build: (b, x) => b.add(b.add(b.node('Sqrt', [x]), b.node('Exp', [x])), b.add(b.node('Log', [x]), b.node('Reciprocal', [x]))) },
  { name: 'neg, abs, tanh, sigmoid', ops: ['Neg', 'Abs', 'Tanh', 'Sigmoid'], shape: [2, 6], input: 'away-from-zero', build: (b, x) => b.add(b.add(b.neg(b.node('Abs', [x])), b.node('Tanh', [x])), b.node('Sigmoid', [x])) },
  { name: 'relu and leaky relu', ops: ['Relu', 'LeakyRelu'], shape: [3, 6], input: 'away-from-zero', build: (b, x) => b.add(b.node('Relu', [x]), b.node('LeakyRelu', [x], { alpha: { float: 0.1 } })) },
  { name: 'erf (exact GELU as PyTorch exports it) and softplus', ops: ['Erf', 'Softplus'], shape: [2, 8], build: (b, x) => b.add(b.mul(b.scale(x, 0.5), b.add(b.floats(1), b.node('Erf', [b.scale(x, Math.SQRT1_2)]))), b.node('Softplus', [x])) },
  { name: 'gelu op (opset 20), exact and tanh', ops: ['Gelu'], shape: [2, 8], opset: 20, build: (b, x) => b.add(b.node('Gelu', [x]), b.node('Gelu', [x], { approximate: 'tanh' })) },
  // Inputs stay 0.1 away from the bounds +-1, where the derivative jumps.
  { name: 'clip with min and max inputs', ops: ['Clip'], shape: [3, 8], input: (r) => (r.bool() ? r.uniform(0.1, 0.9) : r.uniform(1.1, 1.7)) * (r.bool() ? 1 : -1), build: (b, x) => b.node('Clip', [x, b.floats(-1), b.floats(1)]) },
  { name: 'max and min of two tensors', ops: ['Max', 'Min'], shape: [2, 3, 4], build: (b, x) => b.add(b.node('Max', [x, b.floats(weights(2, 4), [4])]), b.node('Min', [x, b.scale(x, 0.3)])) },
  { name: 'where', ops: ['Where'], shape: [2, 6], input: 'away-from-zero', build: (b, x) => b.node('Where', [b.node('Greater', [x, b.floats(0)]), b.mul(x, x), b.scale(x, 3)]) },
  { name: 'softmax and log-softmax', ops: ['Softmax', 'LogSoftmax'], shape: [2, 3, 5], build: (b, x) => b.add(b.node('Softmax', [x], { axis: 1 }), b.node('LogSoftmax', [x], { axis: -1 })) },
  { name: 'matmul with a weight, batched', ops: ['MatMul'], shape: [2, 3, 4], build: (b, x) => b.node('MatMul', [x, b.floats(weights(3, 20), [4, 5])]) },
  { name: 'matmul of x with itself (attention scores)', ops: ['MatMul'], shape: [2, 3, 4], build: (b, x) => b.node('MatMul', [x, b.transpose(x, [0, 2, 1])]) },
  { name: 'matmul with vectors', ops: ['MatMul'], shape: [4], build: (b, x) => b.add(b.node('MatMul', [b.floats(weights(4, 12), [3, 4]), x]), b.node('MatMul', [x, b.floats(weights(5, 12), [4, 3])])) },
  { name: 'gemm with transposes and bias', ops: ['Gemm'], shape: [3, 4], build: (b, x) => b.node('Concat', [b.node('Flatten', [b.node('Gemm', [x, b.floats(weights(6, 20), [5, 4]), b.floats(weights(7, 5), [5])], { transB: 1, alpha: { float: 0.7 }, beta: { float: 1.3 } })], { axis: 0 }), b.node('Flatten', [b.node('Gemm', [x, x], { transA: 1 })], { axis: 0 })], { axis: 1 }) },
  { name: 'conv 3x3 pad 1 with bias', ops: ['Conv'], shape: [2, 3, 6, 6], build: (b, x) => b.node('Conv', [x, b.floats(weights(8, 4 * 3 * 9), [4, 3, 3, 3]), b.floats(weights(9, 4), [4])], { pads: [1, 1, 1, 1] }) },
  { name: 'conv stride 2 on an odd size (output padding)', ops: ['Conv'], shape: [1, 2, 7, 8], build: (b, x) => b.node('Conv', [x, b.floats(weights(10, 3 * 2 * 9), [3, 2, 3, 3])], { strides: [2, 2], pads: [1, 1, 1, 1] }) },
  { name: 'patchify conv (kernel = stride, as ViT and ConvNeXt stems)', ops: ['Conv'], shape: [1, 3, 8, 8], build: (b, x) => b.node('Conv', [x, b.floats(weights(11, 5 * 3 * 16), [5, 3, 4, 4])], { strides: [4, 4] }) },
  { name: 'depthwise 7x7 conv', ops: ['Conv'], shape: [1, 4, 9, 9], build: (b, x) => b.node('Conv', [x, b.floats(weights(12, 4 * 49), [4, 1, 7, 7])], { group: 4, pads: [3, 3, 3, 3] }) },
  { name: 'grouped, dilated conv', ops: ['Conv'], shape: [1, 4, 7, 7], build: (b, x) => b.node('Conv', [x, b.floats(weights(13, 6 * 2 * 9), [6, 2, 3, 3])], { group: 2, dilations: [2, 2], pads: [2, 1, 2, 1] }) },
  { name: 'strided conv with SAME_UPPER padding', ops: ['Conv'], shape: [1, 2, 7, 6], build: (b, x) => b.node('Conv', [x, b.floats(weights(17, 3 * 2 * 9), [3, 2, 3, 3])], { strides: [2, 2], auto_pad: 'SAME_UPPER' }) },
  { name: 'layer normalization op (opset 17)', ops: ['LayerNormalization'], shape: [2, 3, 6], opset: 17, build: (b, x) => b.node('LayerNormalization', [x, b.floats(weights(14, 6), [6]), b.floats(weights(15, 6), [6])], { axis: -1, epsilon: { float: 1e-5 } }) },
  { name: 'layer normalization over two axes', ops: ['LayerNormalization'], shape: [2, 3, 4], opset: 17, build: (b, x) => b.node('LayerNormalization', [x, b.floats(weights(16, 12), [3, 4])], { axis: 1 }) },
  {
    name: 'decomposed layer norm (opset 13 export)',
    ops: ['ReduceMean', 'Sub', 'Pow', 'Sqrt', 'Div'],
    shape: [2, 3, 6],
    opset: 13,
    build: (b, x) => {
      const mean = b.node('ReduceMean', [x], { axes: [-1], keepdims: 1 });
      const centred = b.sub(x, mean);
      const variance = b.node('ReduceMean', [b.node('Pow', [centred, b.floats(2)])], { axes: [-1], keepdims: 1 });
      return b.div(centred, b.node('Sqrt', [b.add(variance, b.floats(1e-6))]));
    },
  },
  { name: 'batch normalization (inference)', ops: ['BatchNormalization'], shape: [2, 3, 4, 4], build: (b, x) => b.node('BatchNormalization', [x, b.floats([1.5, -0.5, 2], [3]), b.floats([0.1, 0.2, 0.3], [3]), b.floats([0.5, -0.2, 0], [3]), b.floats([2, 0.5, 1], [3])]) },
  { name: 'reduce mean with axes as an input (opset 18), keepdims 0', ops: ['ReduceMean'], shape: [2, 3, 4], opset: 18, build: (b, x) => b.node('ReduceMean', [x, b.ints([1])], { keepdims: 0 }) },
  { name: 'reduce sum, l2 and max', ops: ['ReduceSum', 'ReduceL2', 'ReduceMax'], shape: [2, 3, 5], opset: 13, build: (b, x) => b.add(b.add(b.node('ReduceSum', [x, b.ints([2])], { keepdims: 1 }), b.node('ReduceL2', [x], { axes: [2], keepdims: 1 })), b.node('ReduceMax', [x], { axes: [2], keepdims: 1 })) },
  { name: 'global average pool', ops: ['GlobalAveragePool'], shape: [2, 3, 4, 5], build: (b, x) => b.node('GlobalAveragePool', [x]) },
  { name: 'slice with a negative start and axes', ops: ['Slice'], shape: [2, 5, 6], build: (b, x) => b.node('Slice', [x, b.ints([1, -4]), b.ints([4, 100]), b.ints([1, 2])]) },
  { name: 'slice with shape-computed ends (Shape -> Gather -> Slice)', ops: ['Slice', 'Shape'], shape: [2, 6], build: (b, x) => b.node('Slice', [x, b.ints([1]), b.node('Gather', [b.node('Shape', [x]), b.ints([1])], { axis: 0 }), b.ints([1])]) },
  { name: 'strided slices (patch merging: x[:, 0::2], x[:, 1::2])', ops: ['Slice'], shape: [2, 7, 6], build: (b, x) => b.node('Concat', [b.node('Slice', [x, b.ints([0, 0]), b.ints([6, 6]), b.ints([1, 2]), b.ints([2, 2])]), b.node('Slice', [x, b.ints([1, 1]), b.ints([7, 6]), b.ints([1, 2]), b.ints([2, 3])])], { axis: 2 }) },
  { name: 'constant pad', ops: ['Pad'], shape: [1, 2, 3, 4], build: (b, x) => b.node('Pad', [x, b.ints([0, 0, 1, 2, 0, 0, 2, 1]), b.floats(0.5)], { mode: 'constant' }) },
  { name: 'reversed and negatively strided slices (flips)', ops: ['Slice'], shape: [2, 7, 5], build: (b, x) => b.mul(b.node('Slice', [x, b.ints([-1, 5]), b.ints([-100, 0]), b.ints([2, 1]), b.ints([-1, -2])]), b.node('Slice', [x, b.ints([0, 6]), b.ints([5, -8]), b.ints([2, 1]), b.ints([1, -3])])) },
  { name: 'constant pad with negative pads (cropping), opset 18 axes', ops: ['Pad'], shape: [2, 5, 6], opset: 18, build: (b, x) => b.node('Pad', [x, b.ints([-1, 2, 1, -2]), b.floats(0), b.ints([1, 2])], { mode: 'constant' }) },
  { name: 'reflect pad (as padding_mode="reflect" convolutions export)', ops: ['Pad'], shape: [1, 2, 5, 4], build: (b, x) => b.node('Pad', [x, b.ints([0, 0, 2, 3, 0, 0, 4, 1])], { mode: 'reflect' }) },
  { name: 'edge pad', ops: ['Pad'], shape: [1, 2, 3, 4], build: (b, x) => b.node('Pad', [x, b.ints([0, 0, 2, 1, 0, 0, 1, 3])], { mode: 'edge' }) },
  { name: 'wrap pad (opset 19, circular padding)', ops: ['Pad'], shape: [1, 2, 3, 4], opset: 19, build: (b, x) => b.node('Pad', [x, b.ints([0, 0, 3, 1, 0, 0, 2, 4])], { mode: 'wrap' }) },
  { name: 'concat (rotate-half, as rotary embeddings)', ops: ['Concat', 'Slice', 'Neg'], shape: [2, 3, 8], build: (b, x) => b.node('Concat', [b.neg(b.node('Slice', [x, b.ints([4]), b.ints([8]), b.ints([2])])), b.node('Slice', [x, b.ints([0]), b.ints([4]), b.ints([2])])], { axis: -1 }) },
  { name: 'split with sizes (opset 13), one output unused', ops: ['Split'], shape: [2, 7], opset: 13, build: (b, x) => { const [first, , third] = b.nodeMulti('Split', [x, b.ints([2, 3, 2])], 3, { axis: 1 }); return b.node('Concat', [first!, b.mul(third!, third!)], { axis: 1 }); } },
  { name: 'split by num_outputs (opset 18)', ops: ['Split'], shape: [2, 6], opset: 18, build: (b, x) => { const [first, second] = b.nodeMulti('Split', [x], 2, { axis: 1, num_outputs: 2 }); return b.mul(first!, second!); } },
  { name: 'gather of a scalar index (CLS token)', ops: ['Gather'], shape: [2, 5, 3], build: (b, x) => b.node('Gather', [x, b.ints([0], [])], { axis: 1 }) },
  { name: 'gather with repeated and negative indices', ops: ['Gather'], shape: [4, 3], build: (b, x) => b.node('Gather', [x, b.ints([3, -1, 0, 3], [2, 2])], { axis: 0 }) },
];

for (const c of CASES) {
  test(`backward rule matches central differences: ${c.name}`, async () => {
    const model = modelFrom(c.shape, c.opset ?? 17, c.build);
    const input = typeof c.input === 'function' ? c.input : c.input === 'positive' ? (r: SeededRandom) => r.uniform(0.2, 1.7) : c.input === 'away-from-zero' ? (r: SeededRandom) => r.uniform(0.2, 1.7) * (r.bool() ? 1 : -1) : undefined;
    const { analytic, numeric } = await checkGradient(model, c.shape, { input, samples: 24 });
    const scale = Math.max(1, ...Array.from(numeric, Math.abs));
    for (let i = 0; i < numeric.length; i++) {
      assert.ok(Math.abs(analytic[i]! - numeric[i]!) <= 5e-3 * scale, `${c.name}: coordinate ${i}: backward graph ${analytic[i]}, central differences ${numeric[i]}`);
    }
    assert.ok(Array.from(analytic).some((v) => Math.abs(v) > 1e-4), `${c.name}: the gradient is all zeros, so the check proved nothing`);
  });
}

test('every operator with a rule has a numeric check', () => {
  const covered = new Set(CASES.flatMap((c) => c.ops));
  const unchecked = OPERATORS_WITH_RULES.filter((op) => !covered.has(op));
  assert.deepEqual(unchecked, []);
});

test('a Pad no rule covers (wrap wider than its axis) is reported by name, not differentiated wrongly', async () => {
  // The rule folds each border back once; a wrap pad wider than the axis would wrap more than once.
  const model = modelFrom([1, 1, 3, 3], 19, (b, x) => b.node('Pad', [x, b.ints([0, 0, 0, 4, 0, 0, 0, 0])], { mode: 'wrap' }));
  await assert.rejects(checkGradient(model, [1, 1, 3, 3]), /no gradient rule for Pad .*wrap pads of 4 on an axis of 3 have no rule \(at most 3\)/);
});
