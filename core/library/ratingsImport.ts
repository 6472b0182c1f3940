import { createReadStream, promises as fs } from 'node:fs';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { parse } from 'csv-parse';
import { refreshPlannerStatistics, type LibraryDb } from './openLibrary.js';
import { ImageResolver } from './imageRef.js';
import { refreshRatingAggregates } from './ratingAggregates.js';
import { getSetting, setSetting } from './settings.js';
import type { ProgressListener } from '../jobs/progress.js';

export interface RatingScale {
  min: number;
  max: number;
}

export interface RatingsImportOptions {
  /** Valid range of scores; remembered by the library so later imports check against it too. */
  scale?: RatingScale;
  onProgress?: ProgressListener;
}

export interface RatingsImportSummary {
  /** New (image, rater) ratings stored. */
  imported: number;
  /** Earlier ratings of the same image by the same rater that this import replaced with a different value. */
  replaced: number;
  /** Rows identical to what the library already holds (a re-import adds nothing twice). */
  unchanged: number;
  rejected: { line: number; error: string }[];
  /** Rows in this file that were superseded by a later row of the same image and rater in the same file. */
  duplicatesInFile: { line: number; supersededBy: number }[];
}

/** Accepted column names, so files from other tools import without editing. First entry is canonical. */
const COLUMN_ALIASES = {
  image: ['image', 'path', 'file', 'filename', 'image_path', 'hash', 'content_hash', 'image_id'],
  rater: ['rater', 'user', 'annotator', 'worker', 'rater_id'],
  score: ['score', 'rating', 'value', 'label'],
  time: ['time', 'timestamp', 'rated_at', 'created_at', 'date'],
} as const;

interface RawRow {
  line: number;
  fields: Record<string, unknown>;
}

interface ValidRating {
  line: number;
  imageId: number;
  rater: string;
  value: number;
  time: string | null;
}

/**
 * Imports human ratings from CSV or JSON Lines. Every valid row is stored in one transaction; every bad row is
 * reported with its line number and reason and nothing valid is dropped. A re-import of the same file changes
 * nothing; a new value for an existing (image, rater) pair replaces the old one and is counted as replaced.
 */
