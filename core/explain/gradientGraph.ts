/**
 * Backward graphs for ONNX models (DESIGN.md "Explaining ONNX models without PyTorch"). ONNX Runtime cannot
 * differentiate, so Miru writes the derivative as more ONNX: the model, plus nodes for a scalar target per
 * image (explainTargets.ts), plus, walking the graph backwards from that target, each operator's
 * vector-Jacobian rule (gradientRules.ts). One run of the result gives the target, the tensors asked about and
 * the target's gradient with respect to them, on whatever execution provider runs the forward pass.
 *
 * Only the nodes between the differentiated tensors and the target get rules; the backbone in front of a
 * Grad-CAM layer runs forward only. The graph is built for one concrete input shape: every tensor the rules
 * touch is measured by one probe run, so the rules deal in constants rather than shape arithmetic.
 */
import { clone, create } from '@bufbuild/protobuf';
import {
  ModelProtoSchema,
  TensorProto_DataType as DataType,
  ValueInfoProtoSchema,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
} from 'onnx-buf';
import { indexGraph, qualifiedOpType } from '../models/onnx/graphIndex.js';
import { saveOnnxModel } from '../models/onnx/onnxModel.js';
import { inferElementTypes, tensorValueInfo } from '../models/onnx/tensorTypes.js';
import type { Feeds } from '../models/inferenceMessages.js';
import { GraphBuilder } from './graphBuilder.js';
import { ExplainSetupError } from './explainTypes.js';
import { gradientRule, isNotDifferentiable, UnsupportedNodeError, type RuleContext } from './gradientRules.js';

const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, DataType.BFLOAT16]);
/** Oldest opset the rules are written for (Softmax's single-axis semantics, ReduceSum's axes input). */
export const MIN_GRADIENT_OPSET = 13;

/** Operators on the differentiated path that have no rule (or a configuration no rule handles). */
export class MissingGradientRulesError extends ExplainSetupError {
  override readonly name = 'MissingGradientRulesError';
  constructor(readonly operators: { opType: string; node: string; reason?: string }[]) {
    const types = [...new Set(operators.map((o) => o.opType))];
    const example = operators[0]!;
    super(
      `no gradient rule for ${types.join(', ')} (e.g. node ${example.node}${example.reason ? `: ${example.reason}` : ''}); ` +
        'gradient methods need a rule for every operator between the layer and the output',
    );
  }
}

/** Runs a model once (in a worker) and returns the named outputs; how buildGradientModel measures tensors. */
export type ProbeRunner = (model: Uint8Array, feeds: Feeds, outputs: string[]) => Promise<Feeds>;

export interface GradientModelRequest {
  model: ModelProto;
  /** Concrete shape of the model's single image input, batch included. */
  inputDims: number[];
  /** Tensors to differentiate with respect to: a split-point layer, or the input itself. */
  wrt: string[];
  /** Appends the target nodes (one value per image) and returns the target tensor's name. */
  appendTarget: (b: GraphBuilder, outputShape: (name: string) => number[]) => string;
  /** The output the target reads: its shape is measured before the target nodes are built. */
  targetReads: string;
  probe: ProbeRunner;
}

export interface GradientModel {
  /** The serialized model: input as the original, outputs [target, ...wrt, ...gradients]. */
  bytes: Uint8Array;
  inputName: string;
  target: string;
  /** For each wrt tensor: its name (an output now) and its gradient's output name. */
  tensors: { name: string; gradient: string; shape: number[] }[];
}

export function defaultOpset(model: ModelProto): number {
  const entry = model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  return entry ? Number(entry.version) : 1;
}

/**
 * Which nodes a backward pass from `target` to `wrt` must differentiate (those that read a tensor carrying a
 * gradient and write one), and the tensors that carry a gradient: those reachable from `wrt` through
 * float-valued outputs that the target depends on.
 */
export function differentiatedPath(graph: GraphProto, wrt: readonly string[], target: string): { nodes: number[]; carries: Set<string> } {
  const index = indexGraph(graph);
  const types = inferElementTypes(index);
  const isFloat = (name: string) => FLOAT_TYPES.has(types.get(name) ?? DataType.FLOAT);
  const forward = new Set<string>(wrt);
  for (const nodeIndex of index.topologicalOrder) {
    const node = graph.node[nodeIndex]!;
    if (isNotDifferentiable(node) || !index.nodeInputs[nodeIndex]!.some((name) => forward.has(name))) continue;
    for (const output of node.output) if (output !== '' && isFloat(output)) forward.add(output);
  }
  const backward = new Set<string>([target]);
  for (let i = index.topologicalOrder.length - 1; i >= 0; i--) {
    const nodeIndex = index.topologicalOrder[i]!;
    if (graph.node[nodeIndex]!.output.some((o) => backward.has(o))) for (const input of index.nodeInputs[nodeIndex]!) backward.add(input);
  }
  const carries = new Set([...forward].filter((name) => backward.has(name)));
  // Strictly downstream of `wrt`: a node must also read a carried tensor. The producer of a wrt tensor (a
  // HardSigmoid making the chosen layer, say) is backbone: the gradient stops at its output and needs no rule.
  const nodes = index.topologicalOrder.filter((nodeIndex) =>
    graph.node[nodeIndex]!.output.some((o) => carries.has(o)) && index.nodeInputs[nodeIndex]!.some((name) => carries.has(name)));
  return { nodes, carries };
}

