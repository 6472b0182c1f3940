import { create } from '@bufbuild/protobuf';
import {
  AttributeProtoSchema,
  AttributeProto_AttributeType,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProtoSchema,
  TensorProto_DataType,
} from 'onnx-buf';
import { saveOnnxModel } from '../../core/models/onnx/onnxModel.js';
import { tensorValueInfo } from '../../core/models/onnx/tensorTypes.js';
import type { ModelCard } from '../../core/models/modelCard.js';

/**
 * Tiny ONNX models built in code, whose outputs are known in closed form, for tests of the scoring pipeline:
 * `mean` outputs each image's mean input value as a [N,1] score; `nan` outputs log(mean - offset), which is NaN
 * for every image whose mean is below the offset.
 */
export function meanScoreModel(options: { size: number; nanBelow?: number }): Uint8Array {
  const float = TensorProto_DataType.FLOAT;
  const nodes = [
    create(NodeProtoSchema, {
      opType: 'ReduceMean',
      input: ['x'],
      output: ['m'],
      attribute: [create(AttributeProtoSchema, { name: 'axes', type: AttributeProto_AttributeType.INTS, ints: [1n, 2n, 3n] }), create(AttributeProtoSchema, { name: 'keepdims', type: AttributeProto_AttributeType.INT, i: 1n })],
    }),
    create(NodeProtoSchema, { opType: 'Flatten', input: ['m'], output: [options.nanBelow === undefined ? 'score' : 'flat'] }),
  ];
  const initializer = [];
  if (options.nanBelow !== undefined) {
    initializer.push(create(TensorProtoSchema, { name: 'offset', dataType: float, dims: [], floatData: [options.nanBelow] }));
    nodes.push(create(NodeProtoSchema, { opType: 'Sub', input: ['flat', 'offset'], output: ['shifted'] }));
    nodes.push(create(NodeProtoSchema, { opType: 'Log', input: ['shifted'], output: ['score'] }));
  }
  const graph = create(GraphProtoSchema, {
    name: 'mean_score',
    node: nodes,
    initializer,
    input: [tensorValueInfo('x', float, ['batch', 3, options.size, options.size])],
    output: [tensorValueInfo('score', float, ['batch', 1])],
  });
  return saveOnnxModel(create(ModelProtoSchema, { irVersion: 8n, opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 13n })], producerName: 'miru-tests', graph }));
}

/** A card for `meanScoreModel`: pixels scaled to 0..1, so the score is the image's mean RGB value / 255. */
export function meanScoreCard(name: string, size: number): ModelCard {
  return {
    name,
    input: { name: 'x', layout: 'NCHW', size: [size, size], channels: 'RGB', resize: 'stretch', pad: [255, 255, 255], interpolation: 'bilinear', scale: 255, mean: [0, 0, 0], std: [1, 1, 1] },
    outputs: { score: { name: 'score', kind: 'scalar' } },
  };
}
