/**
 * What the graph says about its tensors' types and shapes (inputs, outputs, value_info, initializers), and a
 * small forward pass that infers element types where the graph says nothing. Element types matter because
 * ONNX Runtime rejects a graph output declared float that actually carries int64 (a Shape result, say).
 */
import { create } from '@bufbuild/protobuf';
import {
  TensorProto_DataType as DataType,
  TensorShapeProtoSchema,
  TensorShapeProto_DimensionSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type GraphProto,
  type NodeProto,
  type TensorShapeProto,
  type TypeProto,
  type ValueInfoProto,
} from 'onnx-buf';
import { elementTypeName } from './elementTypes.js';
import type { GraphIndex } from './graphIndex.js';

/** A dimension: a fixed size, a symbolic name ("batch"), or "?" when unknown. */
export type Dimension = number | string;

/** Declared value infos by tensor name: graph inputs, outputs and value_info (value_info wins for intermediates). */
export function declaredValueInfos(graph: GraphProto): Map<string, ValueInfoProto> {
  const infos = new Map<string, ValueInfoProto>();
  for (const info of [...graph.valueInfo, ...graph.input, ...graph.output]) infos.set(info.name, info);
  return infos;
}

/** Shape of a tensor-typed value info: undefined when it has no tensor type or no shape (rank unknown). */
export function shapeOf(info: ValueInfoProto | undefined): Dimension[] | undefined {
  if (info?.type?.value.case !== 'tensorType') return undefined;
  const shape = info.type.value.value.shape;
  return shape === undefined ? undefined : dimensionsOf(shape);
}

function dimensionsOf(shape: TensorShapeProto): Dimension[] {
  return shape.dim.map((dim) => {
    if (dim.value.case === 'dimValue') return Number(dim.value.value);
    if (dim.value.case === 'dimParam' && dim.value.value !== '') return dim.value.value;
    return '?';
  });
}

/** Element type of a tensor-typed value info, or undefined. */
export function elementTypeOf(info: ValueInfoProto | undefined): number | undefined {
  if (info?.type?.value.case !== 'tensorType') return undefined;
  const elemType = info.type.value.value.elemType;
  return elemType === DataType.UNDEFINED ? undefined : elemType;
}

/** A type as text: "float32" for tensors, "sequence<int64>", "map<string, float32>", "optional<...>", "sparse<float32>". */
export function describeType(type: TypeProto | undefined): string {
  const value = type?.value;
  switch (value?.case) {
    case 'tensorType':
      return elementTypeName(value.value.elemType);
    case 'sparseTensorType':
      return `sparse<${elementTypeName(value.value.elemType)}>`;
    case 'sequenceType':
      return `sequence<${describeType(value.value.elemType)}>`;
    case 'optionalType':
      return `optional<${describeType(value.value.elemType)}>`;
    case 'mapType':
      return `map<${elementTypeName(value.value.keyType)}, ${describeType(value.value.valueType)}>`;
    default:
      return 'unknown';
  }
}

/** A tensor value info with the given element type and, when known, shape ("?" dims left unset). */
export function tensorValueInfo(name: string, elemType: number, shape?: readonly Dimension[]): ValueInfoProto {
  const tensorType = create(TypeProto_TensorSchema, { elemType });
  if (shape !== undefined) {
    tensorType.shape = create(TensorShapeProtoSchema, {
      dim: shape.map((dim) =>
        create(
          TensorShapeProto_DimensionSchema,
          typeof dim === 'number'
            ? { value: { case: 'dimValue', value: BigInt(dim) } }
            : dim === '?'
              ? {}
              : { value: { case: 'dimParam', value: dim } },
        ),
      ),
    });
  }
  return create(ValueInfoProtoSchema, { name, type: create(TypeProtoSchema, { value: { case: 'tensorType', value: tensorType } }) });
}

/**
 * Element types for every tensor in the main graph: declared where the graph declares them, otherwise
 * inferred forward from producers (most ops keep their first input's type; the table below lists the rest).
 * Tensors nothing can be said about are left out; callers fall back to float.
 */