/** Operators on the path from `wrt` to `output` without a gradient rule (for `miru models inspect`). */
export function missingGradientRules(model: ModelProto, wrt: readonly string[], output: string): string[] {
  const graph = model.graph!;
  const { nodes } = differentiatedPath(graph, wrt, output);
  return [...new Set(nodes.map((n) => graph.node[n]!).filter((node) => !gradientRule(node)).map(qualifiedOpType))].sort();
}

export async function buildGradientModel(request: GradientModelRequest): Promise<GradientModel> {
  const model = clone(ModelProtoSchema, request.model);
  const graph = model.graph!;
  const opset = defaultOpset(model);
  if (opset < MIN_GRADIENT_OPSET) {
    throw new ExplainSetupError(`the model imports opset ${opset}; gradient methods need opset ${MIN_GRADIENT_OPSET} or later (re-export it, or use a forward-only method: ablationcam, scorecam, eigencam, occlusion, rise)`);
  }
  const inputName = indexGraph(graph).realInputs[0]!;
  const feeds = (): Feeds => ({ [inputName]: { type: 'float32', data: new Float32Array(request.inputDims.reduce((a, b) => a * b, 1)), dims: request.inputDims } });

  // 1. The target, built on the measured shape of the output it reads.
  const outputProbe = await request.probe(withOutputs(model, [request.targetReads]), feeds(), [request.targetReads]);
  const b = new GraphBuilder(graph, opset);
  const target = request.appendTarget(b, (name) => {
    const t = outputProbe[name];
    if (!t) throw new Error(`internal: ${name} was not measured`);
    return t.dims;
  });

  // 2. The path, and a rule for every node on it.
  const { nodes, carries } = differentiatedPath(graph, request.wrt, target);
  for (const name of request.wrt) {
    if (!carries.has(name)) throw new ExplainSetupError(`the target does not depend on ${name}, so its gradient is zero everywhere; choose a layer between the input and the score output`);
  }
  const missing = nodes.map((n) => graph.node[n]!).filter((node) => !gradientRule(node));
  if (missing.length) throw new MissingGradientRulesError(missing.map((node) => ({ opType: qualifiedOpType(node), node: node.name || node.output[0]! })));

  // 3. One probe run measures every tensor the rules read or write, and the values of small integer inputs.
  const touched = new Set<string>([target]);
  for (const n of nodes) for (const name of [...graph.node[n]!.input, ...graph.node[n]!.output]) if (name !== '') touched.add(name);
  const initializers = new Map(graph.initializer.map((t) => [t.name, t]));
  const constants = constantNodeValues(graph);
  const measured = [...touched].filter((name) => !initializers.has(name) && !constants.has(name));
  const probed = await request.probe(withOutputs(model, measured), feeds(), measured);
  const shape = (name: string): number[] => {
    const init = initializers.get(name);
    if (init) return init.dims.map(Number);
    const constant = constants.get(name);
    if (constant) return constant.dims.map(Number);
    const t = probed[name];
    if (!t) throw new Error(`internal: tensor ${name} was not measured`);
    return t.dims;
  };
  const ints = (name: string): number[] | undefined => {
    const tensor = initializers.get(name) ?? constants.get(name);
    if (tensor) return tensorInts(tensor);
    const t = probed[name];
    if (t && (t.type === 'int64' || t.type === 'int32')) return Array.from(t.data as ArrayLike<number | bigint>, Number);
    return undefined;
  };

  // 4. Walk back from the target, summing gradient contributions per tensor.
  const parts = new Map<string, string[]>();
  const batch = shape(target);
  parts.set(target, [b.floats(new Array(batch.reduce((x, y) => x * y, 1)).fill(1), batch)]);
  const unsupported: { opType: string; node: string; reason?: string }[] = [];
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = graph.node[nodes[i]!]!;
    const outputGrads = node.output.map((output) => {
      const list = parts.get(output);
      return list ? b.sum(list) : undefined;
    });
    if (outputGrads.every((g) => g === undefined)) continue;
    const ctx: RuleContext = { b, node, opset, shape, ints, needs: (position) => carries.has(node.input[position] ?? '') };
    let inputGrads: (string | undefined)[];
    try {
      inputGrads = gradientRule(node)!(ctx, outputGrads);
    } catch (error) {
      if (!(error instanceof UnsupportedNodeError)) throw error;
      unsupported.push({ opType: qualifiedOpType(node), node: node.name || node.output[0]!, reason: error.message });
      continue;
    }
    node.input.forEach((input, position) => {
      const grad = inputGrads[position];
      if (grad === undefined || !ctx.needs(position)) return;
      const list = parts.get(input) ?? [];
      list.push(grad);
      parts.set(input, list);
    });
  }
  if (unsupported.length) throw new MissingGradientRulesError(unsupported);

  // 5. Outputs: the target, the tensors asked about and their gradients, at the concrete input shape.
  const tensors = request.wrt.map((name) => {
    const gradient = b.node('Identity', [b.sum(parts.get(name)!)], {}, `d_${name.replace(/[^A-Za-z0-9_]/g, '_')}`);
    return { name, gradient, shape: shape(name) };
  });
  graph.output.splice(0, graph.output.length,
    tensorValueInfo(target, DataType.FLOAT, batch),
    ...tensors.filter((t) => t.name !== inputName).map((t) => tensorValueInfo(t.name, DataType.FLOAT, t.shape)),
    ...tensors.map((t) => tensorValueInfo(t.gradient, DataType.FLOAT, t.shape)));
  const input = graph.input.find((i) => i.name === inputName)!;
  graph.input.splice(graph.input.indexOf(input), 1, tensorValueInfo(inputName, DataType.FLOAT, request.inputDims));
  graph.valueInfo.splice(0, graph.valueInfo.length); // shapes changed (concrete batch); let ONNX Runtime infer them
  pruneDeadNodes(graph);
  return { bytes: saveOnnxModel(model), inputName, target, tensors };
}

