import type { LibraryDb } from '../library/openLibrary.js';
import { getModel, readVerifiedModel } from './modelRegistry.js';
import { runInferenceJob, type ImageOutput, type InferenceJobOptions } from './libraryInference.js';
import { openRun, finishRun, failureWriter, prepareRerun } from './runs.js';
import { loadOnnxModel, saveOnnxModel } from './onnx/onnxModel.js';
import { addGraphOutputs } from './onnx/editGraph.js';
import { shapeOf } from './onnx/tensorTypes.js';
import type { ValueInfoProto } from 'onnx-buf';

export type EmbeddingPool = 'mean' | 'cls' | 'none';

export interface EmbedOptions extends InferenceJobOptions {
  /** A graph output holding the embedding (default: the card's outputs.embedding). */
  output?: string;
  /** Any inner tensor, exposed as an extra output (e.g. a backbone feature map). */
  layer?: string;
  pool?: EmbeddingPool;
  normalize?: boolean;
  force?: boolean;
  /** Try again the images whose earlier attempt in this run failed. */
  retryFailed?: boolean;
}

export interface EmbedSummary {
  run: number;
  embedded: number;
  /** Already done by an earlier invocation of this run. */
  skipped: number;
  /** Failures recorded by an earlier invocation and not retried (see retryFailed). */
  failedBefore: number;
  /** Library images that could not be read when indexed: in no run. */
  unreadable: number;
  failed: number;
  dimension: number | null;
  ep: string;
  imagesPerSecond: number;
  status: 'complete' | 'partial';
  fallbackReasons: string[];
  failures: { path: string; error: string }[];
}

/**
 * Stores one float32 vector per image (`miru embed`), from a named output or any inner tensor. Spatial maps
 * (C,H,W) and token sequences (L,C) are pooled: `mean` over positions, `cls` takes the first token, `none`
 * keeps the flattened tensor. `normalize` scales each vector to unit length (for cosine similarity).
 */
export async function embedLibrary(db: LibraryDb, modelName: string, options: EmbedOptions = {}): Promise<EmbedSummary> {
  const model = getModel(db, modelName);
  if (options.output && options.layer) throw new Error('Pass either --output or --layer, not both.');
  const target = options.layer ?? options.output ?? model.card.outputs.embedding?.name;
  if (!target) {
    throw new Error(`The card of "${model.name}" names no embedding output. Pass --output NAME (a graph output) or --layer TENSOR (any inner tensor).`);
  }
  const pool: EmbeddingPool = options.pool ?? 'mean';
  if (!['mean', 'cls', 'none'].includes(pool)) throw new Error(`--pool must be mean, cls or none (got ${JSON.stringify(pool)}).`);
  let bytes = await readVerifiedModel(model);
  const graph = options.layer ? addGraphOutputs(loadOnnxModel(bytes, model.path), [options.layer]) : loadOnnxModel(bytes, model.path);
  if (options.layer) bytes = saveOnnxModel(graph);
  checkEmbeddingTensor(graph.graph!.output, target, pool, model.name, Boolean(options.layer));
  const params = { [options.layer ? 'layer' : 'output']: target, pool, normalize: Boolean(options.normalize) };
  const runId = openRun(db, model.id, 'embed', params);
  const prior = prepareRerun(db, runId, options);
  let dimension = db.prepare<[number], number>('SELECT length(vector) / 4 FROM embeddings WHERE run_id = ? LIMIT 1').pluck().get(runId) ?? null;

  const insert = db.prepare('INSERT OR REPLACE INTO embeddings (run_id, image_id, vector) VALUES (?, ?, ?)');
  const writeFailures = failureWriter(db, runId);
  const summary = await runInferenceJob<Float32Array>(
    db,
    {
      job: 'embed',
      runId,
      card: model.card,
      model: bytes,
      outputs: [target],
      read: (outputs) => {
        const vector = poolEmbedding(outputs[target]!, pool, Boolean(options.normalize));
        if ('error' in vector) return vector;
        if (dimension !== null && vector.length !== dimension) return { error: `embedding has ${vector.length} values, the run's others have ${dimension}` };
        dimension = vector.length;
        return vector;
      },
      write: db.transaction((rows: { imageId: number; row: Float32Array }[], failures: { imageId: number; error: string }[]) => {
        for (const { imageId, row } of rows) insert.run(runId, imageId, Buffer.from(row.buffer, row.byteOffset, row.byteLength));
        writeFailures(failures);
      }),
    },
    options,
  );
  const status = finishRun(db, runId, summary.provider);
  return {
    run: runId,
    embedded: summary.processed,
    ...prior,
    failed: summary.failed,
    dimension,
    ep: summary.provider,
    imagesPerSecond: summary.imagesPerSecond,
    status,
    fallbackReasons: summary.fallbackReasons,
    failures: summary.failures,
  };
}

