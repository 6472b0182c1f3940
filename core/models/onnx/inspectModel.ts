/**
 * What `miru models inspect` reports about an ONNX model: inputs, outputs, opsets, operator histogram, weight
 * size, and the candidate layers (split points) for one output with their shapes and kinds.
 */
import type { GraphProto, ModelProto, TensorProto, ValueInfoProto } from 'onnx-buf';
import { chooseOutput } from './editGraph.js';
import { elementBits } from './elementTypes.js';
import { indexGraph, qualifiedOpType } from './graphIndex.js';
import { loadOnnxModel } from './onnxModel.js';
import { probeTensorShapes } from './probeShapes.js';
import { computeDominators } from './splitPoints.js';
import { declaredValueInfos, describeType, shapeOf, type Dimension } from './tensorTypes.js';
import { tokenLayout, type SaliencyHint } from '../../explain/layerMaps.js';

/**
 * Symbolic dims appear as their names (e.g. "batch"), unknown ones as "?", and an unknown rank as [];
 * type like "float32" (non-tensor values: "sequence<int64>", "map<string, float32>", ...).
 */
export interface TensorInfo {
  name: string;
  shape: Dimension[];
  type: string;
}

export type LayerKind = 'spatial' | 'tokens' | 'vector' | 'other';

export interface LayerInfo {
  name: string;
  shape: Dimension[];
  /**
   * spatial: rank 4 (N,C,H,W or N,H,W,C); tokens: rank 3 (N,L,C) that explain can read as a token grid; vector:
   * rank 2; other: anything else, a channels-first (N,C,L) tensor included (explain refuses those).
   */
  kind: LayerKind;
  /** The producing node's op type, domain-prefixed outside the default domain. */
  op: string;
}

export interface ModelInfo {
  irVersion: number;
  /** Opset version per domain; the default domain is reported as "ai.onnx". */
  opsets: Record<string, number>;
  producer: string;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  /** Node count per op type (subgraphs included), domain-prefixed outside the default domain. */
  operators: Record<string, number>;
  /** Split points for the chosen output, from input side to output side. */
  layers: LayerInfo[];
  initializerBytes: number;
  /**
   * Set when layer shapes could not be measured (the probe run failed): layers keep declared shapes where the
   * graph has them, and show shape [] and kind "other" where it does not.
   */
  shapeProblem?: string;
}

export interface InspectOptions {
  /** The output whose split points are listed (default: the first output). */
  output?: string;
  /** How error messages name the file (default "the model file"). */
  sourceName?: string;
  /** The card's saliency section: its token layout decides which rank-3 layers read as tokens. */
  saliency?: SaliencyHint;
}

export async function inspectModel(bytes: Uint8Array, options: InspectOptions = {}): Promise<ModelInfo> {
  const model = loadOnnxModel(bytes, options.sourceName);
  const graph = model.graph as GraphProto; // loadOnnxModel guarantees a graph
  const index = indexGraph(graph);
  const output = chooseOutput(graph, options.output);
  const layerNames = computeDominators(index).splitPointsFor(output);
  const realInputs = graph.input.filter((input) => !index.initializers.has(input.name));
  const { shapes, problem } = await layerShapes(model, realInputs, layerNames);

  const layers = layerNames.map((name): LayerInfo => {
    const shape = shapes.get(name) ?? [];
    const producer = index.producer.get(name) as number; // split points are node outputs, never graph inputs
    return { name, shape, kind: shapes.has(name) ? layerKind(shape, name, options.saliency) : 'other', op: qualifiedOpType(graph.node[producer]) };
  });
  return {
    irVersion: Number(model.irVersion),
    opsets: Object.fromEntries(model.opsetImport.map((opset) => [opset.domain === '' ? 'ai.onnx' : opset.domain, Number(opset.version)])),
    producer: [model.producerName, model.producerVersion].filter((part) => part !== '').join(' '),
    inputs: realInputs.map(tensorInfo),
    outputs: graph.output.map(tensorInfo),
    operators: operatorHistogram(graph),
    layers,
    initializerBytes: initializerBytes(graph),
    ...(problem === undefined ? {} : { shapeProblem: problem }),
  };
}

