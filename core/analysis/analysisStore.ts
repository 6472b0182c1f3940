// Stored analysis results (schema v6): one row in `analyses` per (kind, source embedding run, parameters), with
// per-image values in `analysis_values` and their number in `analyses.value_count` (schema v7). Projections, outlier scores, label issues, consensus labels, pseudo-labels
// and per-rater model predictions all live here, so the UI can list, colour and filter by any of them the same way.
import type { LibraryDb } from '../library/openLibrary.js';

export type AnalysisKind =
  | 'projection'
  | 'outliers'
  | 'label-issues'
  | 'consensus'
  | 'rater-clusters'
  | 'rater-models'
  | 'pseudo-labels'
  | 'soft-labels'
  | 'near-duplicates'
  | 'image-issues'
  | 'probe'
  /** A probe job's whole comparison of backbones (core/api/probesApi.ts); per image the backbones' spread. */
  | 'probe-report'
  /** A set of images picked by hand (a lasso on the map); the `selection=ID` filter lists it. */
  | 'selection';

export interface AnalysisValue {
  imageId: number;
  /** The per-image scalar; null where the analysis has none for this image. */
  value: number | null;
  /** A small per-image vector (projection coordinates, a label distribution). */
  extra?: Float32Array | null;
}

export interface AnalysisRecord {
  id: number;
  kind: AnalysisKind;
  sourceRunId: number | null;
  params: Record<string, unknown>;
  summary: Record<string, unknown>;
  createdAt: string;
  /** Per-image values stored. */
  count: number;
  /** What it was computed from (see staleReasons); absent for analyses stored before Miru kept one. */
  basis?: AnalysisBasis;
}

/** Fingerprints of the inputs an analysis read; kept beside its summary in the stored JSON. */
export interface AnalysisBasis {
  images: string;
  ratings?: string;
}

/** An analysis with the name of the model whose run it was computed from (null: no source run, or it is gone). */
export interface AnalysisWithModel extends AnalysisRecord {
  model: string | null;
}

/** Canonical JSON (sorted keys at every level), so the same recipe always finds the same row. */
export function canonicalParams(params: Record<string, unknown>): string {
  return JSON.stringify(params, (_key, value: unknown) =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : value,
  );
}

export interface SaveAnalysisInput {
  kind: AnalysisKind;
  sourceRunId: number | null;
  params: Record<string, unknown>;
  summary: Record<string, unknown>;
  values: Iterable<AnalysisValue>;
}

/** Kinds computed from human ratings: a later change to the ratings makes them out of date. */
const RATING_KINDS: ReadonlySet<AnalysisKind> = new Set(['label-issues', 'consensus', 'rater-clusters', 'rater-models', 'pseudo-labels', 'soft-labels', 'probe', 'probe-report']);

/**
 * A cheap fingerprint of what analyses are computed from: the usable images (count, ids, newest index time, which
 * moves when a file is re-read) and the ratings (count and value sums weighted by image and rater, so a changed
 * rating moves it). Stored with each analysis as its `basis` (ratings only for rating-based kinds).
 */
function imagesBasis(db: LibraryDb): string {
  return db.prepare(`SELECT count(*) || ':' || total(id) || ':' || IFNULL(max(indexed_at), '') FROM images WHERE status = 'ok'`).pluck().get() as string;
}
function ratingsBasis(db: LibraryDb): string {
  return db.prepare(`SELECT count(*) || ':' || total(value) || ':' || total(value * image_id) || ':' || total(value * rater_id) FROM ratings`).pluck().get() as string;
}

/** The library's fingerprint now, to compare stored analyses with (one pass each over images and ratings). */
export function currentBasis(db: LibraryDb): Required<AnalysisBasis> {
  return { images: imagesBasis(db), ratings: ratingsBasis(db) };
}

/**
 * Why a stored analysis may no longer describe the library: its images were re-read, added or removed, or the
 * ratings changed, since it was computed. Empty when nothing changed (or for analyses stored before Miru kept a
 * basis, which cannot tell). Pass `now` when checking many analyses.
 */
export function staleReasons(db: LibraryDb, record: AnalysisRecord, now: Required<AnalysisBasis> = currentBasis(db)): string[] {
  const basis = record.basis;
  if (!basis) return [];
  const reasons: string[] = [];
  if (basis.images !== now.images) reasons.push('images were added, removed or re-read since');
  if (basis.ratings !== undefined && basis.ratings !== now.ratings) reasons.push('the ratings changed since');
  return reasons;
}

/**
 * Stores a finished result, replacing an earlier result of the same recipe, in one transaction: a failure part
 * way leaves the earlier result untouched, never half of each. Returns the new analysis id.
 */