export async function importRatings(db: LibraryDb, file: string, options: RatingsImportOptions = {}): Promise<RatingsImportSummary> {
  const format = ratingsFormat(file);
  try {
    const stat = await fs.stat(file);
    if (!stat.isFile()) throw new Error(`${file} is not a file`);
  } catch (error) {
    throw new Error(`Cannot read ratings file ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
  const scale = options.scale ?? readStoredScale(db);
  if (scale && !(scale.min < scale.max)) throw new Error(`--scale ${scale.min}:${scale.max} is empty: MIN must be below MAX.`);

  const summary: RatingsImportSummary = { imported: 0, replaced: 0, unchanged: 0, rejected: [], duplicatesInFile: [] };
  const resolver = new ImageResolver(db);
  // Keyed by image and rater, so a later row in the same file supersedes an earlier one, as a later file would.
  const valid = new Map<string, ValidRating>();
  const rows = format === 'csv' ? readCsvRows(file, summary) : readJsonlRows(file, summary);
  let count = 0;
  for await (const row of rows) {
    const rating = validateRow(row, resolver, scale, summary);
    if (++count % 10_000 === 0) options.onProgress?.({ job: 'ratings-import', phase: 'read', done: count, total: null });
    if (!rating) continue;
    const k = `${rating.imageId}\u0000${rating.rater}`;
    const earlier = valid.get(k);
    if (earlier) summary.duplicatesInFile.push({ line: earlier.line, supersededBy: rating.line });
    valid.set(k, rating);
  }
  summary.rejected.sort((a, b) => a.line - b.line);

  const source = path.basename(file);
  const raterId = db.prepare<[string], number>('SELECT id FROM raters WHERE name = ?').pluck();
  const insertRater = db.prepare('INSERT INTO raters (name) VALUES (?)');
  const existing = db.prepare<[number, number], { value: number; rated_at: string | null }>(
    'SELECT value, rated_at FROM ratings WHERE image_id = ? AND rater_id = ?',
  );
  const upsert = db.prepare(
    `INSERT INTO ratings (image_id, rater_id, value, rated_at, imported_from) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (image_id, rater_id) DO UPDATE SET value = excluded.value, rated_at = excluded.rated_at, imported_from = excluded.imported_from`,
  );
  db.transaction(() => {
    const raterIds = new Map<string, number>();
    const touched = new Set<number>();
    for (const rating of valid.values()) {
      let rid = raterIds.get(rating.rater) ?? raterId.get(rating.rater);
      if (rid === undefined) rid = Number(insertRater.run(rating.rater).lastInsertRowid);
      raterIds.set(rating.rater, rid);
      const before = existing.get(rating.imageId, rid);
      if (before && before.value === rating.value && (rating.time === null || before.rated_at === rating.time)) {
        summary.unchanged++;
        continue;
      }
      upsert.run(rating.imageId, rid, rating.value, rating.time ?? before?.rated_at ?? null, source);
      if (before) summary.replaced++;
      else summary.imported++;
      touched.add(rating.imageId);
    }
    refreshRatingAggregates(db, [...touched]);
    if (options.scale) setSetting(db, 'rating_scale', `${options.scale.min}:${options.scale.max}`);
  })();
  refreshPlannerStatistics(db);
  return summary;
}

export function parseScale(text: string): RatingScale {
  const match = /^\s*(-?\d+(?:\.\d+)?)\s*:\s*(-?\d+(?:\.\d+)?)\s*$/.exec(text);
  if (!match) throw new Error(`--scale ${JSON.stringify(text)} is not MIN:MAX (e.g. 1:5).`);
  const scale = { min: Number(match[1]), max: Number(match[2]) };
  if (!(scale.min < scale.max)) throw new Error(`--scale ${text} is empty: MIN must be below MAX.`);
  return scale;
}

function readStoredScale(db: LibraryDb): RatingScale | undefined {
  const stored = getSetting(db, 'rating_scale');
  return stored ? parseScale(stored) : undefined;
}

function ratingsFormat(file: string): 'csv' | 'jsonl' {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  throw new Error(`Cannot import ${file}: ratings must be a .csv or .jsonl file (fields image, rater, score and optional time).`);
}

/** Finds which header name holds each canonical field; fails with the list of accepted names for a missing one. */
function mapColumns(header: string[], file: string): Record<keyof typeof COLUMN_ALIASES, string | null> {
  const lower = new Map(header.map((h) => [h.trim().toLowerCase(), h]));
  const pick = (field: keyof typeof COLUMN_ALIASES) => {
    for (const alias of COLUMN_ALIASES[field]) if (lower.has(alias)) return lower.get(alias)!;
    return null;
  };
  const mapping = { image: pick('image'), rater: pick('rater'), score: pick('score'), time: pick('time') };
  for (const field of ['image', 'rater', 'score'] as const) {
    if (!mapping[field]) {
      throw new Error(
        `${file}: the header has no ${field} column (found: ${header.join(', ') || 'nothing'}). ` +
          `Name it one of: ${COLUMN_ALIASES[field].join(', ')}. Nothing was imported.`,
      );
    }
  }
  return mapping;
}

async function* readCsvRows(file: string, summary: RatingsImportSummary): AsyncGenerator<RawRow> {
  let mapping: ReturnType<typeof mapColumns> | null = null;
  const parser = createReadStream(file).pipe(
    parse({
      bom: true,
      columns: (header: string[]) => {
        mapping = mapColumns(header, file);
        return header;
      },
      info: true,
      trim: true,
      skip_empty_lines: true,
      skip_records_with_error: true,
      relax_column_count_less: false,
      on_skip: (error) => {
        const line = (error as { lines?: number } | undefined)?.lines ?? 0;
        summary.rejected.push({ line, error: `malformed CSV line: ${(error as Error | undefined)?.message ?? 'unreadable record'}` });
        return undefined;
      },
    }),
  );
  for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
    const m = mapping!;
    yield { line: info.lines, fields: { image: record[m.image!], rater: record[m.rater!], score: record[m.score!], time: m.time ? record[m.time] : undefined } };
  }
  if (!mapping) throw new Error(`${file} is empty: expected a header line with image, rater and score columns. Nothing was imported.`);
}

async function* readJsonlRows(file: string, summary: RatingsImportSummary): AsyncGenerator<RawRow> {
  const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  let lineNumber = 0;
  for await (const text of lines) {
    lineNumber++;
    const trimmed = (lineNumber === 1 ? text.replace(/^\uFEFF/, '') : text).trim();
    if (!trimmed) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (error) {
      summary.rejected.push({ line: lineNumber, error: `malformed JSON: ${(error as Error).message}` });
      continue;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      summary.rejected.push({ line: lineNumber, error: 'malformed line: expected a JSON object like {"image": ..., "rater": ..., "score": ...}' });
      continue;
    }
    const object = parsed as Record<string, unknown>;
    const mapping = mapColumnsLenient(Object.keys(object));
    yield { line: lineNumber, fields: { image: pickField(object, mapping.image), rater: pickField(object, mapping.rater), score: pickField(object, mapping.score), time: pickField(object, mapping.time) } };
  }
}

/** JSON Lines objects each carry their own keys; a missing one is a per-row error, not a whole-file one. */
function mapColumnsLenient(keys: string[]): Record<keyof typeof COLUMN_ALIASES, string | null> {
  const lower = new Map(keys.map((k) => [k.toLowerCase(), k]));
  const pick = (field: keyof typeof COLUMN_ALIASES) => {
    for (const alias of COLUMN_ALIASES[field]) if (lower.has(alias)) return lower.get(alias)!;
    return null;
  };
  return { image: pick('image'), rater: pick('rater'), score: pick('score'), time: pick('time') };
}

function pickField(object: Record<string, unknown>, key: string | null): unknown {
  return key === null ? undefined : object[key];
}

function validateRow(row: RawRow, resolver: ImageResolver, scale: RatingScale | undefined, summary: RatingsImportSummary): ValidRating | null {
  const reject = (error: string) => {
    summary.rejected.push({ line: row.line, error });
    return null;
  };
  const { image, rater, score, time } = row.fields;
  for (const [name, value] of [['image', image], ['rater', rater], ['score', score]] as const) {
    if (value === undefined || value === null || (typeof value === 'string' && value.trim() === '')) return reject(`missing field: ${name}`);
  }
  if (typeof image !== 'string' && typeof image !== 'number') return reject('image must be a path, content hash or id');
  if (typeof rater !== 'string' && typeof rater !== 'number') return reject('rater must be a name');
  const value = typeof score === 'number' ? score : typeof score === 'string' ? Number(score.trim()) : NaN;
  if (!Number.isFinite(value)) return reject(`score is not a number: ${JSON.stringify(score)}`);
  if (scale && (value < scale.min || value > scale.max)) return reject(`score ${value} is outside the scale ${scale.min}:${scale.max}`);
  let isoTime: string | null = null;
  if (time !== undefined && time !== null && String(time).trim() !== '') {
    const text = String(time).trim();
    // Bare numbers are Unix time: seconds, or milliseconds when too large to be seconds.
    const unix = typeof time === 'number' ? time : /^\d+(\.\d+)?$/.test(text) ? Number(text) : null;
    const parsed = unix !== null ? new Date(unix < 1e11 ? unix * 1000 : unix) : new Date(text);
    if (Number.isNaN(parsed.getTime())) return reject(`time is not a date: ${JSON.stringify(time)} (use ISO 8601 or Unix seconds)`);
    isoTime = parsed.toISOString();
  }
  const resolved = resolver.resolve(String(image));
  if (!resolved.ok) return reject(resolved.error);
  if (resolved.ids.length > 1) {
    return reject(`image ${JSON.stringify(image)} matches ${resolved.ids.length} images (identical files or the same name under several roots); name it by absolute path or id`);
  }
  const raterName = String(rater).trim();
  if (raterName.length > 200) return reject('rater name is longer than 200 characters');
  return { line: row.line, imageId: resolved.ids[0]!, rater: raterName, value, time: isoTime };
}