export function layerKind(shape: readonly Dimension[], name = '', saliency?: SaliencyHint): LayerKind {
  switch (shape.length) {
    case 4: return 'spatial';
    // The same test explain applies, so no layer is listed as tokens that explain would refuse; symbolic
    // dims cannot be judged here and keep the benefit of the doubt.
    case 3: return typeof shape[1] !== 'number' || typeof shape[2] !== 'number' || !('problem' in tokenLayout(name, shape[1], shape[2], saliency)) ? 'tokens' : 'other';
    case 2: return 'vector';
    default: return 'other';
  }
}

/**
 * Declared shapes where the graph gives them in terms of the inputs' own dims, measured ones otherwise (an
 * exporter's invented dim names, such as torch's "Gatherembedding_dim_1", say less than the number). A measured
 * leading dim is reported by the batch dim's name when the first input's batch dim is symbolic (the probe
 * feeds batch 1). When the probe run fails, declared shapes are kept and the failure is reported.
 */
async function layerShapes(
  model: ModelProto,
  realInputs: readonly ValueInfoProto[],
  names: readonly string[],
): Promise<{ shapes: Map<string, Dimension[]>; problem?: string }> {
  const declared = declaredValueInfos(model.graph as GraphProto);
  const inputDims = realInputs.flatMap((input) => shapeOf(input) ?? []);
  const inputDimNames = new Set(inputDims.filter((dim) => typeof dim === 'string' && dim !== '?'));
  const shapes = new Map<string, Dimension[]>();
  const toProbe: string[] = [];
  for (const name of names) {
    const shape = shapeOf(declared.get(name));
    if (shape !== undefined && shape.every((dim) => typeof dim === 'number' || inputDimNames.has(dim))) shapes.set(name, shape);
    else toProbe.push(name);
  }
  if (toProbe.length === 0) return { shapes };
  let measured: Map<string, number[]>;
  try {
    measured = await probeTensorShapes(model, realInputs, toProbe);
  } catch (error) {
    for (const name of toProbe) {
      const shape = shapeOf(declared.get(name));
      if (shape !== undefined) shapes.set(name, shape);
    }
    const reason = error instanceof Error ? error.message : String(error);
    return { shapes, problem: `could not measure layer shapes by running the model once on a zero input: ${reason}` };
  }
  const batchDim = shapeOf(realInputs[0])?.[0];
  const batchName = typeof batchDim === 'string' ? batchDim : undefined;
  for (const [name, dims] of measured) {
    shapes.set(name, dims.map((dim, axis) => (axis === 0 && dim === 1 && batchName !== undefined ? batchName : dim)));
  }
  return { shapes };
}

function tensorInfo(info: ValueInfoProto): TensorInfo {
  return { name: info.name, shape: shapeOf(info) ?? [], type: describeType(info.type) };
}

function operatorHistogram(graph: GraphProto): Record<string, number> {
  const counts: Record<string, number> = {};
  const visit = (current: GraphProto): void => {
    for (const node of current.node) {
      const op = qualifiedOpType(node);
      counts[op] = (counts[op] ?? 0) + 1;
      for (const attribute of node.attribute) {
        if (attribute.g) visit(attribute.g);
        attribute.graphs.forEach(visit);
      }
    }
  };
  visit(graph);
  return counts;
}

function initializerBytes(graph: GraphProto): number {
  let total = 0;
  for (const tensor of graph.initializer) total += tensorBytes(tensor);
  for (const sparse of graph.sparseInitializer) total += tensorBytes(sparse.values) + tensorBytes(sparse.indices);
  return total;
}

/** Bytes of a tensor's values as stored (raw_data), or as they would be in raw form (typed fields). */
function tensorBytes(tensor: TensorProto | undefined): number {
  if (tensor === undefined) return 0;
  if (tensor.rawData.length > 0) return tensor.rawData.length;
  if (tensor.stringData.length > 0) return tensor.stringData.reduce((sum, value) => sum + value.length, 0);
  const bits = elementBits(tensor.dataType);
  const count = tensor.dims.reduce((product, dim) => product * Number(dim), 1);
  return bits === undefined ? 0 : Math.ceil((count * bits) / 8);
}