/**
 * The model's bytes with `names` added as outputs, name only: ONNX Runtime infers their types, so no guess of
 * ours can make it reject the model (the same trick as models/onnx/probeShapes.ts).
 */
export function withNamedOutputs(model: ModelProto, names: readonly string[]): ModelProto {
  const copy = clone(ModelProtoSchema, model);
  const outputs = copy.graph!.output;
  const present = new Set(outputs.map((o) => o.name));
  for (const name of names) if (!present.has(name)) outputs.push(create(ValueInfoProtoSchema, { name }));
  return copy;
}

function withOutputs(model: ModelProto, names: readonly string[]): Uint8Array {
  return saveOnnxModel(withNamedOutputs(model, names));
}

/** Drops nodes and initializers no output needs (the original outputs' heads, say), so no time is spent on them. */
function pruneDeadNodes(graph: GraphProto): void {
  const index = indexGraph(graph);
  const needed = new Set(graph.output.map((o) => o.name));
  const keep = new Set<number>();
  for (let i = index.topologicalOrder.length - 1; i >= 0; i--) {
    const nodeIndex = index.topologicalOrder[i]!;
    if (!graph.node[nodeIndex]!.output.some((o) => needed.has(o))) continue;
    keep.add(nodeIndex);
    for (const input of index.nodeInputs[nodeIndex]!) needed.add(input);
  }
  const kept: NodeProto[] = index.topologicalOrder.filter((n) => keep.has(n)).map((n) => graph.node[n]!);
  graph.node.splice(0, graph.node.length, ...kept);
  const initializers = graph.initializer.filter((t) => needed.has(t.name));
  graph.initializer.splice(0, graph.initializer.length, ...initializers);
}

/** Values of Constant nodes' outputs, as tensors (value attribute, or the value_int(s)/value_float(s) forms). */
function constantNodeValues(graph: GraphProto): Map<string, TensorProto> {
  const values = new Map<string, TensorProto>();
  for (const node of graph.node) {
    if (node.opType !== 'Constant' || (node.domain !== '' && node.domain !== 'ai.onnx')) continue;
    const value = node.attribute.find((a) => a.name === 'value')?.t;
    if (value) values.set(node.output[0]!, value);
  }
  return values;
}

/** Integer values of an int64 or int32 tensor, from its typed field or raw little-endian bytes. */
export function tensorInts(tensor: TensorProto): number[] | undefined {
  if (tensor.dataType === DataType.INT64) {
    if (tensor.int64Data.length) return tensor.int64Data.map(Number);
    const raw = tensor.rawData;
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    return Array.from({ length: raw.byteLength / 8 }, (_, i) => Number(view.getBigInt64(i * 8, true)));
  }
  if (tensor.dataType === DataType.INT32) {
    if (tensor.int32Data.length) return [...tensor.int32Data];
    const raw = tensor.rawData;
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    return Array.from({ length: raw.byteLength / 4 }, (_, i) => view.getInt32(i * 4, true));
  }
  return undefined;
}
