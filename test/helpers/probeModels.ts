import { meanScoreCard } from './tinyModels.js';
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
  type NodeProto,
  type TensorProto,
} from 'onnx-buf';
import { saveOnnxModel } from '../../core/models/onnx/onnxModel.js';
import { tensorValueInfo } from '../../core/models/onnx/tensorTypes.js';
import type { ModelCard } from '../../core/models/modelCard.js';

/**
 * Tiny code-built ONNX models for sensitivity probes, each with a closed-form score over an NCHW input x of
 * size x size with values p / 255 (see probeCard):
 * - chroma:    mean over pixels of max(R,G,B) - min(R,G,B) (HSV chroma): a saturation model.
 * - position:  mean of x * w with w[y][x] = (x + 2y) / (3 (size - 1)): depends on where content sits (structure).
 * - texture:   mean of |x[..., j + 1] - x[..., j]| over horizontal neighbours: depends on local detail only.
 * (meanScoreModel in tinyModels.ts is the global mean: blind to both structure and texture.)
 */
export type ProbeModelKind = 'chroma' | 'position' | 'texture';

const FLOAT = TensorProto_DataType.FLOAT;
const INT64 = TensorProto_DataType.INT64;

function ints(name: string, values: number[]) {
  return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INTS, ints: values.map(BigInt) });
}
function int(name: string, value: number) {
  return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INT, i: BigInt(value) });
}
function node(opType: string, input: string[], output: string[], attribute: ReturnType<typeof int>[] = []): NodeProto {
  return create(NodeProtoSchema, { opType, input, output, attribute });
}
function int64Tensor(name: string, values: number[]): TensorProto {
  return create(TensorProtoSchema, { name, dataType: INT64, dims: [BigInt(values.length)], int64Data: values.map(BigInt) });
}

export function probeModel(kind: ProbeModelKind, size: number): Uint8Array {
  const nodes: NodeProto[] = [];
  const initializer: TensorProto[] = [];
  const meanAll = (input: string) => {
    nodes.push(node('ReduceMean', [input], ['m'], [ints('axes', [1, 2, 3]), int('keepdims', 1)]));
    nodes.push(node('Flatten', ['m'], ['score']));
  };
  if (kind === 'chroma') {
    nodes.push(node('ReduceMax', ['x'], ['hi'], [ints('axes', [1]), int('keepdims', 1)]));
    nodes.push(node('ReduceMin', ['x'], ['lo'], [ints('axes', [1]), int('keepdims', 1)]));
    nodes.push(node('Sub', ['hi', 'lo'], ['chroma']));
    meanAll('chroma');
  } else if (kind === 'position') {
    const w: number[] = [];
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) w.push((x + 2 * y) / (3 * (size - 1)));
    initializer.push(create(TensorProtoSchema, { name: 'w', dataType: FLOAT, dims: [1n, 1n, BigInt(size), BigInt(size)], floatData: w }));
    nodes.push(node('Mul', ['x', 'w'], ['weighted']));
    meanAll('weighted');
  } else {
    initializer.push(int64Tensor('axis', [3]), int64Tensor('zero', [0]), int64Tensor('one', [1]), int64Tensor('last', [size - 1]), int64Tensor('end', [size]));
    nodes.push(node('Slice', ['x', 'zero', 'last', 'axis'], ['left']));
    nodes.push(node('Slice', ['x', 'one', 'end', 'axis'], ['right']));
    nodes.push(node('Sub', ['right', 'left'], ['dx']));
    nodes.push(node('Abs', ['dx'], ['adx']));
    meanAll('adx');
  }
  const graph = create(GraphProtoSchema, {
    name: `${kind}_score`,
    node: nodes,
    initializer,
    input: [tensorValueInfo('x', FLOAT, ['batch', 3, size, size])],
    output: [tensorValueInfo('score', FLOAT, ['batch', 1])],
  });
  return saveOnnxModel(create(ModelProtoSchema, { irVersion: 8n, opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 13n })], producerName: 'miru-tests', graph }));
}

/** The card of every probe model: meanScoreModel's (RGB 0..1, stretched to size x size, scalar score). */
export const probeCard = meanScoreCard;
