import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { stringify } from 'csv-stringify';
import { ByteWriter, parquetWriteRows } from 'hyparquet-writer';
import type { LibraryDb } from './openLibrary.js';
import { STAT_COLUMNS } from './migrations.js';

export type ExportWhat = 'images' | 'ratings' | 'tags';
export const EXPORT_FORMATS = ['csv', 'jsonl', 'parquet'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Column types as Parquet stores them; CSV and JSON Lines write the same values as text. */
export type ExportColumnType = 'INT32' | 'INT64' | 'FLOAT' | 'DOUBLE' | 'STRING' | 'BOOLEAN';

export interface ExportColumn {
  name: string;
  type: ExportColumnType;
}

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

export function checkExportFormat(format: string): ExportFormat {
  if (!(EXPORT_FORMATS as readonly string[]).includes(format)) throw new Error(`--format must be csv, jsonl or parquet (got ${JSON.stringify(format)}).`);
  return format as ExportFormat;
}

/** SQLite's declared column types (null for expressions such as the tags list, which are text). */
function columnTypeOf(declared: string | null): ExportColumnType {
  const t = (declared ?? '').toUpperCase();
  if (t.includes('INT')) return 'INT64';
  if (t.includes('REAL') || t.includes('FLOA') || t.includes('DOUB')) return 'DOUBLE';
  return 'STRING';
}

/**
 * Streams a table out as CSV, JSON Lines or Parquet, row by row (Parquet: a row group at a time), so a
 * million-row export never sits in memory. Ratings export uses the same column names `miru ratings import`
 * reads, so an export re-imports as is.
 */
export async function exportTable(db: LibraryDb, what: ExportWhat, format: ExportFormat, out: Writable): Promise<number> {
  if (!(what in QUERIES)) throw new Error(`--what must be one of ${Object.keys(QUERIES).join(', ')} (got ${JSON.stringify(what)}).`);
  checkExportFormat(format);
  const statement = db.prepare(QUERIES[what]);
  const columns = statement.columns().map((c) => ({ name: c.name, type: columnTypeOf(c.type) }));
  return writeRows(columns, statement.iterate() as Iterable<Record<string, unknown>>, format, out);
}

/**
 * Writes rows (objects keyed by column name) in the given column order. CSV gets a header row; JSON Lines one
 * object per line; Parquet the declared types, every column nullable (null stays null, never 0 or "").
 */
export async function writeRows(columns: ExportColumn[], rows: Iterable<Record<string, unknown>>, format: ExportFormat, out: Writable): Promise<number> {
  checkExportFormat(format);
  if (format === 'parquet') return writeParquet(columns, rows, out);
  let count = 0;
  const names = columns.map((c) => c.name);
  if (format === 'csv') {
    const sink = stringify({ header: true, columns: names });
    sink.pipe(out, { end: false });
    for (const row of rows) {
      count++;
      if (!sink.write(row)) await once(sink, 'drain');
    }
    sink.end();
    await once(sink, 'end');
    return count;
  }
  for (const row of rows) {
    count++;
    const ordered: Record<string, unknown> = {};
    for (const name of names) ordered[name] = row[name] ?? null;
    if (!out.write(`${JSON.stringify(ordered)}\n`)) await once(out, 'drain');
  }
  return count;
}

/** Bytes gathered before they are handed to the stream (and before a row group waits for it to drain). */
const PARQUET_CHUNK = 1 << 20;

/**
 * hyparquet-writer's buffer writer, emptied into a Node stream as it fills instead of growing to the whole file;
 * between row groups (flush) it waits for the stream to drain, so a slow disk or pipe holds back the export.
 */
class StreamByteWriter extends ByteWriter {
  constructor(private readonly out: Writable) {
    super(PARQUET_CHUNK + 1024);
  }
  private push(): void {
    if (this.index === 0) return;
    this.out.write(Buffer.from(this.buffer.slice(0, this.index)));
    this.index = 0;
  }
  override ensure(size: number): void {
    if (this.index > PARQUET_CHUNK) this.push();
    super.ensure(size);
  }
  async flush(): Promise<void> {
    this.push();
    if (this.out.writableNeedDrain) await once(this.out, 'drain');
  }
  override finish(): void {
    this.push();
  }
}

async function writeParquet(columns: ExportColumn[], rows: Iterable<Record<string, unknown>>, out: Writable): Promise<number> {
  let count = 0;
  const int64 = columns.filter((c) => c.type === 'INT64').map((c) => c.name);
  // Parquet's INT64 takes bigint; SQLite hands back numbers.
  const converted = (function* () {
    for (const row of rows) {
      count++;
      if (int64.length === 0) yield row;
      else {
        const copy = { ...row };
        for (const name of int64) {
          const v = copy[name];
          if (typeof v === 'number') copy[name] = BigInt(Math.trunc(v));
        }
        yield copy;
      }
    }
  })();
  await parquetWriteRows({
    writer: new StreamByteWriter(out),
    rows: converted,
    columns: columns.map((c) => ({ name: c.name, type: c.type, nullable: true })),
    rowGroupSize: [1000, 100_000],
    createdBy: 'miru',
  });
  return count;
}
