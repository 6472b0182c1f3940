import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, equals, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType,
  ModelProtoSchema,
  StringStringEntryProtoSchema,
  TensorProto_DataLocation,
  TensorProto_DataType,
  type ModelProto,
} from 'onnx-buf';
import { loadOnnxModel, saveOnnxModel, OnnxLoadError } from '../../../../core/models/onnx/onnxModel.js';
import { elementTypeName, elementTypeFromName } from '../../../../core/models/onnx/elementTypes.js';
import { fixtureBytes, fixtureNames } from './onnxTestSupport.js';

test('every fixture round-trips: decode, encode, decode is deep-equal and the bytes are identical', () => {
  const names = fixtureNames();
  assert.ok(names.length >= 12, `expected the generated fixtures in test/fixtures/models, found ${names.length}`);
  for (const name of names) {
    const original = fixtureBytes(name);
    const model = loadOnnxModel(original, name);
    const encoded = saveOnnxModel(model);
    const again = loadOnnxModel(encoded, name);
    assert.ok(equals(ModelProtoSchema, model, again), `${name}: decode(encode(model)) differs`);
    assert.deepStrictEqual(again, model, `${name}: deep-equal`);
    // onnx (C++ protobuf) and protobuf-es both write fields in field-number order, so the bytes match exactly.
    assert.ok(Buffer.from(encoded).equals(Buffer.from(original)), `${name}: re-encoded bytes differ from the file`);
  }
});

test('the fixtures cover IR versions 7 to 10 and opsets 13 to 21', () => {
  const irVersions = new Set<number>();
  const opsets = new Set<number>();
  for (const name of fixtureNames()) {
    const model = loadOnnxModel(fixtureBytes(name), name);
    irVersions.add(Number(model.irVersion));
    for (const opset of model.opsetImport) if (opset.domain === '') opsets.add(Number(opset.version));
  }
  for (const ir of [7, 8, 9, 10]) assert.ok(irVersions.has(ir), `no fixture at IR ${ir}`);
  for (let opset = 13; opset <= 21; opset++) assert.ok(opsets.has(opset), `no fixture at opset ${opset}`);
});

test('hand-built fixtures keep every field kind: attributes, subgraphs, sparse tensors, functions, training info', () => {
  const model = loadOnnxModel(fixtureBytes('handbuilt_ir10_opset21.onnx'));
  const graph = model.graph!;
  const everything = graph.node.find((node) => node.name === 'everything')!;
  const kinds = new Set(everything.attribute.map((attribute) => attribute.type));
  for (const kind of ['FLOAT', 'INT', 'STRING', 'TENSOR', 'GRAPH', 'SPARSE_TENSOR', 'FLOATS', 'INTS', 'STRINGS', 'TENSORS', 'GRAPHS', 'SPARSE_TENSORS'] as const) {
    assert.ok(kinds.has(AttributeProto_AttributeType[kind]), `attribute kind ${kind} missing`);
  }
  assert.equal(everything.attribute.find((a) => a.name === 'ints')!.ints[2], 2n ** 40n);
  assert.equal(everything.attribute.find((a) => a.name === 'referenced')!.refAttrName, 'outer_attr');
  assert.equal(graph.sparseInitializer.length, 1);
  assert.equal(model.functions[0].name, 'Twice');
  assert.equal(model.trainingInfo[0].initializationBinding[0].value, 'typed_f32_init');
  assert.deepEqual(model.metadataProps.map((p) => [p.key, p.value]), [['author', 'miru'], ['note', 'ünïcødé']]);
  const u64 = graph.initializer.find((t) => t.name === 'typed_u64')!;
  assert.equal(u64.uint64Data[0], 2n ** 63n + 5n);
  const newer = graph.initializer.filter((t) => t.name.startsWith('newer_type_')).map((t) => elementTypeName(t.dataType));
  assert.deepEqual(newer, ['float8e4m3fn', 'float8e5m2', 'uint4', 'int4', 'float4e2m1']);
});

test('fields this schema does not know survive the round trip as unknown fields', () => {
  const model = loadOnnxModel(fixtureBytes('unknown_fields.onnx'));
  const unknown = (model as ModelProto & { $unknown?: { no: number }[] }).$unknown ?? [];
  assert.deepEqual(unknown.map((field) => field.no), [99, 100]);
  assert.ok(Buffer.from(saveOnnxModel(model)).equals(Buffer.from(fixtureBytes('unknown_fields.onnx'))));
});

