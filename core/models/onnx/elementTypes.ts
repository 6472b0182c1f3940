/**
 * ONNX element types (TensorProto.DataType numbers) as the short names Miru reports and onnxruntime-node uses
 * for its tensors ('float32', 'int64', ...).
 */
import { TensorProto_DataType as DataType } from 'onnx-buf';

const ELEMENT_TYPE_NAMES: Record<number, string> = {
  [DataType.UNDEFINED]: 'undefined',
  [DataType.FLOAT]: 'float32',
  [DataType.UINT8]: 'uint8',
  [DataType.INT8]: 'int8',
  [DataType.UINT16]: 'uint16',
  [DataType.INT16]: 'int16',
  [DataType.INT32]: 'int32',
  [DataType.INT64]: 'int64',
  [DataType.STRING]: 'string',
  [DataType.BOOL]: 'bool',
  [DataType.FLOAT16]: 'float16',
  [DataType.DOUBLE]: 'float64',
  [DataType.UINT32]: 'uint32',
  [DataType.UINT64]: 'uint64',
  [DataType.COMPLEX64]: 'complex64',
  [DataType.COMPLEX128]: 'complex128',
  [DataType.BFLOAT16]: 'bfloat16',
  [DataType.FLOAT8E4M3FN]: 'float8e4m3fn',
  [DataType.FLOAT8E4M3FNUZ]: 'float8e4m3fnuz',
  [DataType.FLOAT8E5M2]: 'float8e5m2',
  [DataType.FLOAT8E5M2FNUZ]: 'float8e5m2fnuz',
  [DataType.UINT4]: 'uint4',
  [DataType.INT4]: 'int4',
  [DataType.FLOAT4E2M1]: 'float4e2m1',
  [DataType.FLOAT8E8M0]: 'float8e8m0',
  [DataType.UINT2]: 'uint2',
  [DataType.INT2]: 'int2',
};

/** Bits per element, for sizing tensors; strings have no fixed size and are left out. */
const ELEMENT_BITS: Record<number, number> = {
  [DataType.FLOAT]: 32, [DataType.UINT8]: 8, [DataType.INT8]: 8, [DataType.UINT16]: 16, [DataType.INT16]: 16,
  [DataType.INT32]: 32, [DataType.INT64]: 64, [DataType.BOOL]: 8, [DataType.FLOAT16]: 16, [DataType.DOUBLE]: 64,
  [DataType.UINT32]: 32, [DataType.UINT64]: 64, [DataType.COMPLEX64]: 64, [DataType.COMPLEX128]: 128,
  [DataType.BFLOAT16]: 16, [DataType.FLOAT8E4M3FN]: 8, [DataType.FLOAT8E4M3FNUZ]: 8, [DataType.FLOAT8E5M2]: 8,
  [DataType.FLOAT8E5M2FNUZ]: 8, [DataType.UINT4]: 4, [DataType.INT4]: 4, [DataType.FLOAT4E2M1]: 4,
  [DataType.FLOAT8E8M0]: 8, [DataType.UINT2]: 2, [DataType.INT2]: 2,
};

/** 'float32' for FLOAT, 'int64' for INT64, ...; a number this schema does not know becomes 'type<N>'. */
export function elementTypeName(dataType: number): string {
  return ELEMENT_TYPE_NAMES[dataType] ?? `type${dataType}`;
}

/** The DataType number for a name from elementTypeName, or undefined. */
export function elementTypeFromName(name: string): number | undefined {
  for (const [number, known] of Object.entries(ELEMENT_TYPE_NAMES)) if (known === name) return Number(number);
  return undefined;
}

/** Bits one element takes in raw_data, or undefined for strings and unknown types. */
export function elementBits(dataType: number): number | undefined {
  return ELEMENT_BITS[dataType];
}
