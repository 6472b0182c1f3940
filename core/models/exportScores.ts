import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { stringify } from 'csv-stringify';
import type { LibraryDb } from '../library/openLibrary.js';
import type { ExportFormat } from '../library/exportTable.js';
import { getModel } from './modelRegistry.js';
import { latestRun } from './runs.js';

/**
 * One row per scored image of a model's latest score run: path, content hash, score, and one column per class
 * probability (`p_<label>`) where the output has classes, plus the top labels for multilabel outputs.
 * Failures are not rows: they were never scores (see `miru score --json` for them).
 */
export async function exportScores(db: LibraryDb, modelName: string, format: ExportFormat, out: Writable): Promise<number> {
  if (format !== 'csv' && format !== 'jsonl') throw new Error(`--format must be csv or jsonl (got ${JSON.stringify(format)}).`);
  const model = getModel(db, modelName);
  const run = latestRun(db, model.id, 'score');
  if (!run) throw new Error(`"${model.name}" has no scores yet. Run \`miru score --db D --model ${model.name}\` first.`);
  const labels = model.card.outputs.score?.labels;
  const statement = db.prepare<[number], { image: string; hash: string; score: number; probs: Buffer | null; top_labels: string | null }>(
    `SELECT images.rel_path AS image, images.content_hash AS hash, scores.score, scores.probs, scores.top_labels
     FROM scores JOIN images ON images.id = scores.image_id WHERE scores.run_id = ? ORDER BY images.id`,
  );
  const multilabel = model.card.outputs.score?.kind === 'multilabel';
  const probColumns = !multilabel && labels ? labels.map((l) => `p_${l}`) : [];
  const columns = ['image', 'hash', 'model', 'run', 'score', ...probColumns, ...(multilabel ? ['top_labels'] : [])];
  const sink = format === 'csv' ? stringify({ header: true, columns }) : null;
  sink?.pipe(out, { end: false });
  let rows = 0;
  for (const r of statement.iterate(run.id)) {
    const row: Record<string, unknown> = { image: r.image, hash: r.hash, model: model.name, run: run.id, score: r.score };
    if (r.probs && probColumns.length) {
      const probs = new Float32Array(r.probs.buffer.slice(r.probs.byteOffset, r.probs.byteOffset + r.probs.byteLength));
      probColumns.forEach((c, i) => (row[c] = probs[i]));
    }
    if (multilabel) row.top_labels = r.top_labels;
    rows++;
    if (sink) {
      if (!sink.write(row)) await once(sink, 'drain');
    } else if (!out.write(`${JSON.stringify(row)}\n`)) await once(out, 'drain');
  }
  if (sink) {
    sink.end();
    await once(sink, 'end');
  }
  return rows;
}
