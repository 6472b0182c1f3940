/**
 * Graph edits that later explainability work builds on: exposing intermediate tensors as outputs, and cutting
 * a model at a split point into a backbone (inputs -> tensor) and a head (tensor -> outputs), each a complete
 * model ONNX Runtime can run, with head(backbone(x)) = model(x).
 */
import { clone, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import {
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  SparseTensorProtoSchema,
  TensorAnnotationSchema,
  TensorProtoSchema,
  TensorProto_DataType as DataType,
  ValueInfoProtoSchema,
  type GraphProto,
  type ModelProto,
  type ValueInfoProto,
} from 'onnx-buf';
import { indexGraph, type GraphIndex } from './graphIndex.js';
import { computeDominators } from './splitPoints.js';
import { declaredValueInfos, inferElementTypes, shapeOf, tensorValueInfo, type Dimension } from './tensorTypes.js';

/** A tensor that exists but cannot be a split point; `nearbySplitPoints` are valid ones around it. */
export class SplitPointError extends Error {
  override readonly name = 'SplitPointError';
  constructor(
    message: string,
    readonly tensor: string,
    readonly nearbySplitPoints: readonly string[],
  ) {
    super(message);
  }
}

/**
 * A copy of `model` whose graph also outputs `tensorNames` (names already outputs are left alone). Each new
 * output carries the graph's value_info type and shape when it has one, otherwise an inferred element type.
 */
export function addGraphOutputs(model: ModelProto, tensorNames: readonly string[]): ModelProto {
  const graph = requireGraph(model);
  const index = indexGraph(graph);
  const declared = declaredValueInfos(graph);
  let elementTypes: Map<string, number> | undefined; // inferred lazily: most callers add declared tensors only
  const result = clone(ModelProtoSchema, model);
  const outputs = requireGraph(result).output;
  const present = new Set(outputs.map((output) => output.name));
  for (const name of tensorNames) {
    if (present.has(name)) continue;
    if (!tensorExists(index, name)) throw new Error(`no tensor named ${name} in the model's graph (\`miru models inspect <model.onnx>\` lists its layers)`);
    const info = declared.get(name);
    if (info?.type?.value.case === 'tensorType' && info.type.value.value.elemType !== DataType.UNDEFINED) {
      outputs.push(clone(ValueInfoProtoSchema, info));
    } else {
      elementTypes ??= inferElementTypes(index);
      outputs.push(tensorValueInfo(name, elementTypes.get(name) ?? DataType.FLOAT, shapeOf(info)));
    }
    present.add(name);
  }
  return result;
}

export interface SplitOptions {
  /** The graph output whose split points count (default: the first output). */
  output?: string;
  /** Shape of the split tensor for the head's input and backbone's output, e.g. a LayerInfo's shape. */
  shape?: readonly Dimension[];
}

/**
 * Cut `model` at `tensor`, which must be a split point of the chosen output (see inspectModel's layers).
 * The backbone keeps the graph inputs it needs and outputs `tensor`; the head takes `tensor` as its only input
 * and produces every model output that `tensor` dominates (always including the chosen one). Each part gets
 * only the nodes and initializers it needs, including Constant nodes and weight-only shape computations.
 */
export function splitAtTensor(model: ModelProto, tensor: string, options: SplitOptions = {}): { backbone: ModelProto; head: ModelProto } {
  const graph = requireGraph(model);
  const index = indexGraph(graph);
  const output = chooseOutput(graph, options.output);
  const dominators = computeDominators(index);
  const splitPoints = dominators.splitPointsFor(output);
  if (!splitPoints.includes(tensor)) throw refusal(index, tensor, output, splitPoints);

  const declared = declaredValueInfos(graph);
  const elemType = inferElementTypes(index).get(tensor) ?? DataType.FLOAT;
  const splitInfo = tensorValueInfo(tensor, elemType, options.shape ?? shapeOf(declared.get(tensor)));
  const backbone = extractPart(model, index, {
    name: 'backbone',
    feeds: new Set(index.realInputs),
    inputs: (needed) => graph.input.filter((input) => needed.has(input.name)),
    outputs: [splitInfo],
  });
  const headOutputs = graph.output.filter((candidate) => candidate.name !== tensor && dominators.dominates(tensor, candidate.name));
  const head = extractPart(model, index, {
    name: 'head',
    feeds: new Set([tensor]),
    inputs: () => [splitInfo],
    outputs: headOutputs,
  });
  return { backbone, head };
}

interface PartSpec {
  name: string;
  /** Tensors the part receives as graph inputs; the backward walk stops there. */
  feeds: ReadonlySet<string>;
  /** The part's graph inputs, given the feeds it turned out to need. */
  inputs: (needed: ReadonlySet<string>) => ValueInfoProto[];
  outputs: ValueInfoProto[];
}

/** A model computing `spec.outputs` from `spec.feeds` with the nodes and initializers that requires. */
function extractPart(model: ModelProto, index: GraphIndex, spec: PartSpec): ModelProto {
  const { graph } = index;
  const nodes = new Set<number>();
  const usedTensors = new Set<string>();
  const neededFeeds = new Set<string>();
  const pending = spec.outputs.map((output) => output.name);
  while (pending.length > 0) {
    const name = pending.pop() as string;
    if (usedTensors.has(name)) continue;
    usedTensors.add(name);
    if (spec.feeds.has(name)) {
      neededFeeds.add(name);
      continue;
    }
    const producer = index.producer.get(name);
    if (producer === undefined || nodes.has(producer)) continue; // initializer, or a node already walked
    nodes.add(producer);
    pending.push(...index.nodeInputs[producer]);
  }

  const part = cloneWithout(ModelProtoSchema, model, { graph: undefined, trainingInfo: [] });
  const partGraph = cloneWithout(GraphProtoSchema, graph, {
    node: [], initializer: [], sparseInitializer: [], input: [], output: [], valueInfo: [], quantizationAnnotation: [],
  });
  partGraph.name = graph.name === '' ? spec.name : `${graph.name}_${spec.name}`;
  const ordered = [...nodes].sort((a, b) => index.topologicalPosition[a] - index.topologicalPosition[b]);
  partGraph.node = ordered.map((nodeIndex) => clone(NodeProtoSchema, graph.node[nodeIndex]));
  partGraph.initializer = graph.initializer.filter((t) => usedTensors.has(t.name)).map((t) => clone(TensorProtoSchema, t));
  partGraph.sparseInitializer = graph.sparseInitializer
    .filter((sparse) => usedTensors.has(sparse.values?.name ?? ''))
    .map((sparse) => clone(SparseTensorProtoSchema, sparse));
  // Initializers listed as graph inputs stay listed (IR < 4 requires it), but only the ones this part uses.
  const initializerInputs = graph.input.filter((input) => index.initializers.has(input.name) && usedTensors.has(input.name));
  const produced = new Set(ordered.flatMap((nodeIndex) => graph.node[nodeIndex].output));
  const boundary = new Set([...spec.outputs.map((o) => o.name), ...spec.feeds]);
  partGraph.input = [...spec.inputs(neededFeeds), ...initializerInputs].map((info) => clone(ValueInfoProtoSchema, info));
  partGraph.output = spec.outputs.map((info) => clone(ValueInfoProtoSchema, info));
  partGraph.valueInfo = graph.valueInfo
    .filter((info) => produced.has(info.name) && !boundary.has(info.name))
    .map((info) => clone(ValueInfoProtoSchema, info));
  partGraph.quantizationAnnotation = graph.quantizationAnnotation
    .filter((annotation) => usedTensors.has(annotation.tensorName))
    .map((annotation) => clone(TensorAnnotationSchema, annotation));
  part.graph = partGraph;
  return part;
}

/**
 * Deep copy of `message` with some fields replaced, without first deep-copying what gets replaced (the big
 * node and initializer lists). The original is restored before returning, even if cloning throws.
 */
function cloneWithout<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>, replacements: Partial<MessageShape<Desc>>): MessageShape<Desc> {
  const target = message as Record<string, unknown>;
  const saved = new Map<string, unknown>();
  for (const [key, value] of Object.entries(replacements)) {
    saved.set(key, target[key]);
    target[key] = value;
  }
  try {
    return clone(schema, message);
  } finally {
    for (const [key, value] of saved) target[key] = value;
  }
}

