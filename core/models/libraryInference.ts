import os from 'node:os';
import path from 'node:path';
import type { LibraryDb } from '../library/openLibrary.js';
import type { ProgressListener } from '../jobs/progress.js';
import { mapConcurrent } from '../util/mapConcurrent.js';
import { InferencePool, OutOfMemoryError } from './inferencePool.js';
import type { ProviderChoice, ProviderName } from './executionProviders.js';
import type { Feeds } from './inferenceMessages.js';
import type { ModelCard } from './modelCard.js';
import { preprocessImage, toBatchTensor } from './preprocessImage.js';
import { describeDecodeError } from '../library/probeImage.js';
import { loadOnnxModel } from './onnx/onnxModel.js';
import { shapeOf } from './onnx/tensorTypes.js';

/**
 * Runs a model over every usable image of the library that a run has not covered yet, as one resumable job:
 * decode and preprocess of batch n+1 (sharp, on libuv's pool) overlap inference of batch n (a worker thread);
 * at most two batches are in memory; a batch that runs out of memory is split in half, and later batches use
 * the smaller size. Results are written per batch, so a crash loses at most the batches in flight.
 */

export interface InferenceJobOptions {
  ep?: ProviderChoice;
  batch?: number;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

export interface InferenceJob<Row> {
  /** 'score' or 'embed', for progress events. */
  job: string;
  runId: number;
  card: ModelCard;
  /** The model's bytes (possibly edited, e.g. with an extra output). */
  model: Uint8Array;
  /** The outputs to fetch. */
  outputs: string[];
  /** Turns one image's outputs (batch dimension removed) into a row to store, or an error to record. */
  read: (outputs: Record<string, ImageOutput>) => Row | { error: string };
  /** Writes a batch of rows and failures in one transaction. */
  write: (rows: { imageId: number; row: Row }[], failures: { imageId: number; error: string }[]) => void;
}

export interface InferenceJobSummary {
  processed: number;
  failed: number;
  failures: { path: string; error: string }[];
  provider: ProviderName;
  fallbackReasons: string[];
  batchSize: number;
  seconds: number;
  /** Images finished (stored or failed) per second of the whole job, session start included. */
  imagesPerSecond: number;
  interrupted: boolean;
}

export interface ImageOutput {
  data: Float32Array;
  /** The output's dimensions without the batch dimension. */
  dims: number[];
}

interface PendingImage {
  id: number;
  file: string;
}

const CHUNK = 1024;
const MAX_REPORTED_FAILURES = 100;

export async function runInferenceJob<Row>(db: LibraryDb, job: InferenceJob<Row>, options: InferenceJobOptions): Promise<InferenceJobSummary> {
  const started = performance.now();
  let batchSize = options.batch ?? 16;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error('--batch must be a positive whole number.');
  // Models exported with a fixed batch dimension (often 1) accept only that many images per run.
  const fixedBatch = shapeOf(loadOnnxModel(job.model).graph!.input.find((i) => i.name === job.card.input.name))?.[0];
  if (typeof fixedBatch === 'number' && fixedBatch > 0) batchSize = Math.min(batchSize, fixedBatch);
  const pending = pendingImages(db, job.runId);
  const total = pending.count();
  const pool = await InferencePool.create(job.model, { ep: options.ep });
  const summary: InferenceJobSummary = {
    processed: 0,
    failed: 0,
    failures: [],
    provider: pool.provider,
    fallbackReasons: pool.fallbackReasons,
    batchSize,
    seconds: 0,
    imagesPerSecond: 0,
    interrupted: false,
  };
  const progress = (done: number) => options.onProgress?.({ job: job.job, phase: 'infer', done, total });
  progress(0);
  const lanes = decodeLanes();
  const recordFailures = (failures: { imageId: number; file: string; error: string }[]) => {
    summary.failed += failures.length;
    for (const f of failures) if (summary.failures.length < MAX_REPORTED_FAILURES) summary.failures.push({ path: f.file, error: f.error });
  };

  const runBatch = async (tensors: Float32Array[]) => {
    const batch = toBatchTensor(tensors, job.card);
    const feeds: Feeds = { [job.card.input.name]: { type: 'float32', data: batch.data, dims: batch.dims } };
    return pool.run(feeds, job.outputs);
  };
  const infer = (images: { image: PendingImage; tensor: Float32Array }[]) =>
    inferSplittingOnOutOfMemory(images, runBatch, (size) => {
      batchSize = Math.min(batchSize, size);
      summary.batchSize = batchSize;
    });

  const handleBatch = async (prepared: { image: PendingImage; tensor: Float32Array }[]) => {
    const results = await infer(prepared);
    const rows: { imageId: number; row: Row }[] = [];
    const failures: { imageId: number; file: string; error: string }[] = [];
    for (const result of results) {
      const read = result.outputs ? job.read(result.outputs) : { error: result.error! };
      if (read && typeof read === 'object' && 'error' in read && typeof read.error === 'string') failures.push({ imageId: result.image.id, file: result.image.file, error: read.error });
      else rows.push({ imageId: result.image.id, row: read as Row });
    }
    job.write(rows, failures);
    summary.processed += rows.length;
    recordFailures(failures);
    progress(summary.processed + summary.failed);
  };

  let inFlight: Promise<void> | null = null;
  try {
    for (const chunk of pending.chunks()) {
      for (let start = 0; start < chunk.length; ) {
        if (options.signal?.aborted) {
          summary.interrupted = true;
          break;
        }
        const slice = chunk.slice(start, start + batchSize);
        start += slice.length;
        // Preprocess this batch while the previous one is in the worker.
        const prepared: { image: PendingImage; tensor: Float32Array }[] = [];
        const decodeFailures: { imageId: number; file: string; error: string }[] = [];
        await mapConcurrent(slice, lanes, async (image) => {
          try {
            prepared.push({ image, tensor: await preprocessImage(image.file, job.card) });
          } catch (error) {
            decodeFailures.push({ imageId: image.id, file: image.file, error: describeDecodeError(error, image.file) });
          }
        });
        if (decodeFailures.length) {
          job.write([], decodeFailures);
          recordFailures(decodeFailures);
        }
        if (inFlight) await inFlight;
        inFlight = prepared.length ? handleBatch(prepared) : null;
      }
      if (summary.interrupted) break;
    }
    if (inFlight) await inFlight;
  } finally {
    await pool.close();
  }
  summary.seconds = (performance.now() - started) / 1000;
  summary.imagesPerSecond = summary.seconds > 0 ? Math.round(((summary.processed + summary.failed) / summary.seconds) * 10) / 10 : 0;
  return summary;
}

/** Images decoded at once: sharp's work runs on libuv's pool, so one in flight per core keeps every core busy. */
export function decodeLanes(): number {
  return Math.max(2, os.availableParallelism());
}

/**
 * Infers one batch; when the provider runs out of memory the batch is split in half and each half retried,
 * down to single images, and `onSmallerBatch` learns the size that fit so later batches start there.
 */
export async function inferSplittingOnOutOfMemory<T extends { tensor: Float32Array }>(
  items: T[],
  runBatch: (tensors: Float32Array[]) => Promise<Feeds>,
  onSmallerBatch: (size: number) => void,
): Promise<(T & { outputs?: Record<string, ImageOutput>; error?: string })[]> {
  try {
    const outputs = await runBatch(items.map((i) => i.tensor));
    return items.map((item, index) => ({ ...item, outputs: sliceOutputs(outputs, index, items.length) }));
  } catch (error) {
    if (error instanceof OutOfMemoryError && items.length > 1) {
      const half = Math.ceil(items.length / 2);
      onSmallerBatch(half);
      return [...(await inferSplittingOnOutOfMemory(items.slice(0, half), runBatch, onSmallerBatch)), ...(await inferSplittingOnOutOfMemory(items.slice(half), runBatch, onSmallerBatch))];
    }
    const message = error instanceof OutOfMemoryError ? `out of memory even for a batch of 1 (${error.message})` : (error as Error).message;
    return items.map((item) => ({ ...item, error: message }));
  }
}

/** Images with status ok that this run has neither a result nor a recorded failure for, in id order. */
function pendingImages(db: LibraryDb, runId: number) {
  const where = `images.status = 'ok'
    AND NOT EXISTS (SELECT 1 FROM scores s WHERE s.run_id = @runId AND s.image_id = images.id)
    AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.run_id = @runId AND e.image_id = images.id)
    AND NOT EXISTS (SELECT 1 FROM run_failures f WHERE f.run_id = @runId AND f.image_id = images.id)`;
  const page = db.prepare<{ runId: number; after: number; limit: number }, { id: number; root: string; rel_path: string }>(
    `SELECT images.id, roots.path AS root, images.rel_path FROM images JOIN roots ON roots.id = images.root_id
     WHERE ${where} AND images.id > @after ORDER BY images.id LIMIT @limit`,
  );
  return {
    count: () => db.prepare<{ runId: number }, number>(`SELECT count(*) FROM images WHERE ${where}`).pluck().get({ runId }) ?? 0,
    *chunks(): Generator<PendingImage[]> {
      let after = 0;
      for (;;) {
        const rows = page.all({ runId, after, limit: CHUNK });
        if (rows.length === 0) return;
        after = rows[rows.length - 1]!.id;
        yield rows.map((r) => ({ id: r.id, file: path.join(r.root, ...r.rel_path.split('/')) }));
      }
    },
  };
}

/** Takes image `index` of a batch out of every output, as float32 (other numeric types are converted). */
function sliceOutputs(outputs: Feeds, index: number, batch: number): Record<string, ImageOutput> {
  const sliced: Record<string, ImageOutput> = {};
  for (const [name, tensor] of Object.entries(outputs)) {
    const per = tensor.data.length / batch;
    const part = tensor.data.subarray(index * per, (index + 1) * per);
    const data = part instanceof Float32Array ? part : Float32Array.from(part as ArrayLike<number>, Number);
    sliced[name] = { data, dims: tensor.dims.slice(1) };
  }
  return sliced;
}
