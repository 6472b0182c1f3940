import type { ProviderName } from './executionProviders.js';

/** Messages between the inference pool (host thread) and its workers. Tensor buffers are transferred, not copied. */

export type TensorType = 'float32' | 'int64' | 'int32' | 'uint8' | 'float16' | 'bool';

export interface TensorPayload {
  type: TensorType;
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array | Uint16Array;
  dims: number[];
}

export type Feeds = Record<string, TensorPayload>;

export type HostMessage =
  | { type: 'init'; model: string | Uint8Array; providers: ProviderName[]; threads: number }
  | { type: 'run'; id: number; feeds: Feeds; outputs?: string[] };

export type WorkerMessage =
  | { type: 'ready'; provider: ProviderName; fallbacks: { provider: ProviderName; error: string }[]; inputNames: string[]; outputNames: string[] }
  | { type: 'init-failed'; fallbacks: { provider: ProviderName; error: string }[] }
  | { type: 'result'; id: number; outputs: Feeds }
  | { type: 'error'; id: number; message: string; outOfMemory: boolean };

/** Error texts onnxruntime and CUDA use when memory runs out; the pool halves the batch when it sees them. */
export function isOutOfMemory(message: string): boolean {
  return /failed to allocate|bad_alloc|out of memory|cudaErrorMemoryAllocation|CUDA failure 2:|allocation failed|cannot allocate/i.test(message);
}
