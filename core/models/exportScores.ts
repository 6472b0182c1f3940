import { once } from 'node:events';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { stringify } from 'csv-stringify';
import type { LibraryDb } from '../library/openLibrary.js';
import type { ExportFormat } from '../library/exportTable.js';
import { getModel } from './modelRegistry.js';
import { latestRun } from './runs.js';

/** How much of the library the exported run covers: a partial run must not pass for the whole library. */
export interface ScoreExportCoverage {
  run: number;
  status: string;
  rows: number;
  /** Readable images (status ok) with a score in the run, and with a recorded failure. */
  scored: number;
  failed: number;
  /** Readable images in the library now. */
  images: number;
}

/**
 * One row per scored image of a model's latest score run: relative and absolute path, content hash, score, one
 * column per class probability (`p_<label>`, or `p_<index>` where the card names no labels) where the output
 * has classes, plus the top labels for multilabel outputs (a list in JSON Lines, JSON text in CSV).
 * Failures are not rows: they were never scores (see `miru score --json` for them).
 */
export async function exportScores(db: LibraryDb, modelName: string, format: ExportFormat, out: Writable): Promise<ScoreExportCoverage> {
  if (format !== 'csv' && format !== 'jsonl') throw new Error(`--format must be csv or jsonl (got ${JSON.stringify(format)}).`);
  const model = getModel(db, modelName);
  const run = latestRun(db, model.id, 'score');
  if (!run) throw new Error(`"${model.name}" has no scores yet. Run \`miru score --db D --model ${model.name}\` first.`);
  const statement = db.prepare<[number], { image: string; root: string; hash: string; score: number; probs: Buffer | null; top_labels: string | null }>(
    `SELECT images.rel_path AS image, roots.path AS root, images.content_hash AS hash, scores.score, scores.probs, scores.top_labels
     FROM scores JOIN images ON images.id = scores.image_id JOIN roots ON roots.id = images.root_id
     WHERE scores.run_id = ? ORDER BY images.id`,
  );
  const multilabel = model.card.outputs.score?.kind === 'multilabel';
  const classes = db.prepare<[number], number>('SELECT length(probs) / 4 FROM scores WHERE run_id = ? AND probs IS NOT NULL LIMIT 1').pluck().get(run.id) ?? 0;
  const labels = model.card.outputs.score?.labels;
  const probColumns = multilabel ? [] : Array.from({ length: classes }, (_, i) => `p_${labels?.[i] ?? i}`);
  const columns = ['image', 'path', 'hash', 'model', 'run', 'score', ...probColumns, ...(multilabel ? ['top_labels'] : [])];
  const sink = format === 'csv' ? stringify({ header: true, columns }) : null;
  sink?.pipe(out, { end: false });
  let rows = 0;
  for (const r of statement.iterate(run.id)) {
    const row: Record<string, unknown> = { image: r.image, path: path.join(r.root, ...r.image.split('/')), hash: r.hash, model: model.name, run: run.id, score: r.score };
    if (r.probs && probColumns.length) {
      const probs = new Float32Array(r.probs.buffer.slice(r.probs.byteOffset, r.probs.byteOffset + r.probs.byteLength));
      probColumns.forEach((c, i) => (row[c] = probs[i]));
    }
    if (multilabel) row.top_labels = sink ? r.top_labels : r.top_labels === null ? null : JSON.parse(r.top_labels);
    rows++;
    if (sink) {
      if (!sink.write(row)) await once(sink, 'drain');
    } else if (!out.write(`${JSON.stringify(row)}\n`)) await once(out, 'drain');
  }
  if (sink) {
    sink.end();
    await once(sink, 'end');
  }
  const count = (sql: string) => db.prepare<[number], number>(sql).pluck().get(run.id) ?? 0;
  const scored = count(`SELECT count(*) FROM scores s JOIN images i ON i.id = s.image_id WHERE s.run_id = ? AND i.status = 'ok'`);
  const failed = count(`SELECT count(*) FROM run_failures f JOIN images i ON i.id = f.image_id WHERE f.run_id = ? AND i.status = 'ok'`);
  const images = db.prepare<[], number>(`SELECT count(*) FROM images WHERE status = 'ok'`).pluck().get() ?? 0;
  return { run: run.id, status: run.status, rows, scored, failed, images };
}

/** A warning when the exported run leaves readable images unscored (interrupted, or images added since). */
export function coverageWarning(c: ScoreExportCoverage, modelName: string): string | null {
  const missing = c.images - c.scored - c.failed;
  if (missing <= 0) return null;
  return (
    `Warning: score run ${c.run} of "${modelName}" is partial: ${c.scored} of ${c.images} readable images have a score` +
    `${c.failed ? `, ${c.failed} failed` : ''}, ${missing} have none yet. Run \`miru score --db D --model ${modelName}\` to finish it (it resumes).`
  );
}
