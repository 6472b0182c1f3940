/**
 * Shapes of intermediate tensors the graph does not declare, found by running the model once in ONNX Runtime
 * on a zero input with those tensors added as outputs. Cheaper and more robust than reimplementing shape
 * inference for every operator: whatever ONNX Runtime can run, this can measure.
 */
import { clone, create } from '@bufbuild/protobuf';
import ort from 'onnxruntime-node';
import { ModelProtoSchema, ValueInfoProtoSchema, type ModelProto, type ValueInfoProto } from 'onnx-buf';
import { elementTypeName } from './elementTypes.js';
import { saveOnnxModel } from './onnxModel.js';
import { elementTypeOf, shapeOf, type Dimension } from './tensorTypes.js';

/** Size used for a symbolic or unknown spatial dimension of an image input (rank 4) when probing. */
const PROBE_IMAGE_SIDE = 224;

/**
 * Concrete shapes of `tensors` for a dummy feed where every symbolic batch (first) dimension is 1.
 * `inputs` are the graph inputs a caller must feed (initializers excluded).
 */
export async function probeTensorShapes(
  model: ModelProto,
  inputs: readonly ValueInfoProto[],
  tensors: readonly string[],
): Promise<Map<string, number[]>> {
  const shapes = new Map<string, number[]>();
  if (tensors.length === 0) return shapes;
  const probeModel = clone(ModelProtoSchema, model);
  const outputs = probeModel.graph?.output ?? [];
  const present = new Set(outputs.map((output) => output.name));
  // Name-only outputs: ONNX Runtime infers their types itself, so a wrong guess of ours cannot break the run
  // (it rejects a declared float output that really is int64). addGraphOutputs must declare types; this need not.
  for (const name of tensors) if (!present.has(name)) outputs.push(create(ValueInfoProtoSchema, { name }));
  const session = await ort.InferenceSession.create(saveOnnxModel(probeModel), {
    // One run only: 'basic' (constant folding, dead node removal) makes session creation faster on shape-heavy
    // graphs, while higher levels' fusions and layout changes cost more than a single run saves. Probed
    // tensors are graph outputs, so no optimisation can remove them.
    graphOptimizationLevel: 'basic',
    logSeverityLevel: 3,
  });
  try {
    const feeds: Record<string, ort.Tensor> = {};
    for (const input of inputs) feeds[input.name] = zeroTensor(input);
    const results = await session.run(feeds, [...tensors]);
    for (const name of tensors) {
      const result = results[name];
      if (result !== undefined) shapes.set(name, [...result.dims]);
      result?.dispose();
    }
  } finally {
    await session.release();
  }
  return shapes;
}

/** The shape probing feeds for an input: symbolic batch 1, symbolic image sides PROBE_IMAGE_SIDE, other unknowns 1. */
export function probeInputShape(input: ValueInfoProto): number[] {
  const shape = shapeOf(input);
  if (shape === undefined) throw new Error(`input ${input.name} declares no shape, so no probe input can be built for it`);
  const channelsLast = shape.length === 4 && isChannelCount(shape[3]) && !isChannelCount(shape[1]);
  return shape.map((dim, axis) => {
    if (typeof dim === 'number' && dim >= 0) return dim;
    if (axis === 0 || shape.length !== 4) return 1;
    const spatial = channelsLast ? axis === 1 || axis === 2 : axis === 2 || axis === 3;
    return spatial ? PROBE_IMAGE_SIDE : 3;
  });
}

function isChannelCount(dim: Dimension): boolean {
  return dim === 1 || dim === 3 || dim === 4;
}

function zeroTensor(input: ValueInfoProto): ort.Tensor {
  const dims = probeInputShape(input);
  const count = dims.reduce((a, b) => a * b, 1);
  const type = elementTypeName(elementTypeOf(input) ?? 0);
  switch (type) {
    case 'float32': return new ort.Tensor('float32', new Float32Array(count), dims);
    case 'float64': return new ort.Tensor('float64', new Float64Array(count), dims);
    case 'float16': return new ort.Tensor('float16', new Uint16Array(count), dims);
    case 'int8': return new ort.Tensor('int8', new Int8Array(count), dims);
    case 'uint8': return new ort.Tensor('uint8', new Uint8Array(count), dims);
    case 'int16': return new ort.Tensor('int16', new Int16Array(count), dims);
    case 'uint16': return new ort.Tensor('uint16', new Uint16Array(count), dims);
    case 'int32': return new ort.Tensor('int32', new Int32Array(count), dims);
    case 'uint32': return new ort.Tensor('uint32', new Uint32Array(count), dims);
    case 'int64': return new ort.Tensor('int64', new BigInt64Array(count), dims);
    case 'uint64': return new ort.Tensor('uint64', new BigUint64Array(count), dims);
    case 'bool': return new ort.Tensor('bool', new Uint8Array(count), dims);
    case 'string': return new ort.Tensor('string', new Array<string>(count).fill(''), dims);
    default: throw new Error(`input ${input.name} has element type ${type}, which a probe input cannot be made of`);
  }
}
