/**
 * Reading and writing ONNX model files (ModelProto) with onnx-buf's compiled schema.
 *
 * Decoding keeps fields this schema does not know as unknown fields, and encoding writes them back, so a model
 * from a newer exporter survives a load/save round trip. Loading refuses, with a message a person can act on,
 * bytes that are not ONNX, files cut short, and models whose weights live in external data files.
 */
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import {
  ModelProtoSchema,
  TensorProto_DataLocation,
  type GraphProto,
  type ModelProto,
  type TensorProto,
} from 'onnx-buf';

export type OnnxLoadProblem = 'not-onnx' | 'truncated' | 'external-data';

/** Why a file could not be loaded as an ONNX model; `problem` lets callers branch without parsing text. */
export class OnnxLoadError extends Error {
  override readonly name = 'OnnxLoadError';
  constructor(
    readonly problem: OnnxLoadProblem,
    readonly sourceName: string,
    message: string,
  ) {
    super(message);
  }
}

/** Decode an ONNX model file. `sourceName` (a path or label) names the file in error messages. */
export function loadOnnxModel(bytes: Uint8Array, sourceName = 'the model file'): ModelProto {
  if (bytes.length === 0) throw new OnnxLoadError('not-onnx', sourceName, `${sourceName} is not an ONNX model: the file is empty`);
  let model: ModelProto;
  try {
    model = fromBinary(ModelProtoSchema, bytes);
  } catch (error) {
    throw describeDecodeFailure(bytes, sourceName, error);
  }
  if (model.graph === undefined) {
    // Protobuf is permissive: many non-ONNX byte strings decode as a message made of unknown fields.
    throw new OnnxLoadError('not-onnx', sourceName, `${sourceName} is not an ONNX model: it has no graph (ModelProto.graph is missing)`);
  }
  const external = externalDataFiles(model);
  if (external.length > 0) {
    throw new OnnxLoadError(
      'external-data',
      sourceName,
      `${sourceName} keeps its weights in external data files, which Miru does not support yet: ${external.join(', ')}. ` +
        'Re-save the model with its data embedded (onnx.save_model(model, path, save_as_external_data=False)) ' +
        'if it is under 2 GB.',
    );
  }
  return model;
}

/** Encode a model to ONNX file bytes. */
export function saveOnnxModel(model: ModelProto): Uint8Array {
  return toBinary(ModelProtoSchema, model);
}

function describeDecodeFailure(bytes: Uint8Array, sourceName: string, error: unknown): OnnxLoadError {
  const reason = error instanceof Error ? error.message : String(error);
  if (looksTruncated(bytes)) {
    return new OnnxLoadError(
      'truncated',
      sourceName,
      `${sourceName} is truncated: it ends inside the model data (${bytes.length} bytes read). ` +
        'The download or copy was probably cut short; download the model again.',
    );
  }
  return new OnnxLoadError('not-onnx', sourceName, `${sourceName} is not an ONNX model: protobuf decoding failed (${reason})`);
}

// ModelProto's field numbers and their wire types (0 varint, 2 length-delimited), for telling a cut-off model
// from bytes that never were one.
const MODEL_FIELD_WIRE_TYPES: ReadonlyMap<number, number> = new Map([
  [1, 0], [2, 2], [3, 2], [4, 2], [5, 0], [6, 2], [7, 2], [8, 2], [14, 2], [20, 2], [25, 2], [26, 2],
]);

/**
 * True when the top level reads as a well-formed ModelProto up to a field whose declared length runs past the
 * end of the file: the signature of a file cut short. Random bytes almost never get that far.
 */
function looksTruncated(bytes: Uint8Array): boolean {
  let offset = 0;
  let fieldsSeen = 0;
  while (offset < bytes.length) {
    const tag = readVarint(bytes, offset);
    if (tag === undefined) return fieldsSeen > 0;
    offset = tag.next;
    const fieldNumber = Math.floor(tag.value / 8);
    const wireType = tag.value % 8;
    if (MODEL_FIELD_WIRE_TYPES.get(fieldNumber) !== wireType) return false;
    const value = readVarint(bytes, offset);
    if (value === undefined) return fieldsSeen > 0;
    offset = value.next;
    if (wireType === 2) {
      if (offset + value.value > bytes.length) return true;
      offset += value.value;
    }
    fieldsSeen++;
  }
  return false;
}

function readVarint(bytes: Uint8Array, start: number): { value: number; next: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let offset = start; offset < bytes.length && offset - start < 10; offset++) {
    const byte = bytes[offset];
    value += (byte & 0x7f) * scale;
    scale *= 128;
    if ((byte & 0x80) === 0) return { value, next: offset + 1 };
  }
  return undefined;
}

/** Locations of external data files referenced by any tensor in the model (initializers, Constant values, subgraphs). */
function externalDataFiles(model: ModelProto): string[] {
  const files = new Set<string>();
  const visitTensor = (tensor: TensorProto | undefined): void => {
    if (tensor === undefined) return;
    if (tensor.dataLocation === TensorProto_DataLocation.EXTERNAL || tensor.externalData.length > 0) {
      const location = tensor.externalData.find((entry) => entry.key === 'location')?.value;
      files.add(location ?? `(no location given, tensor ${tensor.name})`);
    }
  };
  const visitGraph = (graph: GraphProto | undefined): void => {
    if (graph === undefined) return;
    graph.initializer.forEach(visitTensor);
    for (const sparse of graph.sparseInitializer) {
      visitTensor(sparse.values);
      visitTensor(sparse.indices);
    }
    for (const node of graph.node) {
      for (const attribute of node.attribute) {
        visitTensor(attribute.t);
        attribute.tensors.forEach(visitTensor);
        visitGraph(attribute.g);
        attribute.graphs.forEach(visitGraph);
      }
    }
  };
  visitGraph(model.graph);
  for (const training of model.trainingInfo) {
    visitGraph(training.initialization);
    visitGraph(training.algorithm);
  }
  return [...files];
}
