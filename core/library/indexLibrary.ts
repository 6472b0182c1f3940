import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { refreshPlannerStatistics, type LibraryDb } from './openLibrary.js';
import { scanFolder, type ScannedFile, type ScanProblem } from './scanFolders.js';
import { readImageFile, measureImage, type ProbedImage, DEFAULT_MAX_PIXELS } from './probeImage.js';
import type { ProgressListener } from '../jobs/progress.js';
import { mapConcurrent } from '../util/mapConcurrent.js';

export interface IndexOptions {
  cacheDir: string;
  maxPixels?: number;
  /** Files decoded at once. Decoding runs on libuv's thread pool, so this is what keeps every core busy. */
  concurrency?: number;
  /** Re-read files that failed before even when unchanged (e.g. after raising --max-pixels). */
  retryErrors?: boolean;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

export interface IndexSummary {
  /** Images usable in the library after this run (status ok, all roots). */
  indexed: number;
  /** Counts for this run. */
  added: number;
  updated: number;
  unchanged: number;
  moved: number;
  missing: number;
  /**
   * Updated images whose content changed: their model results (scores, vectors, run failures, saliency maps)
   * described the old content and were removed, so the next `miru score` / `embed` redoes them.
   */
  contentChanged: number;
  errors: ScanProblem[];
  /** Files in an image format Miru refuses, with the reason. */
  refused: ScanProblem[];
}

interface KnownImage {
  id: number;
  rootId: number;
  relPath: string;
  bytes: number;
  mtimeMs: number;
  status: 'ok' | 'error' | 'missing';
  error: string | null;
  contentHash: string | null;
}

/** One finished file, waiting for the next batched write. */
type Outcome =
  | { kind: 'measured'; rootId: number; file: ScannedFile; existingId: number | null; image: ProbedImage }
  | { kind: 'failed'; rootId: number; file: ScannedFile; existingId: number | null; error: string; contentHash: string | null }
  | { kind: 'moved'; rootId: number; file: ScannedFile; movedId: number }
  | { kind: 'vanished'; existingId: number | null };

const BATCH_SIZE = 256;
const BATCH_MAX_WAIT_MS = 500;

/**
 * Indexes image folders into the library: new files are added, changed ones (size or mtime) re-read, unchanged
 * ones skipped, vanished ones marked missing (their ratings and tags stay), and a file that moved or was renamed
 * keeps its id, ratings and tags because its content hash matches the vanished row.
 *
 * Crash safety: results are committed in small transactions as they finish, each row only after its thumbnail
 * is on disk, so a killed run leaves a consistent database and the next run skips everything already committed.
 */
export async function indexLibrary(db: LibraryDb, folders: string[], options: IndexOptions): Promise<IndexSummary> {
  const progress = options.onProgress ?? (() => {});
  const summary: IndexSummary = { indexed: 0, added: 0, updated: 0, unchanged: 0, moved: 0, missing: 0, contentChanged: 0, errors: [], refused: [] };
  const roots = await resolveRoots(db, folders);

  // 1. Walk every root before touching the database, so vanished files (move candidates) are known up front.
  const scanned: { rootId: number; file: ScannedFile }[] = [];
  for (const root of roots) {
    const result = await scanFolder(root.path, {
      exclude: [options.cacheDir],
      onFound: (count) => progress({ job: 'index', phase: 'scan', done: scanned.length + count, total: null, message: root.path }),
    });
    for (const file of result.files) scanned.push({ rootId: root.id, file });
    summary.errors.push(...result.errors);
    summary.refused.push(...result.refused);
  }

  // 2. Compare with what the library knows about these roots.
  const known = new Map<string, KnownImage>();
  const selectKnown = db.prepare<[number], KnownImage>(
    `SELECT id, root_id AS rootId, rel_path AS relPath, bytes, mtime_ms AS mtimeMs, status, error, content_hash AS contentHash
     FROM images WHERE root_id = ?`,
  );
  for (const root of roots) for (const row of selectKnown.iterate(root.id)) known.set(key(row.rootId, row.relPath), row);

  const seen = new Set<number>();
  const reappeared: number[] = [];
  const work: { rootId: number; file: ScannedFile; existing: KnownImage | null }[] = [];
  // A library copied or moved without its `<db>.cache` folder has no thumbnails: unchanged images are read again
  // to make them (their content hash stays, so their scores, ratings and tags stay too).
  const thumbnailsLost = known.size > 0 && !existsSync(path.join(options.cacheDir, 'thumbs'));
  for (const { rootId, file } of scanned) {
    const existing = known.get(key(rootId, file.relPath)) ?? null;
    if (existing) seen.add(existing.id);
    const same = existing && existing.bytes === file.bytes && existing.mtimeMs === file.mtimeMs;
    if (same && existing.status === 'ok' && !thumbnailsLost) summary.unchanged++;
    // A read error (permissions, a flaky disk) can heal without the file changing, so it is always retried.
    else if (same && existing.status === 'error' && !options.retryErrors && !existing.error?.startsWith('cannot read file')) summary.unchanged++;
    else if (same && existing.status === 'missing') reappeared.push(existing.id);
    else work.push({ rootId, file, existing });
  }
  // Rows not seen in this walk are candidates for moves; whatever is not claimed by a move becomes missing.
  const vanishedByHash = new Map<string, KnownImage[]>();
  const vanished = new Set<number>();
  for (const row of known.values()) {
    if (seen.has(row.id)) continue;
    if (row.status !== 'missing') vanished.add(row.id);
    if (row.contentHash) vanishedByHash.set(row.contentHash, [...(vanishedByHash.get(row.contentHash) ?? []), row]);
  }
  // Files already missing under other roots can also be the source of a move between roots.
  const otherMissing = db.prepare<[], KnownImage>(
    `SELECT id, root_id AS rootId, rel_path AS relPath, bytes, mtime_ms AS mtimeMs, status, error, content_hash AS contentHash
     FROM images WHERE status = 'missing' AND content_hash IS NOT NULL`,
  );
  const rootIds = new Set(roots.map((r) => r.id));
  for (const row of otherMissing.iterate()) {
    if (rootIds.has(row.rootId)) continue;
    vanishedByHash.set(row.contentHash!, [...(vanishedByHash.get(row.contentHash!) ?? []), row]);
  }

  const writer = new BatchWriter(db, summary);
  writer.restoreReappeared(reappeared);

  // 3. Read, hash and decode the new and changed files concurrently; write results in batches.
  const total = work.length;
  let done = 0;
  progress({ job: 'index', phase: 'index', done: 0, total });
  const concurrency = options.concurrency ?? Math.max(2, os.availableParallelism());
  // Files finish out of order (concurrent decoding), but they are written in scan order, so new images get their
  // ids in sorted path order: indexing the same folder twice gives the same ids, and with them the same seeded
  // folds and samples in every analysis. Outcomes wait here until the ones before them are written (a few at most).
  const finished = new Map<number, Outcome>();
  let nextToWrite = 0;
  const writeInOrder = () => {
    for (let outcome = finished.get(nextToWrite); outcome !== undefined; outcome = finished.get(nextToWrite)) {
      finished.delete(nextToWrite++);
      writer.add(outcome);
    }
  };
  // Whatever finished is committed even when the run is interrupted (Ctrl-C) or a file throws unexpectedly.
  try {
    await mapConcurrent(
    work,
    concurrency,
    async ({ rootId, file, existing }, index) => {
      const outcome = await processFile(rootId, file, existing, vanishedByHash, options);
      if (outcome.kind === 'moved') vanished.delete(outcome.movedId);
      if (outcome.kind === 'failed') summary.errors.push({ path: file.absPath, error: outcome.error });
      if (outcome.kind === 'vanished') summary.errors.push({ path: file.absPath, error: 'vanished during the scan (deleted or moved while Miru was working)' });
      finished.set(index, outcome);
      writeInOrder();
      progress({ job: 'index', phase: 'index', done: ++done, total, message: file.relPath });
    },
    options.signal,
  );
  } finally {
    // An interrupted run leaves gaps: what did finish is still written, in order.
    for (const index of [...finished.keys()].sort((a, b) => a - b)) writer.add(finished.get(index)!);
    writer.flush();
    writer.stopTimer();
  }

  // 4. Only a finished walk can say a file is gone: mark the unclaimed vanished rows missing.
  writer.markMissing([...vanished]);
  refreshPlannerStatistics(db);
  summary.indexed = (db.prepare(`SELECT count(*) AS n FROM images WHERE status = 'ok'`).get() as { n: number }).n;
  return summary;
}

async function processFile(
  rootId: number,
  file: ScannedFile,
  existing: KnownImage | null,
  vanishedByHash: Map<string, KnownImage[]>,
  options: IndexOptions,
): Promise<Outcome> {
  const existingId = existing?.id ?? null;
  const read = await readImageFile(file.absPath);
  if (!read.ok) {
    if (read.vanished) return { kind: 'vanished', existingId };
    return { kind: 'failed', rootId, file, existingId, error: read.error, contentHash: read.contentHash };
  }
  if (!existing) {
    // A new path whose bytes match a vanished row is that image, moved or renamed: keep its id, ratings and tags.
    const candidates = vanishedByHash.get(read.contentHash);
    const source = candidates?.shift();
    if (source) return { kind: 'moved', rootId, file: { ...file, bytes: read.buffer.length }, movedId: source.id };
  }
  const measured = await measureImage(read.buffer, read.contentHash, file.absPath, {
    cacheDir: options.cacheDir,
    maxPixels: options.maxPixels ?? DEFAULT_MAX_PIXELS,
  });
  if (!measured.ok) return { kind: 'failed', rootId, file, existingId, error: measured.error, contentHash: measured.contentHash };
  return { kind: 'measured', rootId, file: { ...file, bytes: read.buffer.length }, existingId, image: measured.image };
}

/** Collects outcomes and commits them in batched transactions (by count, or after a short wait). */
class BatchWriter {
  private pending: Outcome[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly insertImage;
  private readonly updateImage;
  private readonly insertError;
  private readonly updateError;
  private readonly moveImage;
  private readonly setMissing;
  private readonly restore;
  private readonly previousHash;
  private readonly staleResults;
  private readonly reopenRun;

  constructor(
    private readonly db: LibraryDb,
    private readonly summary: IndexSummary,
  ) {
    const measuredColumns = `content_hash = @contentHash, bytes = @bytes, mtime_ms = @mtimeMs, width = @width, height = @height,
      format = @format, channels = @channels, has_alpha = @hasAlpha, bit_depth = @bitDepth, pages = @pages,
      status = 'ok', error = NULL, indexed_at = @now, brightness = @brightness, contrast = @contrast, saturation = @saturation,
      colorfulness = @colorfulness, sharpness = @sharpness, entropy = @entropy, edge_density = @edgeDensity,
      aspect_ratio = @aspectRatio, megapixels = @megapixels, alpha_fraction = @alphaFraction, is_grayscale = @isGrayscale`;
    this.insertImage = db.prepare(
      `INSERT INTO images (root_id, rel_path, status, bytes, mtime_ms, indexed_at) VALUES (@rootId, @relPath, 'ok', @bytes, @mtimeMs, @now)`,
    );
    this.updateImage = db.prepare(`UPDATE images SET ${measuredColumns} WHERE id = @id`);
    this.insertError = db.prepare(
      `INSERT INTO images (root_id, rel_path, content_hash, bytes, mtime_ms, status, error, indexed_at)
       VALUES (@rootId, @relPath, @contentHash, @bytes, @mtimeMs, 'error', @error, @now)`,
    );
    this.updateError = db.prepare(
      `UPDATE images SET content_hash = @contentHash, bytes = @bytes, mtime_ms = @mtimeMs, status = 'error', error = @error,
       width = NULL, height = NULL, indexed_at = @now WHERE id = @id`,
    );
    // A moved row returns to the state it had before it went missing: 'error' rows keep their error text.
    this.moveImage = db.prepare(
      `UPDATE images SET root_id = @rootId, rel_path = @relPath, bytes = @bytes, mtime_ms = @mtimeMs, indexed_at = @now,
       status = CASE WHEN error IS NULL THEN 'ok' ELSE 'error' END WHERE id = @id`,
    );
    this.setMissing = db.prepare(`UPDATE images SET status = 'missing' WHERE id = ? AND status != 'missing'`);
    this.restore = db.prepare(`UPDATE images SET status = CASE WHEN error IS NULL THEN 'ok' ELSE 'error' END WHERE id = ?`);
    this.previousHash = db.prepare<[number], string | null>('SELECT content_hash FROM images WHERE id = ?').pluck();
    this.staleResults = ['scores', 'embeddings', 'run_failures'].map((table) => db.prepare<[number], { run_id: number }>(`DELETE FROM ${table} WHERE image_id = ? RETURNING run_id`));
    this.staleResults.push(db.prepare<[number], { run_id: number }>('DELETE FROM saliency WHERE image_id = ? RETURNING NULL AS run_id'));
    this.reopenRun = db.prepare(`UPDATE runs SET status = 'partial' WHERE id = ? AND status = 'complete'`);
  }

  /**
   * An existing image's content changed (the file was edited or replaced): what models computed from the old
   * pixels no longer describes it. Its results go, and runs that covered it are no longer complete.
   */
  private forgetIfContentChanged(id: number, contentHash: string | null): void {
    // No hash now means the file could not be read (permissions, a flaky disk): nothing says its content changed,
    // so its results stay until a read succeeds.
    if (contentHash === null) return;
    const previous = this.previousHash.get(id);
    if (previous === undefined || previous === null || previous === contentHash) return;
    let removed = 0;
    for (const statement of this.staleResults) {
      for (const row of statement.all(id)) {
        removed++;
        if (row.run_id !== null) this.reopenRun.run(row.run_id);
      }
    }
    if (removed > 0) this.summary.contentChanged++;
  }

  add(outcome: Outcome): void {
    this.pending.push(outcome);
    if (this.pending.length >= BATCH_SIZE) this.flush();
    // Slow files (50-megapixel originals) must not hold finished ones uncommitted for long.
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, BATCH_MAX_WAIT_MS);
  }

  stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  flush(): void {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    const now = new Date().toISOString();
    this.db.transaction(() => {
      for (const outcome of batch) this.write(outcome, now);
    })();
  }

  private write(outcome: Outcome, now: string): void {
    const s = this.summary;
    switch (outcome.kind) {
      case 'measured': {
        const { file, image } = outcome;
        let id = outcome.existingId;
        if (id === null) {
          id = Number(this.insertImage.run({ rootId: outcome.rootId, relPath: file.relPath, bytes: file.bytes, mtimeMs: file.mtimeMs, now }).lastInsertRowid);
          s.added++;
        } else {
          s.updated++;
          this.forgetIfContentChanged(id, image.contentHash);
        }
        const st = image.stats;
        this.updateImage.run({
          id, now, contentHash: image.contentHash, bytes: file.bytes, mtimeMs: file.mtimeMs, width: image.width, height: image.height,
          format: image.format, channels: image.channels, hasAlpha: image.hasAlpha ? 1 : 0, bitDepth: image.bitDepth, pages: image.pages,
          brightness: st.brightness, contrast: st.contrast, saturation: st.saturation, colorfulness: st.colorfulness,
          sharpness: st.sharpness, entropy: st.entropy, edgeDensity: st.edgeDensity, aspectRatio: st.aspectRatio,
          megapixels: st.megapixels, alphaFraction: st.alphaFraction, isGrayscale: st.isGrayscale ? 1 : 0,
        });
        return;
      }
      case 'failed': {
        const row = { rootId: outcome.rootId, relPath: outcome.file.relPath, contentHash: outcome.contentHash, bytes: outcome.file.bytes,
          mtimeMs: outcome.file.mtimeMs, error: outcome.error, now };
        if (outcome.existingId === null) {
          this.insertError.run(row);
          s.added++;
        } else {
          this.forgetIfContentChanged(outcome.existingId, outcome.contentHash);
          this.updateError.run({ ...row, id: outcome.existingId });
          s.updated++;
        }
        return;
      }
      case 'moved':
        this.moveImage.run({ id: outcome.movedId, rootId: outcome.rootId, relPath: outcome.file.relPath, bytes: outcome.file.bytes, mtimeMs: outcome.file.mtimeMs, now });
        s.moved++;
        return;
      case 'vanished':
        if (outcome.existingId !== null && this.setMissing.run(outcome.existingId).changes > 0) s.missing++;
        return;
    }
  }