export function saveAnalysis(db: LibraryDb, input: SaveAnalysisInput): number {
  const key = canonicalParams(input.params);
  const basis: AnalysisBasis = RATING_KINDS.has(input.kind) ? currentBasis(db) : { images: imagesBasis(db) };
  const summary = { ...input.summary, basis };
  return db.transaction(() => {
    db.prepare('DELETE FROM analyses WHERE kind = ? AND IFNULL(source_run_id, 0) = IFNULL(?, 0) AND params = ?').run(input.kind, input.sourceRunId, key);
    const id = Number(
      db
        .prepare('INSERT INTO analyses (kind, source_run_id, params, summary, created_at, value_count) VALUES (?, ?, ?, ?, ?, 0)')
        .run(input.kind, input.sourceRunId, key, JSON.stringify(summary), new Date().toISOString()).lastInsertRowid,
    );
    const insert = db.prepare('INSERT INTO analysis_values (analysis_id, image_id, value, extra) VALUES (?, ?, ?, ?)');
    // The values may be a generator, so they are counted as they go in; a repeated image id fails the insert (and
    // rolls the whole save back), so the count is exactly the rows stored.
    let count = 0;
    for (const v of input.values) {
      const value = v.value === null || Number.isFinite(v.value) ? v.value : null;
      insert.run(id, v.imageId, value, v.extra ? Buffer.from(v.extra.buffer, v.extra.byteOffset, v.extra.byteLength) : null);
      count++;
    }
    db.prepare('UPDATE analyses SET value_count = ? WHERE id = ?').run(count, id);
    return id;
  })();
}

interface AnalysisRow {
  id: number;
  kind: AnalysisKind;
  source_run_id: number | null;
  params: string;
  summary: string;
  created_at: string;
  count: number;
  model: string | null;
}

function toRecord(row: AnalysisRow): AnalysisRecord {
  const { basis, ...summary } = JSON.parse(row.summary) as Record<string, unknown> & { basis?: AnalysisBasis };
  return {
    id: row.id,
    kind: row.kind,
    sourceRunId: row.source_run_id,
    params: JSON.parse(row.params) as Record<string, unknown>,
    summary,
    createdAt: row.created_at,
    count: row.count,
    ...(basis ? { basis } : {}),
  };
}

const withModel = (row: AnalysisRow): AnalysisWithModel => ({ ...toRecord(row), model: row.model });

// The model name costs two primary-key lookups per analysis, so every reader gets it from the same query.
const SELECT_ANALYSIS = `SELECT a.id, a.kind, a.source_run_id, a.params, a.summary, a.created_at, a.value_count AS count, m.name AS model
  FROM analyses a LEFT JOIN runs r ON r.id = a.source_run_id LEFT JOIN models m ON m.id = r.model_id`;

function analysisRows(db: LibraryDb, filter: { kind?: AnalysisKind; sourceRunId?: number }): AnalysisRow[] {
  return db
    .prepare<{ kind: string | null; run: number | null }, AnalysisRow>(
      `${SELECT_ANALYSIS} WHERE (@kind IS NULL OR a.kind = @kind) AND (@run IS NULL OR a.source_run_id = @run) ORDER BY a.created_at DESC, a.id DESC`,
    )
    .all({ kind: filter.kind ?? null, run: filter.sourceRunId ?? null });
}

/** Stored analyses, newest first, optionally of one kind and/or one source run. */
export function listAnalyses(db: LibraryDb, filter: { kind?: AnalysisKind; sourceRunId?: number } = {}): AnalysisRecord[] {
  return analysisRows(db, filter).map(toRecord);
}

/** listAnalyses, each with the name of its source run's model. */
export function listAnalysesWithModel(db: LibraryDb, filter: { kind?: AnalysisKind; sourceRunId?: number } = {}): AnalysisWithModel[] {
  return analysisRows(db, filter).map(withModel);
}

/** The analysis with this id and the name of its source run's model, if it is stored. */
export function getAnalysisWithModel(db: LibraryDb, id: number): AnalysisWithModel | null {
  const row = db.prepare<[number], AnalysisRow>(`${SELECT_ANALYSIS} WHERE a.id = ?`).get(id);
  return row ? withModel(row) : null;
}

export function getAnalysis(db: LibraryDb, id: number): AnalysisRecord | null {
  const row = db.prepare<[number], AnalysisRow>(`${SELECT_ANALYSIS} WHERE a.id = ?`).get(id);
  return row ? toRecord(row) : null;
}

/** The stored result of exactly this recipe, if any. */
export function findAnalysis(db: LibraryDb, kind: AnalysisKind, sourceRunId: number | null, params: Record<string, unknown>): AnalysisRecord | null {
  const row = db
    .prepare<[string, number | null, string], AnalysisRow>(`${SELECT_ANALYSIS} WHERE a.kind = ? AND IFNULL(a.source_run_id, 0) = IFNULL(?, 0) AND a.params = ?`)
    .get(kind, sourceRunId, canonicalParams(params));
  return row ? toRecord(row) : null;
}

/** Per-image values in image-id order. */
export function readAnalysisValues(db: LibraryDb, analysisId: number): AnalysisValue[] {
  return db
    .prepare<[number], { image_id: number; value: number | null; extra: Buffer | null }>('SELECT image_id, value, extra FROM analysis_values WHERE analysis_id = ? ORDER BY image_id')
    .all(analysisId)
    .map((r) => ({
      imageId: r.image_id,
      value: r.value,
      // Copy: a Buffer may be a view into a shared pool at an offset that is not float-aligned.
      extra: r.extra ? new Float32Array(new Uint8Array(r.extra).buffer) : null,
    }));
}

export function deleteAnalysis(db: LibraryDb, id: number): boolean {
  return db.prepare('DELETE FROM analyses WHERE id = ?').run(id).changes > 0;
}
