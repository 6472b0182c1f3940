/** Shared by the ONNX tests: fixture files, running a model in onnxruntime-node, seeded random inputs. */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';
import type { ModelProto } from 'onnx-buf';
import { saveOnnxModel } from '../../../../core/models/onnx/onnxModel.js';
import { repoRoot } from '../../../helpers/paths.js';

export const fixturesDir = path.join(repoRoot, 'test', 'fixtures', 'models');

export function fixtureBytes(name: string): Uint8Array {
  return new Uint8Array(readFileSync(path.join(fixturesDir, name)));
}

export function fixtureNames(): string[] {
  return readdirSync(fixturesDir).filter((name) => name.endsWith('.onnx')).sort();
}

export type Outputs = Record<string, { dims: number[]; data: Float32Array }>;

/** Run a model (bytes or ModelProto) once and return its outputs as float32 (integer outputs converted). */
export async function runModel(model: Uint8Array | ModelProto, feeds: Record<string, ort.Tensor>): Promise<Outputs> {
  const bytes = model instanceof Uint8Array ? model : saveOnnxModel(model);
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  try {
    const results = await session.run(feeds);
    const outputs: Outputs = {};
    for (const [name, tensor] of Object.entries(results)) {
      const values = tensor.data as Float32Array | BigInt64Array;
      const data = values instanceof BigInt64Array ? Float32Array.from(values, Number) : Float32Array.from(values);
      outputs[name] = { dims: [...tensor.dims], data };
    }
    return outputs;
  } finally {
    await session.release();
  }
}

/** A float32 tensor of seeded uniform values in [-1, 1) (mulberry32). */
export function randomTensor(dims: number[], seed: number): ort.Tensor {
  const count = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(count);
  let state = seed >>> 0;
  for (let i = 0; i < count; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    data[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return new ort.Tensor('float32', data, dims);
}

export function floatTensor(output: { dims: number[]; data: Float32Array }): ort.Tensor {
  return new ort.Tensor('float32', output.data, output.dims);
}

export function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}
