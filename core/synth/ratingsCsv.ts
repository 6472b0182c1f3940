// ratings.csv in the form `miru ratings import` reads: header image,rater,score,time; RFC 4180 quoting.

export interface RatingsCsvRow {
  /** Path relative to the indexed images folder, with forward slashes. */
  image: string;
  rater: string;
  score: number;
  /** ISO 8601 timestamp. */
  time: string;
}

/** Quotes a field only when it needs it (comma, quote, line break, or edge spaces), doubling inner quotes. */
export function csvField(value: string | number): string {
  const text = String(value);
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * The file's text in chunks of at most `linesPerChunk` lines: millions of ratings joined into one string
 * would approach V8's string length limit.
 */
export function* ratingsCsvChunks(rows: Iterable<RatingsCsvRow>, linesPerChunk = 10_000): Generator<string> {
  let lines = ['image,rater,score,time'];
  for (const row of rows) {
    lines.push([row.image, row.rater, row.score, row.time].map(csvField).join(','));
    if (lines.length >= linesPerChunk) {
      yield lines.join('\n') + '\n';
      lines = [];
    }
  }
  if (lines.length > 0) yield lines.join('\n') + '\n';
}
