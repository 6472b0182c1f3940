import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { create } from '@bufbuild/protobuf';
import { GraphProtoSchema, ModelProtoSchema, OperatorSetIdProtoSchema, TensorProto_DataType } from 'onnx-buf';
import { GraphBuilder } from '../../../core/explain/graphBuilder.js';
import { saveOnnxModel } from '../../../core/models/onnx/onnxModel.js';
import { tensorValueInfo } from '../../../core/models/onnx/tensorTypes.js';
import type { ModelCard } from '../../../core/models/modelCard.js';
import { SeededRandom } from '../../../core/synth/random.js';

/**
 * x -> Conv 3x3 (4 channels) = "feat" -> HardSigmoid (no backward rule) = "hard" -> GlobalAveragePool -> Flatten
 * = "pooled" -> Gemm -> score. Gradient CAMs at "feat" must fall back (Grad-CAM) or refuse (HiResCAM) with the
 * operator named; at "hard" only rule-covered operators follow, so they run on the backward graph. With
 * `negative`, every Gemm weight is below zero: HardSigmoid's output is >= 0, so Grad-CAM at "hard" has no
 * positive evidence anywhere (an empty map).
 */
export function modelWithoutRule(size: number, options: { negative?: boolean } = {}): { bytes: Uint8Array; card: ModelCard } {
  const random = new SeededRandom(5);
  const weights = (n: number) => Array.from({ length: n }, () => random.normal(0, 0.3));
  const graph = create(GraphProtoSchema, { name: 'no-rule', input: [tensorValueInfo('x', TensorProto_DataType.FLOAT, ['batch', 3, size, size])] });
  const b = new GraphBuilder(graph, 17, 'm');
  b.nodeNamed('feat', 'Conv', ['x', b.floats(weights(4 * 3 * 9), [4, 3, 3, 3])], { pads: [1, 1, 1, 1] });
  b.nodeNamed('hard', 'HardSigmoid', ['feat'], { alpha: { float: 0.2 }, beta: { float: 0.5 } });
  b.nodeNamed('pooled', 'Flatten', [b.node('GlobalAveragePool', ['hard'])]);
  const head = weights(4).map((w) => (options.negative ? -Math.abs(w) - 0.1 : w));
  b.nodeNamed('score', 'Gemm', ['pooled', b.floats(head, [1, 4])], { transB: 1 });
  graph.output.push(tensorValueInfo('score', TensorProto_DataType.FLOAT, ['batch', 1]));
  const model = create(ModelProtoSchema, { irVersion: 8n, opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 17n })], graph });
  const card: ModelCard = {
    name: options.negative ? 'no-rule-negative' : 'no-rule',
    input: { name: 'x', layout: 'NCHW', size: [size, size], channels: 'RGB', resize: 'stretch', pad: [255, 255, 255], interpolation: 'bilinear', scale: 255, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
    outputs: { score: { name: 'score', kind: 'scalar' } },
    saliency: { layer: 'feat' },
  };
  return { bytes: saveOnnxModel(model), card };
}

/** The model and its card as files in `dir` (<name>.onnx beside <name>.card.json), for CLI tests. */
export function writeModelWithoutRule(dir: string, size: number, options: { negative?: boolean } = {}): { model: string; card: string; name: string } {
  const { bytes, card } = modelWithoutRule(size, options);
  const model = path.join(dir, `${card.name}.onnx`);
  const cardFile = path.join(dir, `${card.name}.card.json`);
  writeFileSync(model, bytes);
  writeFileSync(cardFile, JSON.stringify(card));
  return { model, card: cardFile, name: card.name };
}
