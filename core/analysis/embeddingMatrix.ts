// An embedding run as one dense matrix: the input every analysis (projections, kNN, probes, label issues) starts
// from. Vectors with NaN or infinite values and vectors of another dimension are refused with the image named,
// never silently dropped or zero-filled.
import type { LibraryDb } from '../library/openLibrary.js';

export interface EmbeddingMatrix {
  runId: number;
  model: string;
  /** The embedding's output or layer name and other run parameters, as stored. */
  params: Record<string, unknown>;
  /** Row i of `vectors` belongs to imageIds[i]; ascending image ids. */
  imageIds: Int32Array;
  vectors: Float32Array;
  dim: number;
}

export interface EmbeddingRunInfo {
  runId: number;
  model: string;
  status: string;
  count: number;
  dim: number | null;
}

/** Embedding runs with their sizes, newest first. */
export function listEmbeddingRuns(db: LibraryDb): EmbeddingRunInfo[] {
  return db
    .prepare<[], { runId: number; model: string; status: string; count: number; dim: number | null }>(
      `SELECT r.id AS runId, m.name AS model, r.status,
         (SELECT count(*) FROM embeddings e WHERE e.run_id = r.id) AS count,
         (SELECT length(vector) / 4 FROM embeddings e WHERE e.run_id = r.id LIMIT 1) AS dim
       FROM runs r JOIN models m ON m.id = r.model_id WHERE r.kind = 'embed' ORDER BY r.updated_at DESC, r.id DESC`,
    )
    .all();
}

/**
 * Resolves what a user typed for an embedding run: a run id ("12") or a model name (its latest embedding run,
 * complete ones first). The error lists the runs there are.
 */
export function resolveEmbeddingRun(db: LibraryDb, ref: string | number): EmbeddingRunInfo {
  const runs = listEmbeddingRuns(db);
  const text = String(ref).trim();
  const byId = /^\d+$/.test(text) ? runs.find((r) => r.runId === Number(text)) : undefined;
  const byModel = runs.filter((r) => r.model === text).sort((a, b) => Number(b.status === 'complete') - Number(a.status === 'complete'));
  const run = byId ?? byModel[0];
  if (run) {
    if (run.count === 0) throw new Error(`Embedding run ${run.runId} (${run.model}) holds no vectors yet. Run \`miru embed --model ${run.model}\` first.`);
    return run;
  }
  const known = runs.length ? runs.map((r) => `${r.runId} (${r.model}, ${r.count} vectors)`).join(', ') : 'none';
  throw new Error(`No embedding run "${text}". Known embedding runs: ${known}. Make one with \`miru embed --db D --model NAME\`.`);
}

/** Loads a run's vectors; `imageIds` restricts to those images (ones without a vector are left out). */
export function loadEmbeddings(db: LibraryDb, ref: string | number, imageIds?: readonly number[]): EmbeddingMatrix {
  const run = resolveEmbeddingRun(db, ref);
  const meta = db
    .prepare<[number], { model: string; params: string }>('SELECT m.name AS model, r.params FROM runs r JOIN models m ON m.id = r.model_id WHERE r.id = ?')
    .get(run.runId)!;
  const wanted = imageIds ? new Set(imageIds) : null;
  const rows = db
    .prepare<[number], { image_id: number; vector: Buffer }>(
      `SELECT e.image_id, e.vector FROM embeddings e JOIN images i ON i.id = e.image_id WHERE e.run_id = ? AND i.status = 'ok' ORDER BY e.image_id`,
    )
    .iterate(run.runId);
  const ids: number[] = [];
  const chunks: Float32Array[] = [];
  let dim = -1;
  for (const row of rows) {
    if (wanted && !wanted.has(row.image_id)) continue;
    if (row.vector.byteLength % 4 !== 0) throw new Error(`Embedding run ${run.runId}: the vector of image ${row.image_id} is ${row.vector.byteLength} bytes, not whole float32 values. Re-run \`miru embed --force\`.`);
    const vector = new Float32Array(new Uint8Array(row.vector).buffer);
    if (dim === -1) dim = vector.length;
    else if (vector.length !== dim) {
      throw new Error(`Embedding run ${run.runId}: image ${row.image_id} has ${vector.length} values, the others ${dim}. The run mixes models or layers; re-run \`miru embed --force\`.`);
    }
    for (const v of vector) if (!Number.isFinite(v)) throw new Error(`Embedding run ${run.runId}: the vector of image ${row.image_id} holds NaN or infinite values. Re-embed it or remove the image.`);
    ids.push(row.image_id);
    chunks.push(vector);
  }
  if (ids.length === 0) throw new Error(`Embedding run ${run.runId} (${run.model}) has no vectors for ${wanted ? 'the chosen images' : 'any indexed image'}.`);
  const vectors = new Float32Array(ids.length * dim);
  chunks.forEach((c, i) => vectors.set(c, i * dim));
  return { runId: run.runId, model: meta.model, params: JSON.parse(meta.params) as Record<string, unknown>, imageIds: Int32Array.from(ids), vectors, dim };
}
