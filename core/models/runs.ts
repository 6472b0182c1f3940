import type { LibraryDb } from '../library/openLibrary.js';

export type RunKind = 'score' | 'embed';

/** Finds the run for (model, kind, parameters) or creates it: one run per parameter set, resumed on rerun. */
export function openRun(db: LibraryDb, modelId: number, kind: RunKind, params: Record<string, unknown>): number {
  const key = JSON.stringify(params, Object.keys(params).sort());
  const existing = db.prepare<[number, string, string], number>('SELECT id FROM runs WHERE model_id = ? AND kind = ? AND params = ?').pluck().get(modelId, kind, key);
  const now = new Date().toISOString();
  if (existing !== undefined) {
    db.prepare(`UPDATE runs SET status = 'running', updated_at = ? WHERE id = ?`).run(now, existing);
    return existing;
  }
  return Number(
    db.prepare(`INSERT INTO runs (model_id, kind, params, status, created_at, updated_at) VALUES (?, ?, ?, 'running', ?, ?)`).run(modelId, kind, key, now, now)
      .lastInsertRowid,
  );
}

/**
 * What a rerun finds already done: images with a result (skipped) and images with a recorded failure (not
 * retried unless asked: an undecodable file would fail again; one fixed in place is re-indexed with new
 * content, which clears its failure). Also how many library images are unreadable and so in no run at all.
 */
export interface PriorCoverage {
  skipped: number;
  failedBefore: number;
  unreadable: number;
}

/**
 * Opens a rerun: forgets everything with `force`, only the recorded failures with `retryFailed`, and counts
 * what is left to skip.
 */
export function prepareRerun(db: LibraryDb, runId: number, options: { force?: boolean; retryFailed?: boolean }): PriorCoverage {
  if (options.force) clearRun(db, runId);
  else if (options.retryFailed) db.prepare('DELETE FROM run_failures WHERE run_id = ?').run(runId);
  const count = (sql: string) => db.prepare<[number], number>(sql).pluck().get(runId) ?? 0;
  return {
    skipped: count('SELECT count(*) FROM scores WHERE run_id = ?') + count('SELECT count(*) FROM embeddings WHERE run_id = ?'),
    failedBefore: count('SELECT count(*) FROM run_failures WHERE run_id = ?'),
    unreadable: db.prepare<[], number>(`SELECT count(*) FROM images WHERE status = 'error'`).pluck().get() ?? 0,
  };
}

/** Records a batch's per-image failures (decode errors, NaN outputs): failures are never stored as results. */
export function failureWriter(db: LibraryDb, runId: number): (failures: { imageId: number; error: string }[]) => void {
  const insert = db.prepare('INSERT OR REPLACE INTO run_failures (run_id, image_id, error) VALUES (?, ?, ?)');
  return (failures) => {
    for (const f of failures) insert.run(runId, f.imageId, f.error);
  };
}

/** Forgets a run's results and failures (for --force). */
export function clearRun(db: LibraryDb, runId: number): void {
  db.transaction(() => {
    for (const table of ['scores', 'embeddings', 'run_failures']) db.prepare(`DELETE FROM ${table} WHERE run_id = ?`).run(runId);
  })();
}

/**
 * Marks a run complete only when every usable image has a result or a recorded failure; an interrupted or
 * crashed run stays 'partial' (or 'running'), never presented as complete.
 */
export function finishRun(db: LibraryDb, runId: number, provider: string): 'complete' | 'partial' {
  const missing = db
    .prepare<{ runId: number }, number>(
      `SELECT count(*) FROM images WHERE status = 'ok'
       AND NOT EXISTS (SELECT 1 FROM scores s WHERE s.run_id = @runId AND s.image_id = images.id)
       AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.run_id = @runId AND e.image_id = images.id)
       AND NOT EXISTS (SELECT 1 FROM run_failures f WHERE f.run_id = @runId AND f.image_id = images.id)`,
    )
    .pluck()
    .get({ runId });
  const status = missing === 0 ? 'complete' : 'partial';
  db.prepare('UPDATE runs SET status = ?, provider = ?, updated_at = ? WHERE id = ?').run(status, provider, new Date().toISOString(), runId);
  return status;
}

/** The latest run of a kind for a model, preferring complete ones. */
export function latestRun(db: LibraryDb, modelId: number, kind: RunKind): { id: number; status: string; params: string } | undefined {
  return db
    .prepare<[number, string], { id: number; status: string; params: string }>(
      `SELECT id, status, params FROM runs WHERE model_id = ? AND kind = ? ORDER BY status = 'complete' DESC, updated_at DESC LIMIT 1`,
    )
    .get(modelId, kind);
}
