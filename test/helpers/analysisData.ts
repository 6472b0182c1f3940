// Stored model outputs written straight into a library, for tests of analyses that read them: the rows `miru
// score` and `miru embed` would write, with values the test chooses (clusters, known probabilities) and without
// running a model.
import type { LibraryDb } from '../../core/library/openLibrary.js';
import type { ScoreOutput } from '../../core/models/modelCard.js';

function storeModel(db: LibraryDb, name: string, outputs: Record<string, unknown>): number {
  const card = { name, input: {}, outputs };
  return Number(
    db.prepare('INSERT INTO models (name, path, sha256, card, added_at) VALUES (?, ?, ?, ?, ?)').run(name, `/models/${name}.onnx`, 'test', JSON.stringify(card), new Date().toISOString())
      .lastInsertRowid,
  );
}

function storeRun(db: LibraryDb, modelId: number, kind: 'score' | 'embed'): number {
  const now = new Date().toISOString();
  return Number(db.prepare(`INSERT INTO runs (model_id, kind, params, status, created_at, updated_at) VALUES (?, ?, '{}', 'complete', ?, ?)`).run(modelId, kind, now, now).lastInsertRowid);
}

/** A model with a complete score run holding the given class probabilities per image id. Returns the run id. */
export function storeScores(db: LibraryDb, name: string, score: ScoreOutput, probs: Map<number, number[]>): number {
  const runId = storeRun(db, storeModel(db, name, { score }), 'score');
  const insert = db.prepare('INSERT INTO scores (run_id, image_id, score, probs) VALUES (?, ?, ?, ?)');
  for (const [imageId, p] of probs) insert.run(runId, imageId, 0, Buffer.from(Float32Array.from(p).buffer));
  return runId;
}

/** A model with a complete embedding run holding the given vectors per image id. Returns the run id. */
export function storeEmbeddings(db: LibraryDb, name: string, vectors: Map<number, number[]>): number {
  const runId = storeRun(db, storeModel(db, name, { embedding: { name: 'embedding' } }), 'embed');
  const insert = db.prepare('INSERT INTO embeddings (run_id, image_id, vector) VALUES (?, ?, ?)');
  for (const [imageId, v] of vectors) insert.run(runId, imageId, Buffer.from(Float32Array.from(v).buffer));
  return runId;
}

/**
 * Vectors in `classes` well-separated directions with a little seeded noise: image i belongs to cluster
 * cluster(i). Label propagation over them should recover the clusters exactly.
 */
export function clusteredVectors(ids: readonly number[], cluster: (index: number) => number, dim = 8, noise = 0.15, seed = 3): Map<number, number[]> {
  let state = seed >>> 0 || 1;
  const random = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  };
  return new Map(
    ids.map((id, i) => {
      const c = cluster(i);
      return [id, Array.from({ length: dim }, (_, d) => (d === c % dim ? 1 : 0) + noise * random())];
    }),
  );
}
