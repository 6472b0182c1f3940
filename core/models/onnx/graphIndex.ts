/**
 * A read-only index over a model's main graph: who produces and who consumes each tensor, a topological node
 * order, and which tensors depend on the graph inputs at all. Built once in linear time; the split-point and
 * graph-editing code query it instead of rescanning node lists.
 */
import type { GraphProto, NodeProto } from 'onnx-buf';

export interface GraphIndex {
  readonly graph: GraphProto;
  /** Node indices (into graph.node) in a topological order that keeps the file's order where it is valid. */
  readonly topologicalOrder: readonly number[];
  /** Position of each node (by graph.node index) in topologicalOrder. */
  readonly topologicalPosition: Int32Array;
  /** Producing node index per tensor name. */
  readonly producer: ReadonlyMap<string, number>;
  /** Per node: the tensors it reads, explicit inputs plus outer-scope names read by its subgraphs (If/Loop/Scan). */
  readonly nodeInputs: readonly (readonly string[])[];
  /** Graph inputs that are not initializers: what a caller must feed. */
  readonly realInputs: readonly string[];
  readonly initializers: ReadonlySet<string>;
  /**
   * Tensors reachable from the real inputs. Everything else (initializers, Constant outputs, and anything
   * computed only from those) is constant for a given model.
   */
  readonly inputDependent: ReadonlySet<string>;
}

export function indexGraph(graph: GraphProto): GraphIndex {
  const producer = new Map<string, number>();
  graph.node.forEach((node, index) => {
    for (const output of node.output) if (output !== '') producer.set(output, index);
  });
  const nodeInputs = graph.node.map(readTensors);
  const topologicalOrder = sortTopologically(graph.node, nodeInputs, producer);
  const topologicalPosition = new Int32Array(graph.node.length);
  topologicalOrder.forEach((nodeIndex, position) => (topologicalPosition[nodeIndex] = position));

  const initializers = new Set<string>([
    ...graph.initializer.map((tensor) => tensor.name),
    ...graph.sparseInitializer.map((sparse) => sparse.values?.name ?? ''),
  ]);
  // Old exporters list initializers as graph inputs too; those are weights, not something a caller feeds.
  const realInputs = graph.input.map((input) => input.name).filter((name) => !initializers.has(name));

  const inputDependent = new Set<string>(realInputs);
  for (const nodeIndex of topologicalOrder) {
    if (nodeInputs[nodeIndex].some((name) => inputDependent.has(name))) {
      for (const output of graph.node[nodeIndex].output) if (output !== '') inputDependent.add(output);
    }
  }
  return { graph, topologicalOrder, topologicalPosition, producer, nodeInputs, realInputs, initializers, inputDependent };
}

/** Every tensor a node reads: its explicit inputs and the outer-scope names its subgraphs use. */
function readTensors(node: NodeProto): string[] {
  const names = node.input.filter((name) => name !== '');
  const subgraphs = node.attribute.flatMap((attribute) => [...(attribute.g ? [attribute.g] : []), ...attribute.graphs]);
  if (subgraphs.length === 0) return names;
  const outer = new Set(names);
  for (const subgraph of subgraphs) for (const name of outerScopeNames(subgraph)) outer.add(name);
  return [...outer];
}

/** Names a subgraph reads but does not define itself (they resolve in an enclosing graph). */
function outerScopeNames(graph: GraphProto): Set<string> {
  const defined = new Set<string>([
    ...graph.input.map((input) => input.name),
    ...graph.initializer.map((tensor) => tensor.name),
    ...graph.sparseInitializer.map((sparse) => sparse.values?.name ?? ''),
  ]);
  for (const node of graph.node) for (const output of node.output) defined.add(output);
  const used = new Set<string>();
  for (const node of graph.node) {
    for (const name of readTensors(node)) if (name !== '' && !defined.has(name)) used.add(name);
  }
  for (const output of graph.output) if (!defined.has(output.name)) used.add(output.name);
  return used;
}

/**
 * Depth-first topological sort that visits nodes in file order, so an already sorted graph (the ONNX spec asks
 * for one, but not every exporter complies) keeps its order exactly. Iterative to survive very deep graphs.
 */
function sortTopologically(nodes: readonly NodeProto[], nodeInputs: readonly (readonly string[])[], producer: ReadonlyMap<string, number>): number[] {
  const state = new Uint8Array(nodes.length); // 0 unvisited, 1 on the stack, 2 emitted
  const order: number[] = [];
  for (let root = 0; root < nodes.length; root++) {
    if (state[root] !== 0) continue;
    const stack: { node: number; nextInput: number }[] = [{ node: root, nextInput: 0 }];
    state[root] = 1;
    while (stack.length > 0) {
      const frame = stack[stack.length - 1];
      const inputs = nodeInputs[frame.node];
      let pushed = false;
      while (frame.nextInput < inputs.length) {
        const dependency = producer.get(inputs[frame.nextInput++]);
        if (dependency === undefined || state[dependency] === 2) continue;
        if (state[dependency] === 1) throw new Error(`the graph has a cycle through node ${describeNode(nodes[dependency], dependency)}`);
        state[dependency] = 1;
        stack.push({ node: dependency, nextInput: 0 });
        pushed = true;
        break;
      }
      if (pushed) continue;
      state[frame.node] = 2;
      order.push(frame.node);
      stack.pop();
    }
  }
  return order;
}

function describeNode(node: NodeProto, index: number): string {
  return node.name !== '' ? `"${node.name}" (${node.opType})` : `#${index} (${node.opType})`;
}

/** Op type with its domain for non-default domains, e.g. "Conv" or "com.microsoft.FusedConv". */
export function qualifiedOpType(node: NodeProto): string {
  return node.domain === '' || node.domain === 'ai.onnx' ? node.opType : `${node.domain}.${node.opType}`;
}
