/**
 * Split points: the tensors that every path from the graph inputs to an output passes through. Cutting the
 * graph at such a tensor A gives a backbone (inputs -> A) and a head (A -> output) that compose exactly.
 *
 * They are the output's dominators in the tensor graph: a virtual source feeds every real graph input, and a
 * node's outputs have as predecessors the node's input-dependent inputs (outer-scope reads of If/Loop/Scan
 * bodies included). Paths through shape computations count: a Shape node reading an earlier tensor is a
 * bypass around everything between that tensor and the Shape's consumer. Constant tensors (initializers,
 * Constant nodes, anything computed only from them) are not on any path, so they never appear.
 *
 * On a DAG visited in topological order every predecessor is final before its successors, so one pass with
 * idom(v) = nearest common dominator of v's predecessors computes the dominator tree (Cooper, Harvey and
 * Kennedy's intersection, which needs no iteration on acyclic graphs).
 */
import type { GraphIndex } from './graphIndex.js';

const SOURCE = 0;

export interface DominatorTree {
  /** The tensors dominating `tensor`, graph inputs and `tensor` itself excluded, from input side to output side. */
  splitPointsFor(tensor: string): string[];
  /** True when every path from the inputs to `tensor` passes through `dominator` (a tensor dominates itself). */
  dominates(dominator: string, tensor: string): boolean;
}

export function computeDominators(index: GraphIndex): DominatorTree {
  const ids = new Map<string, number>();
  const names: string[] = [''];
  const idom: number[] = [SOURCE];
  const depth: number[] = [0];
  const add = (name: string, parent: number): void => {
    ids.set(name, names.length);
    names.push(name);
    idom.push(parent);
    depth.push(depth[parent] + 1);
  };
  const nearestCommonDominator = (a: number, b: number): number => {
    while (a !== b) {
      if (depth[a] >= depth[b]) a = idom[a];
      else b = idom[b];
    }
    return a;
  };

  for (const input of index.realInputs) if (!ids.has(input)) add(input, SOURCE);
  const { graph, nodeInputs } = index;
  for (const nodeIndex of index.topologicalOrder) {
    let common = -1;
    for (const input of nodeInputs[nodeIndex]) {
      const id = ids.get(input);
      if (id === undefined) continue; // constant input: not on any path from the inputs
      common = common === -1 ? id : nearestCommonDominator(common, id);
    }
    if (common === -1) continue;
    for (const output of graph.node[nodeIndex].output) if (output !== '' && !ids.has(output)) add(output, common);
  }

  const realInputs = new Set(index.realInputs);
  return {
    splitPointsFor(tensor) {
      const points: string[] = [];
      const start = ids.get(tensor);
      if (start === undefined) return points;
      for (let id = idom[start]; id !== SOURCE; id = idom[id]) {
        if (!realInputs.has(names[id])) points.push(names[id]);
      }
      return points.reverse();
    },
    dominates(dominator, tensor) {
      const target = ids.get(dominator);
      let id = ids.get(tensor);
      if (target === undefined || id === undefined) return false;
      while (depth[id] > depth[target]) id = idom[id];
      return id === target;
    },
  };
}
