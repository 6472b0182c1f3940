import { create } from '@bufbuild/protobuf';
import ort from 'onnxruntime-node';
import { GraphProtoSchema, ModelProtoSchema, OperatorSetIdProtoSchema, TensorProto_DataType, type ModelProto } from 'onnx-buf';
import { tensorValueInfo } from '../../core/models/onnx/tensorTypes.js';
import { GraphBuilder } from '../../core/explain/graphBuilder.js';
import { buildGradientModel } from '../../core/explain/gradientGraph.js';
import { probeInWorker } from '../../core/explain/probeRunner.js';
import { SeededRandom } from '../../core/synth/random.js';

/**
 * Builds a one-input model with GraphBuilder (the forward graph under test) so backward rules can be checked
 * against central differences of the same ONNX Runtime forward pass.
 */
export function modelFrom(inputShape: number[], opset: number, build: (b: GraphBuilder, x: string) => string): ModelProto {
  const graph = create(GraphProtoSchema, { name: 'case', input: [tensorValueInfo('x', TensorProto_DataType.FLOAT, inputShape)] });
  const b = new GraphBuilder(graph, opset, 'case');
  const out = build(b, 'x');
  graph.output.push(tensorValueInfo(out, TensorProto_DataType.FLOAT));
  return create(ModelProtoSchema, { irVersion: 8n, opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(opset) })], producerName: 'miru-tests', graph });
}

export interface GradientCheck {
  analytic: Float32Array;
  numeric: Float64Array;
  /** The coordinates checked (indices into the input). */
  coordinates: number[];
}

/**
 * The backward graph's gradient of sum(output * R) (R a fixed random tensor, so every output element matters
 * with a different weight) against central differences at `samples` random coordinates.
 */
export async function checkGradient(model: ModelProto, inputShape: number[], options: { seed?: number; samples?: number; eps?: number; input?: (r: SeededRandom) => number } = {}): Promise<GradientCheck> {
  const random = new SeededRandom(options.seed ?? 1);
  const output = model.graph!.output[0]!.name;
  const gradient = await buildGradientModel({
    model,
    inputDims: inputShape,
    wrt: ['x'],
    targetReads: output,
    probe: probeInWorker,
    appendTarget: (b, shapeOf) => {
      const shape = shapeOf(output);
      const count = shape.reduce((a, c) => a * c, 1);
      const weights = Array.from({ length: count }, () => random.uniform(0.5, 1.5) * (random.bool() ? 1 : -1));
      const weighted = b.mul(output, b.floats(weights, shape));
      const rest = shape.map((_, i) => i).slice(1);
      const summed = rest.length ? b.sumKeep(weighted, rest) : weighted;
      return b.reshape(summed, [shape[0] ?? 1]);
    },
  });
  const session = await ort.InferenceSession.create(gradient.bytes, { logSeverityLevel: 3 });
  const count = inputShape.reduce((a, c) => a * c, 1);
  const x = Float32Array.from({ length: count }, () => (options.input ? options.input(random) : random.normal(0, 1)));
  const run = async (data: Float32Array) => session.run({ x: new ort.Tensor('float32', data, inputShape) });
  const base = await run(x);
  const analytic = base[gradient.tensors[0]!.gradient]!.data as Float32Array;
  const eps = options.eps ?? 1e-2;
  const total = async (data: Float32Array) => {
    const t = (await run(data))[gradient.target]!.data as Float32Array;
    let s = 0;
    for (const v of t) s += v;
    return s;
  };
  const coordinates = Array.from({ length: Math.min(count, options.samples ?? 16) }, (_, i) => (count <= (options.samples ?? 16) ? i : random.int(0, count - 1)));
  const numeric = new Float64Array(coordinates.length);
  for (const [k, i] of coordinates.entries()) {
    const plus = Float32Array.from(x);
    plus[i] += eps;
    const minus = Float32Array.from(x);
    minus[i] -= eps;
    numeric[k] = ((await total(plus)) - (await total(minus))) / (2 * eps);
  }
  await session.release();
  return { analytic: Float32Array.from(coordinates, (i) => analytic[i]!), numeric, coordinates };
}
