import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { stringify } from 'csv-stringify';
import type { LibraryDb } from './openLibrary.js';
import { STAT_COLUMNS } from './migrations.js';

export type ExportWhat = 'images' | 'ratings' | 'tags';
export type ExportFormat = 'csv' | 'jsonl';

const QUERIES: Record<ExportWhat, string> = {
  images: `SELECT images.id, roots.path AS root, rel_path AS path, status, error, content_hash AS hash, bytes, mtime_ms, width, height,
    format, channels, has_alpha, bit_depth, pages, rating_mean, rating_count, ${STAT_COLUMNS.join(', ')},
    (SELECT group_concat(tag, ';') FROM (SELECT tag FROM tags WHERE image_id = images.id ORDER BY tag)) AS tags
    FROM images JOIN roots ON roots.id = images.root_id ORDER BY images.id`,
  ratings: `SELECT images.rel_path AS image, images.content_hash AS hash, raters.name AS rater, ratings.value AS score,
    ratings.rated_at AS time, ratings.imported_from
    FROM ratings JOIN images ON images.id = ratings.image_id JOIN raters ON raters.id = ratings.rater_id
    ORDER BY images.id, raters.name`,
  tags: `SELECT images.rel_path AS image, images.content_hash AS hash, tags.tag, tags.created_at
    FROM tags JOIN images ON images.id = tags.image_id ORDER BY images.id, tags.tag`,
};

/**
 * Streams a table out as CSV or JSON Lines, row by row, so a million-row export never sits in memory.
 * Ratings export uses the same column names `miru ratings import` reads, so an export re-imports as is.
 */
export async function exportTable(db: LibraryDb, what: ExportWhat, format: ExportFormat, out: Writable): Promise<number> {
  if (!(what in QUERIES)) throw new Error(`--what must be one of ${Object.keys(QUERIES).join(', ')} (got ${JSON.stringify(what)}).`);
  if (format !== 'csv' && format !== 'jsonl') throw new Error(`--format must be csv or jsonl (got ${JSON.stringify(format)}).`);
  const statement = db.prepare(QUERIES[what]);
  let rows = 0;
  const sink = format === 'csv' ? stringify({ header: true, columns: statement.columns().map((c) => c.name) }) : null;
  if (sink) sink.pipe(out, { end: false });
  const write = async (text: string) => {
    if (!out.write(text)) await once(out, 'drain');
  };
  for (const row of statement.iterate() as Iterable<Record<string, unknown>>) {
    rows++;
    if (sink) {
      if (!sink.write(row)) await once(sink, 'drain');
    } else await write(`${JSON.stringify(row)}\n`);
  }
  if (sink) {
    sink.end();
    await once(sink, 'end');
  }
  return rows;
}