  markMissing(ids: number[]): void {
    this.db.transaction(() => {
      for (const id of ids) if (this.setMissing.run(id).changes > 0) this.summary.missing++;
    })();
  }

  restoreReappeared(ids: number[]): void {
    this.db.transaction(() => {
      for (const id of ids) this.restore.run(id);
    })();
    this.summary.updated += ids.length;
  }
}

function key(rootId: number, relPath: string): string {
  return `${rootId}\u0000${relPath}`;
}

/**
 * Registers each folder as a library root (by real path). A folder inside an existing root, or one that
 * contains one, is refused: its images would be indexed twice under two names.
 */
async function resolveRoots(db: LibraryDb, folders: string[]): Promise<{ id: number; path: string }[]> {
  if (folders.length === 0) throw new Error('Name at least one folder to index, e.g. `miru index ./images --db library.db`.');
  const existing = db.prepare('SELECT id, path FROM roots').all() as { id: number; path: string }[];
  const roots: { id: number; path: string }[] = [];
  for (const folder of folders) {
    let real: string;
    try {
      real = await fs.realpath(folder);
    } catch {
      throw new Error(`Folder not found: ${folder}. Check the path; nothing was indexed.`);
    }
    if (!(await fs.stat(real)).isDirectory()) throw new Error(`${folder} is a file, not a folder. Pass the folder that holds the images.`);
    const same = existing.find((r) => r.path === real) ?? roots.find((r) => r.path === real);
    if (same) {
      if (!roots.includes(same)) roots.push(same);
      continue;
    }
    const inside = (a: string, b: string) => a.startsWith(b.endsWith(path.sep) ? b : b + path.sep);
    const conflict = [...existing, ...roots].find((r) => inside(real, r.path) || inside(r.path, real));
    if (conflict) {
      throw new Error(
        `${folder} overlaps the library root ${conflict.path}; images would be indexed twice. ` +
          `Index ${inside(real, conflict.path) ? conflict.path : real} instead; nothing was indexed.`,
      );
    }
    const id = Number(db.prepare('INSERT INTO roots (path, added_at) VALUES (?, ?)').run(real, new Date().toISOString()).lastInsertRowid);
    roots.push({ id, path: real });
  }
  return roots;
}