export function inferElementTypes(index: GraphIndex): Map<string, number> {
  const { graph } = index;
  const types = new Map<string, number>();
  for (const tensor of graph.initializer) types.set(tensor.name, tensor.dataType);
  for (const sparse of graph.sparseInitializer) if (sparse.values) types.set(sparse.values.name, sparse.values.dataType);
  for (const [name, info] of declaredValueInfos(graph)) {
    const elemType = elementTypeOf(info);
    if (elemType !== undefined) types.set(name, elemType);
  }
  for (const nodeIndex of index.topologicalOrder) {
    const node = graph.node[nodeIndex];
    const inferred = outputElementTypes(node, (position) => types.get(node.input[position] ?? ''));
    node.output.forEach((output, position) => {
      const elemType = inferred[position] ?? inferred[0];
      if (output !== '' && !types.has(output) && elemType !== undefined) types.set(output, elemType);
    });
  }
  return types;
}

const BOOL_OPS = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf']);
const INT64_OPS = new Set(['Shape', 'Size', 'NonZero', 'ArgMax', 'ArgMin', 'NonMaxSuppression']);

/** Output element types by position for one node; undefined entries are unknown. */
function outputElementTypes(node: NodeProto, inputType: (position: number) => number | undefined): (number | undefined)[] {
  const attribute = (name: string): AttributeProto | undefined => node.attribute.find((a) => a.name === name);
  const firstKnown = (): number | undefined => {
    for (let position = 0; position < node.input.length; position++) {
      const type = inputType(position);
      if (type !== undefined) return type;
    }
    return undefined;
  };
  if (node.domain !== '' && node.domain !== 'ai.onnx') return [firstKnown()];
  const op = node.opType;
  if (BOOL_OPS.has(op)) return [DataType.BOOL];
  if (INT64_OPS.has(op)) return [DataType.INT64];
  switch (op) {
    case 'If':
      return subgraphOutputTypes(attribute('then_branch')?.g ?? attribute('else_branch')?.g, 0);
    case 'Loop':
      return subgraphOutputTypes(attribute('body')?.g, 1); // body outputs: condition, then the loop's outputs
    case 'Scan':
      return subgraphOutputTypes(attribute('body')?.g, 0);
    case 'Cast':
      return [Number(attribute('to')?.i ?? DataType.FLOAT)];
    case 'CastLike':
      return [inputType(1)];
    case 'Constant':
      return [constantType(node)];
    case 'ConstantOfShape':
      return [attribute('value')?.t?.dataType ?? DataType.FLOAT];
    case 'EyeLike':
    case 'RandomNormalLike':
    case 'RandomUniformLike':
      return [attribute('dtype') ? Number(attribute('dtype')?.i) : inputType(0)];
    case 'RandomNormal':
    case 'RandomUniform':
      return [Number(attribute('dtype')?.i ?? DataType.FLOAT)];
    case 'Multinomial':
      return [Number(attribute('dtype')?.i ?? DataType.INT32)];
    case 'Where':
      return [inputType(1) ?? inputType(2)];
    case 'TopK':
    case 'MaxPool':
      return [inputType(0), DataType.INT64];
    case 'Unique':
      return [inputType(0), DataType.INT64, DataType.INT64, DataType.INT64];
    case 'Dropout':
      return [inputType(0), DataType.BOOL];
    case 'QuantizeLinear':
      return [attribute('output_dtype') ? Number(attribute('output_dtype')?.i) : (inputType(2) ?? DataType.UINT8)];
    case 'DequantizeLinear':
      return [inputType(1) ?? DataType.FLOAT];
    case 'DynamicQuantizeLinear':
      return [DataType.UINT8, DataType.FLOAT, DataType.UINT8];
    case 'MatMulInteger':
    case 'ConvInteger':
      return [DataType.INT32];
    case 'StringNormalizer':
    case 'RegexFullMatch':
      return [op === 'RegexFullMatch' ? DataType.BOOL : DataType.STRING];
    default:
      return [firstKnown()];
  }
}

/** Element types a control-flow node's outputs take from its body's declared outputs, from `skip` on. */
function subgraphOutputTypes(body: GraphProto | undefined, skip: number): (number | undefined)[] {
  return body === undefined ? [] : body.output.slice(skip).map(elementTypeOf);
}

function constantType(node: NodeProto): number | undefined {
  for (const attribute of node.attribute) {
    switch (attribute.name) {
      case 'value':
        return attribute.t?.dataType;
      case 'sparse_value':
        return attribute.sparseTensor?.values?.dataType;
      case 'value_float':
      case 'value_floats':
        return DataType.FLOAT;
      case 'value_int':
      case 'value_ints':
        return DataType.INT64;
      case 'value_string':
      case 'value_strings':
        return DataType.STRING;
    }
  }
  return undefined;
}
