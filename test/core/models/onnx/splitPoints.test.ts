import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { GraphProtoSchema, NodeProtoSchema, TensorProto_DataType, type GraphProto } from 'onnx-buf';
import { indexGraph } from '../../../../core/models/onnx/graphIndex.js';
import { computeDominators } from '../../../../core/models/onnx/splitPoints.js';

type NodeInit = MessageInitShape<typeof NodeProtoSchema>;

function graphOf(inputs: string[], nodes: NodeInit[], initializers: string[] = []): GraphProto {
  return create(GraphProtoSchema, {
    node: nodes,
    input: inputs.map((name) => ({ name })),
    initializer: initializers.map((name) => ({ name, dataType: TensorProto_DataType.FLOAT, dims: [1n], floatData: [1] })),
    output: [{ name: 'y' }],
  });
}

const node = (opType: string, input: string[], output: string[]): NodeInit => ({ opType, input, output, name: output[0] });

test('multi-output nodes, parallel branches and Shape reads: only tensors on every path are split points', () => {
  // Listed out of order on purpose: the index sorts topologically.
  const graph = graphOf(['x'], [
    node('Sigmoid', ['e'], ['y']),
    node('Reshape', ['c', 'd'], ['e']),
    node('Add', ['b1', 'b2'], ['c']),
    node('Shape', ['a'], ['d']), // bypasses everything between a and the Reshape
    node('Neg', ['s1'], ['b1']),
    node('Abs', ['s2'], ['b2']),
    node('Split', ['a'], ['s1', 's2']),
    node('Relu', ['x'], ['a']),
  ]);
  const index = indexGraph(graph);
  assert.deepEqual(computeDominators(index).splitPointsFor('y'), ['a', 'e']);
  assert.deepEqual(computeDominators(index).splitPointsFor('c'), ['a']);
  assert.ok(computeDominators(index).dominates('a', 'y'));
  assert.ok(!computeDominators(index).dominates('c', 'y'));
});

test('with several inputs no single input dominates; weights never count', () => {
  const graph = graphOf(['x1', 'x2', 'w'], [
    node('Mul', ['x1', 'w'], ['p']),
    node('Add', ['p', 'x2'], ['sum']),
    node('Mul', ['w', 'w'], ['w2']), // weight-only: not on any path from the inputs
    node('Mul', ['sum', 'w2'], ['y']),
  ], ['w']);
  const index = indexGraph(graph);
  assert.deepEqual(index.realInputs, ['x1', 'x2']);
  assert.deepEqual(computeDominators(index).splitPointsFor('y'), ['sum']);
  assert.ok(!index.inputDependent.has('w2'));
});

test('a graph with a cycle is refused', () => {
  const graph = graphOf(['x'], [node('Add', ['x', 'b'], ['a']), node('Relu', ['a'], ['b']), node('Relu', ['b'], ['y'])]);
  assert.throws(() => indexGraph(graph), /the graph has a cycle/);
});