/** IR 10 fields onnx 1.12 cannot write: metadata_props on nodes, value infos, graphs and tensors; device configurations. */
function ir10Model(): ModelProto {
  const meta = (key: string, value: string) => ({ key, value });
  const tensorType = (elemType: number, dims: (number | string)[]) => ({
    value: {
      case: 'tensorType' as const,
      value: {
        elemType,
        shape: { dim: dims.map((d) => ({ value: typeof d === 'number' ? { case: 'dimValue' as const, value: BigInt(d) } : { case: 'dimParam' as const, value: d } })) },
      },
    },
  });
  return create(ModelProtoSchema, {
    irVersion: 10n,
    opsetImport: [{ domain: '', version: 21n }],
    producerName: 'miru-test',
    metadataProps: [meta('model', 'ir10')],
    configuration: [{ name: 'two-devices', numDevices: 2, device: ['cpu:0', 'cpu:1'] }],
    graph: {
      name: 'ir10',
      node: [
        {
          input: ['x', 'w'],
          output: ['y'],
          name: 'matmul',
          opType: 'MatMul',
          metadataProps: [meta('source', 'layer1.py:12'), meta('stage', 'backbone')],
          deviceConfigurations: [{ configurationId: 'two-devices', shardingSpec: [{ tensorName: 'w', device: [0n, 1n] }] }],
        },
        {
          input: ['y'],
          output: ['z'],
          name: 'gelu',
          opType: 'Gelu',
          attribute: [{ name: 'approximate', type: AttributeProto_AttributeType.STRING, s: new TextEncoder().encode('tanh') }],
        },
      ],
      initializer: [
        { name: 'w', dims: [4n, 2n], dataType: TensorProto_DataType.FLOAT, rawData: new Uint8Array(32), metadataProps: [meta('init', 'zeros')] },
        { name: 'q', dims: [4n], dataType: TensorProto_DataType.INT4, rawData: new Uint8Array([0x21, 0x43]) },
        { name: 'f8', dims: [2n], dataType: TensorProto_DataType.FLOAT8E4M3FN, rawData: new Uint8Array([0x38, 0xb8]) },
      ],
      input: [{ name: 'x', type: tensorType(TensorProto_DataType.FLOAT, ['batch', 4]), metadataProps: [meta('role', 'image')] }],
      output: [{ name: 'z', type: tensorType(TensorProto_DataType.FLOAT, ['batch', 2]) }],
      valueInfo: [{ name: 'y', type: tensorType(TensorProto_DataType.FLOAT, ['batch', 2]), metadataProps: [meta('note', 'pre-activation')] }],
      metadataProps: [meta('graph', 'main')],
    },
    functions: [{ name: 'Id', domain: 'local', input: ['a'], output: ['b'], node: [{ input: ['a'], output: ['b'], opType: 'Identity' }], overload: 'v2', metadataProps: [meta('f', '1')] }],
  });
}

test('an IR 10 model built with onnx-buf keeps node metadata_props and other IR 10 fields through a round trip', () => {
  const model = ir10Model();
  const bytes = saveOnnxModel(model);
  const decoded = loadOnnxModel(bytes, 'ir10.onnx');
  assert.ok(equals(ModelProtoSchema, model, decoded));
  assert.ok(Buffer.from(saveOnnxModel(decoded)).equals(Buffer.from(bytes)));
  const node = decoded.graph!.node[0];
  assert.deepEqual(node.metadataProps.map((p) => [p.key, p.value]), [['source', 'layer1.py:12'], ['stage', 'backbone']]);
  assert.equal(node.deviceConfigurations[0].shardingSpec[0].device[1], 1n);
  assert.equal(decoded.graph!.valueInfo[0].metadataProps[0].value, 'pre-activation');
  assert.equal(decoded.graph!.input[0].metadataProps[0].value, 'image');
  assert.equal(decoded.graph!.initializer[0].metadataProps[0].value, 'zeros');
  assert.equal(decoded.configuration[0].numDevices, 2);
  assert.equal(decoded.functions[0].overload, 'v2');
});

test('a file that is not ONNX is refused as such', () => {
  const cases: [string, Uint8Array][] = [
    ['empty.onnx', new Uint8Array(0)],
    ['notes.txt', new TextEncoder().encode('this is a text file, not a model\n')],
    ['image.png', new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 1, 0])],
    ['config.json', new TextEncoder().encode('{"architectures": ["ViT"], "hidden_size": 768}')],
    ['zeros.bin', new Uint8Array(64)],
  ];
  for (const [name, bytes] of cases) {
    assert.throws(
      () => loadOnnxModel(bytes, name),
      (error: unknown) => error instanceof OnnxLoadError && error.problem === 'not-onnx' && error.message.startsWith(`${name} is not an ONNX model: `),
      name,
    );
  }
});

test('a truncated model is reported as truncated, with advice to download it again', () => {
  for (const fixture of ['convnext_style.onnx', 'vit_style.onnx', 'handbuilt_ir9_opset19.onnx']) {
    const bytes = fixtureBytes(fixture);
    for (const fraction of [0.005, 0.1, 0.33, 0.5, 0.9, 0.999]) {
      const cut = bytes.subarray(0, Math.max(1, Math.floor(bytes.length * fraction)));
      assert.throws(
        () => loadOnnxModel(cut, fixture),
        (error: unknown) =>
          error instanceof OnnxLoadError && error.problem === 'truncated' && /is truncated/.test(error.message) && /download the model again/.test(error.message),
        `${fixture} cut at ${cut.length} of ${bytes.length} bytes`,
      );
    }
  }
});

test('a model with external data files is refused, naming the files', () => {
  const model = ir10Model();
  const weights = model.graph!.initializer[0];
  weights.rawData = new Uint8Array(0);
  weights.dataLocation = TensorProto_DataLocation.EXTERNAL;
  weights.externalData = [create(StringStringEntryProtoSchema, { key: 'location', value: 'model.onnx.data' })];
  assert.throws(
    () => loadOnnxModel(toBinary(ModelProtoSchema, model), 'big.onnx'),
    (error: unknown) =>
      error instanceof OnnxLoadError && error.problem === 'external-data' && /external data files/.test(error.message) && /not support/.test(error.message) && error.message.includes('model.onnx.data'),
  );
});

test('element type names map both ways', () => {
  assert.equal(elementTypeName(TensorProto_DataType.FLOAT), 'float32');
  assert.equal(elementTypeName(TensorProto_DataType.INT64), 'int64');
  assert.equal(elementTypeName(TensorProto_DataType.DOUBLE), 'float64');
  assert.equal(elementTypeName(TensorProto_DataType.BOOL), 'bool');
  assert.equal(elementTypeName(999), 'type999');
  assert.equal(elementTypeFromName('float16'), TensorProto_DataType.FLOAT16);
  assert.equal(elementTypeFromName('nope'), undefined);
});
