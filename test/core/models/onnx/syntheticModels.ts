/** Models built in TypeScript for tests that need sizes no committed fixture should have. */
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { ModelProtoSchema, NodeProtoSchema, TensorProtoSchema, TensorProto_DataType, ValueInfoProtoSchema, type ModelProto } from 'onnx-buf';

/**
 * A deep residual MLP: x <- x + Reshape(Relu(x W_i + b_i), Shape(x)) for `blocks` blocks of `width` features,
 * input ["batch", width]. Every block's Shape node reads the block input, like exporters' shape code, so only
 * the residual stream tensors are split points. Weights are seeded, about blocks * width^2 * 4 bytes. With
 * `declareShapes` the residual stream has value_info, so inspecting needs no probe run.
 */
export function residualMlp(blocks: number, width: number, options: { declareShapes?: boolean } = {}): ModelProto {
  const nodes: MessageInitShape<typeof NodeProtoSchema>[] = [];
  const initializers: MessageInitShape<typeof TensorProtoSchema>[] = [];
  const valueInfo: MessageInitShape<typeof ValueInfoProtoSchema>[] = [];
  let state = 12345;
  const nextWeight = (): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return ((state >>> 8) / 16777216 - 0.5) * (0.5 / Math.sqrt(width));
  };
  const floats = (count: number): Uint8Array<ArrayBuffer> => {
    const values = new Float32Array(count);
    for (let i = 0; i < count; i++) values[i] = nextWeight();
    return new Uint8Array(values.buffer);
  };
  const tensorType = {
    value: {
      case: 'tensorType' as const,
      value: { elemType: TensorProto_DataType.FLOAT, shape: { dim: [{ value: { case: 'dimParam' as const, value: 'batch' } }, { value: { case: 'dimValue' as const, value: BigInt(width) } }] } },
    },
  };
  let x = 'x';
  for (let block = 0; block < blocks; block++) {
    const p = `block${block}`;
    initializers.push({ name: `${p}.w`, dims: [BigInt(width), BigInt(width)], dataType: TensorProto_DataType.FLOAT, rawData: floats(width * width) });
    initializers.push({ name: `${p}.b`, dims: [BigInt(width)], dataType: TensorProto_DataType.FLOAT, rawData: floats(width) });
    nodes.push(
      { name: `${p}.matmul`, opType: 'MatMul', input: [x, `${p}.w`], output: [`${p}.mm`] },
      { name: `${p}.bias`, opType: 'Add', input: [`${p}.mm`, `${p}.b`], output: [`${p}.pre`] },
      { name: `${p}.relu`, opType: 'Relu', input: [`${p}.pre`], output: [`${p}.act`] },
      { name: `${p}.shape`, opType: 'Shape', input: [x], output: [`${p}.shape_of_input`] },
      { name: `${p}.reshape`, opType: 'Reshape', input: [`${p}.act`, `${p}.shape_of_input`], output: [`${p}.branch`] },
      { name: `${p}.residual`, opType: 'Add', input: [x, `${p}.branch`], output: [`${p}.out`] },
    );
    x = `${p}.out`;
    if (options.declareShapes) valueInfo.push({ name: x, type: tensorType });
  }
  nodes.push({ name: 'output', opType: 'Identity', input: [x], output: ['y'] });
  return create(ModelProtoSchema, {
    irVersion: 8n,
    opsetImport: [{ domain: '', version: 17n }],
    producerName: 'miru-test',
    graph: { name: 'residual_mlp', node: nodes, initializer: initializers, valueInfo, input: [{ name: 'x', type: tensorType }], output: [{ name: 'y', type: tensorType }] },
  });
}