/**
 * Refuses, before any run is opened, an embedding output the model does not have or a pooling its declared
 * shape cannot take: every image would fail the same way.
 */
function checkEmbeddingTensor(outputs: ValueInfoProto[], target: string, pool: EmbeddingPool, modelName: string, isLayer: boolean): void {
  const output = outputs.find((o) => o.name === target);
  if (!output) {
    throw new Error(`"${modelName}" has no output named ${JSON.stringify(target)}; its outputs are ${outputs.map((o) => o.name).join(', ')}. Pass one of them to --output, or any inner tensor to --layer (\`miru models inspect\` lists them).`);
  }
  const rank = shapeOf(output)?.length;
  if (rank === undefined || pool === 'none') return;
  const what = `${isLayer ? 'layer' : 'output'} ${target} has rank ${rank}`;
  if (pool === 'cls' && rank !== 3) throw new Error(`--pool cls takes the first token of a token sequence [batch, tokens, channels], but ${what}. Use --pool mean or none.`);
  if (rank > 4) throw new Error(`${what}; --pool ${pool} pools maps [batch, C, H, W] and token sequences [batch, tokens, C]. Use --pool none to keep the flattened tensor.`);
}

/** Pools one image's tensor (batch dimension removed) into a vector; rank 3 is (C,H,W), rank 2 is (L,C). */
export function poolEmbedding(output: ImageOutput, pool: EmbeddingPool, normalize: boolean): Float32Array | { error: string } {
  const { data, dims } = output;
  let vector: Float32Array;
  if (pool === 'none' || dims.length <= 1) vector = Float32Array.from(data);
  else if (dims.length === 3) {
    const [c, h, w] = dims as [number, number, number];
    if (pool === 'cls') return { error: `--pool cls needs a token sequence (L,C), but the tensor is a map of shape [${dims.join(',')}]` };
    vector = new Float32Array(c);
    const positions = h * w;
    for (let k = 0; k < c; k++) {
      let sum = 0;
      for (let p = 0; p < positions; p++) sum += data[k * positions + p]!;
      vector[k] = sum / positions;
    }
  } else if (dims.length === 2) {
    const [l, c] = dims as [number, number];
    vector = new Float32Array(c);
    if (pool === 'cls') vector.set(data.subarray(0, c));
    else {
      for (let t = 0; t < l; t++) for (let k = 0; k < c; k++) vector[k]! += data[t * c + k]!;
      for (let k = 0; k < c; k++) vector[k]! /= l;
    }
  } else return { error: `cannot pool a tensor of shape [${dims.join(',')}]; use --pool none` };
  for (const v of vector) if (!Number.isFinite(v)) return { error: 'the embedding holds NaN or infinite values' };
  if (normalize) {
    let norm = 0;
    for (const v of vector) norm += v * v;
    norm = Math.sqrt(norm);
    if (norm === 0) return { error: 'the embedding is all zeros and cannot be normalised' };
    for (let k = 0; k < vector.length; k++) vector[k]! /= norm;
  }
  return vector;
}
