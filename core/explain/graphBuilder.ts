/**
 * Appends nodes and constants to an ONNX graph under fresh names. The backward-graph rules (gradientRules.ts)
 * speak through it, so each rule reads like the formula it implements: `b.mul(g, b.sub(one, y))`.
 *
 * Everything it emits is valid from opset 13 on (ReduceSum, Squeeze and Unsqueeze take their axes as inputs
 * there), which is the oldest opset Miru explains.
 */
import { create } from '@bufbuild/protobuf';
import {
  AttributeProtoSchema,
  AttributeProto_AttributeType as AttributeType,
  NodeProtoSchema,
  TensorProtoSchema,
  TensorProto_DataType as DataType,
  type AttributeProto,
  type GraphProto,
} from 'onnx-buf';

export type AttributeValue = number | number[] | string | { float: number } | { tensorFloat: number[]; dims: number[] };

export class GraphBuilder {
  private counter = 0;
  private readonly names = new Set<string>();

  constructor(
    readonly graph: GraphProto,
    /** The default-domain opset the graph imports; the few ops whose form changed are emitted to match it. */
    readonly opset: number,
    private readonly prefix = 'miru_grad',
  ) {
    for (const node of graph.node) for (const output of node.output) this.names.add(output);
    for (const input of graph.input) this.names.add(input.name);
    for (const tensor of graph.initializer) this.names.add(tensor.name);
  }

  /** A name no tensor in the graph has. */
  fresh(hint: string): string {
    let name: string;
    do name = `${this.prefix}/${hint}_${this.counter++}`;
    while (this.names.has(name));
    this.names.add(name);
    return name;
  }

  /** Emits one node and returns its first output (or all outputs with `outputs` > 1 via nodeMulti). */
  node(opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}, hint = opType): string {
    return this.nodeMulti(opType, inputs, 1, attributes, hint)[0]!;
  }

  nodeMulti(opType: string, inputs: string[], outputCount: number, attributes: Record<string, AttributeValue> = {}, hint = opType): string[] {
    return this.emit(opType, inputs, Array.from({ length: outputCount }, () => this.fresh(hint)), attributes, hint);
  }

  /** A node whose output gets a chosen name (a model's named layers and outputs, when building test models). */
  nodeNamed(output: string, opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}): string {
    this.names.add(output);
    return this.emit(opType, inputs, [output], attributes, opType)[0]!;
  }

  private emit(opType: string, inputs: string[], outputs: string[], attributes: Record<string, AttributeValue>, hint: string): string[] {
    this.graph.node.push(
      create(NodeProtoSchema, {
        opType,
        name: this.fresh(`${hint}_node`),
        input: inputs,
        output: outputs,
        attribute: Object.entries(attributes).map(([name, value]) => attribute(name, value)),
      }),
    );
    return outputs;
  }

  /** An int64 constant (axes, shapes, pads, indices). */
  ints(values: readonly number[], dims: number[] = [values.length]): string {
    const name = this.fresh('ints');
    this.graph.initializer.push(create(TensorProtoSchema, { name, dataType: DataType.INT64, dims: dims.map(BigInt), int64Data: values.map(BigInt) }));
    return name;
  }

  /** A float32 constant; a plain number gives a scalar that broadcasts against anything. */
  floats(values: number | readonly number[], dims?: number[]): string {
    const list = typeof values === 'number' ? [values] : [...values];
    const shape = dims ?? (typeof values === 'number' ? [] : [list.length]);
    const name = this.fresh('floats');
    this.graph.initializer.push(create(TensorProtoSchema, { name, dataType: DataType.FLOAT, dims: shape.map(BigInt), floatData: list }));
    return name;
  }

  // Arithmetic shorthands; broadcasting follows ONNX (numpy) rules.
  add(a: string, b: string): string {
    return this.node('Add', [a, b]);
  }
  sub(a: string, b: string): string {
    return this.node('Sub', [a, b]);
  }
  mul(a: string, b: string): string {
    return this.node('Mul', [a, b]);
  }
  div(a: string, b: string): string {
    return this.node('Div', [a, b]);
  }
  neg(a: string): string {
    return this.node('Neg', [a]);
  }
  scale(a: string, factor: number): string {
    return factor === 1 ? a : this.mul(a, this.floats(factor));
  }
  reshape(a: string, shape: readonly number[]): string {
    return this.node('Reshape', [a, this.ints(shape)]);
  }
  transpose(a: string, perm: readonly number[]): string {
    return this.node('Transpose', [a], { perm: [...perm] });
  }
  /** ReduceSum over `axes` (keepdims 1); no axes is the identity, not a full reduction. */
  sumKeep(a: string, axes: readonly number[]): string {
    if (axes.length === 0) return a;
    return this.node('ReduceSum', [a, this.ints(axes)], { keepdims: 1 });
  }
  /** ReduceMax over `axes` (keepdims 1): axes are an attribute before opset 18 and an input from 18 on. */
  maxKeep(a: string, axes: readonly number[]): string {
    return this.opset >= 18 ? this.node('ReduceMax', [a, this.ints(axes)], { keepdims: 1 }) : this.node('ReduceMax', [a], { axes: [...axes], keepdims: 1 });
  }
  expand(a: string, shape: readonly number[]): string {
    return this.node('Expand', [a, this.ints(shape)]);
  }
  /** A float mask (1 where `condition` holds) from a bool tensor. */
  mask(condition: string): string {
    return this.node('Cast', [condition], { to: DataType.FLOAT });
  }
  sum(terms: string[]): string {
    return terms.length === 1 ? terms[0]! : this.node('Sum', terms);
  }
  zeros(shape: readonly number[]): string {
    return this.node('ConstantOfShape', [this.ints(shape)], { value: { tensorFloat: [0], dims: [1] } });
  }
}

function attribute(name: string, value: AttributeValue): AttributeProto {
  if (typeof value === 'number') {
    return create(AttributeProtoSchema, { name, type: AttributeType.INT, i: BigInt(value) });
  }
  if (typeof value === 'string') {
    return create(AttributeProtoSchema, { name, type: AttributeType.STRING, s: new TextEncoder().encode(value) });
  }
  if (Array.isArray(value)) {
    return create(AttributeProtoSchema, { name, type: AttributeType.INTS, ints: value.map(BigInt) });
  }
  if ('float' in value) return create(AttributeProtoSchema, { name, type: AttributeType.FLOAT, f: value.float });
  return create(AttributeProtoSchema, {
    name,
    type: AttributeType.TENSOR,
    t: create(TensorProtoSchema, { dataType: DataType.FLOAT, dims: value.dims.map(BigInt), floatData: value.tensorFloat }),
  });
}
