import { create } from '@bufbuild/protobuf';
import { GraphProtoSchema, ModelProtoSchema, OperatorSetIdProtoSchema, TensorProto_DataType } from 'onnx-buf';
import { GraphBuilder } from '../../../core/explain/graphBuilder.js';
import { saveOnnxModel } from '../../../core/models/onnx/onnxModel.js';
import { tensorValueInfo } from '../../../core/models/onnx/tensorTypes.js';
import type { ModelCard } from '../../../core/models/modelCard.js';
import { SeededRandom } from '../../../core/synth/random.js';

/**
 * A TensorFlow-style export (WD v2 taggers): NHWC input, Transposes around a Conv, so the layer between them is
 * channels-last "feat_nhwc" [N, H, W, C]; "conv_nchw" holds the same values channels-first. A spatial weight in
 * the head makes gradients vary over positions, so every CAM has something to disagree about.
 */
export function channelsLastModel(size: number): { bytes: Uint8Array; card: ModelCard } {
  const random = new SeededRandom(11);
  const weights = (n: number) => Array.from({ length: n }, () => random.normal(0, 0.4));
  const graph = create(GraphProtoSchema, { name: 'nhwc', input: [tensorValueInfo('x', TensorProto_DataType.FLOAT, ['batch', size, size, 3])] });
  const b = new GraphBuilder(graph, 17, 'n');
  b.nodeNamed('conv_nchw', 'Conv', [b.transpose('x', [0, 3, 1, 2]), b.floats(weights(5 * 3 * 9), [5, 3, 3, 3])], { pads: [1, 1, 1, 1] });
  b.nodeNamed('feat_nhwc', 'Transpose', ['conv_nchw'], { perm: [0, 2, 3, 1] });
  const spatial = b.floats(weights(size * size).map((w) => 1 + w), [1, size, size, 1]);
  const pooled = b.node('ReduceMean', [b.node('Relu', [b.mul('feat_nhwc', spatial)])], { axes: [1, 2], keepdims: 0 });
  b.nodeNamed('score', 'Gemm', [pooled, b.floats(weights(5), [1, 5])], { transB: 1 });
  graph.output.push(tensorValueInfo('score', TensorProto_DataType.FLOAT, ['batch', 1]));
  const model = create(ModelProtoSchema, { irVersion: 8n, opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 17n })], graph });
  const card: ModelCard = {
    name: 'nhwc',
    input: { name: 'x', layout: 'NHWC', size: [size, size], channels: 'RGB', resize: 'stretch', pad: [255, 255, 255], interpolation: 'bilinear', scale: 255, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
    outputs: { score: { name: 'score', kind: 'scalar' } },
  };
  return { bytes: saveOnnxModel(model), card };
}