function requireGraph(model: ModelProto): GraphProto {
  if (model.graph === undefined) throw new Error('the model has no graph');
  return model.graph;
}

export function chooseOutput(graph: GraphProto, output: string | undefined): string {
  const names = graph.output.map((o) => o.name);
  if (output === undefined) {
    if (names.length === 0) throw new Error('the model has no outputs');
    return names[0];
  }
  if (!names.includes(output)) throw new Error(`the model has no output named ${output}; its outputs are: ${names.join(', ')}`);
  return output;
}

function tensorExists(index: GraphIndex, name: string): boolean {
  return index.producer.has(name) || index.initializers.has(name) || index.graph.input.some((input) => input.name === name);
}

/** The error for a tensor that is not a split point: why, and the valid split points around it. */
function refusal(index: GraphIndex, tensor: string, output: string, splitPoints: readonly string[]): Error {
  if (!tensorExists(index, tensor)) {
    const candidates = similarNames(tensor, splitPoints, 8);
    return new Error(
      `no tensor named ${tensor}; candidates: ${candidates.join(', ') || '(this output has no split points)'}` +
        (splitPoints.length > candidates.length ? ` (${splitPoints.length} split points in all; miru models inspect lists them)` : ''),
    );
  }
  const position = (name: string): number => {
    const producer = index.producer.get(name);
    return producer === undefined ? -1 : index.topologicalPosition[producer];
  };
  const target = position(tensor);
  let after = splitPoints.findIndex((name) => position(name) > target);
  if (after === -1) after = splitPoints.length;
  const nearby = [...splitPoints.slice(Math.max(0, after - 3), after), ...splitPoints.slice(after, after + 3)];
  const reason = index.realInputs.includes(tensor)
    ? 'it is a graph input'
    : tensor === output
      ? 'it is the output itself'
      : !index.inputDependent.has(tensor)
        ? 'it is computed from weights and constants only'
        : `some path from the inputs to ${output} bypasses it (a residual connection, a parallel branch or a shape computation)`;
  return new SplitPointError(
    `${tensor} is not a valid split point for output ${output}: ${reason}. ` +
      (nearby.length > 0 ? `Valid split points near it: ${nearby.join(', ')}` : `${output} has no valid split points`),
    tensor,
    nearby,
  );
}

/**
 * Up to `limit` names most like `wanted` (shared prefix plus shared suffix, as a typo or a neighbouring block
 * keeps both), best first; names sharing less than half of the best match's length are left out.
 */
function similarNames(wanted: string, names: readonly string[], limit: number): string[] {
  const score = (name: string): number => {
    let prefix = 0;
    while (prefix < wanted.length && prefix < name.length && wanted[prefix] === name[prefix]) prefix++;
    let suffix = 0;
    const room = Math.min(wanted.length, name.length) - prefix;
    while (suffix < room && wanted[wanted.length - 1 - suffix] === name[name.length - 1 - suffix]) suffix++;
    return prefix + suffix;
  };
  const ranked = names.map((name, order) => ({ name, order, score: score(name) })).sort((a, b) => b.score - a.score || a.order - b.order);
  const best = ranked[0]?.score ?? 0;
  return ranked.filter((entry) => entry.score * 2 >= best).slice(0, limit).map((entry) => entry.name);
}
