/**
 * The filter+sort combinations bench:query measures, and what it needs around them: a cursor deep in each
 * ordering, the equivalent LIMIT/OFFSET query (the same-run baseline), and the query plans queryImages gets.
 */
import type Database from 'better-sqlite3';
import type { LibraryDb } from '../core/library/openLibrary.js';
import { queryImages, countImages, buildWhere, parseFilter, parseSort, NUMERIC_FIELDS, type ImageFilter, type ImageSort } from '../core/library/queryImages.js';

export const PAGE = 100;

export interface Combination {
  label: string;
  filters: string[];
  sort: string;
}

export const COMBINATIONS: Combination[] = [
  { label: 'no filter, sort id', filters: [], sort: 'id' },
  { label: 'sort -ratingMean (NULLs last)', filters: [], sort: '-ratingMean' },
  { label: 'sort ratingMean, deep page in the NULL segment', filters: [], sort: 'ratingMean' },
  { label: 'brightness 0.45..0.6, sort -sharpness', filters: ['brightness=0.45..0.6'], sort: '-sharpness' },
  { label: 'ratingCount>=2, sort -ratingMean', filters: ['ratingCount>=2'], sort: '-ratingMean' },
  { label: 'tag=keep, sort saturation', filters: ['tag=keep'], sort: 'saturation' },
  { label: 'tag!=outlier, sort -contrast', filters: ['tag!=outlier'], sort: '-contrast' },
  { label: 'tag=favorite (0.5%), sort -sharpness', filters: ['tag=favorite'], sort: '-sharpness' },
  { label: 'rater=rater_000 (heaviest), sort -ratingMean', filters: ['rater=rater_000'], sort: '-ratingMean' },
  { label: 'rater=rater_150 (light), sort -ratingMean', filters: ['rater=rater_150'], sort: '-ratingMean' },
  { label: 'path~set_042, sort id', filters: ['path~set_042'], sort: 'id' },
  { label: 'path~set_199 (last set), sort id', filters: ['path~set_199'], sort: 'id' },
  { label: 'status=error, sort id', filters: ['status=error'], sort: 'id' },
  { label: 'colorfulness>=60 + entropy<=7, sort -megapixels', filters: ['colorfulness>=60', 'entropy<=7'], sort: '-megapixels' },
];

export interface Prepared {
  combo: Combination;
  filters: ImageFilter[];
  sort: ImageSort;
  matches: number;
  depth: number;
  deepCursor: string | null;
  offsetSql: string;
  offsetParams: unknown[];
  first: number[];
  deep: number[];
  offset: number[];
}

/** The columns queryImages selects, for the OFFSET baseline (same row width, same joins). */
export const SELECT_COLUMNS = `images.id, roots.path AS root, rel_path, status, error, content_hash, bytes, width, height, format,
  rating_mean, rating_count, brightness, contrast, saturation, colorfulness, sharpness, entropy, edge_density,
  aspect_ratio, megapixels, alpha_fraction, is_grayscale`;

export function prepareCombination(db: LibraryDb, combo: Combination, wantedDepth: number): Prepared {
  const filters = combo.filters.map(parseFilter);
  const sort = parseSort(combo.sort);
  const matches = countImages(db, filters);
  const column = NUMERIC_FIELDS[sort.field];
  const nonNull = column === 'id' ? matches : countImages(db, [...filters, { kind: 'range', field: sort.field, min: -1e308 }]);
  // A deep page: `wantedDepth` rows in, or 80% of the way through a smaller result. The NULL-segment combination
  // seeks past every non-NULL row so its deep page comes from the NULL segment.
  let depth = Math.min(wantedDepth, Math.floor((0.8 * matches) / PAGE) * PAGE);
  if (combo.label.includes('NULL segment')) depth = Math.min(matches - PAGE, nonNull + wantedDepth);

  // The OFFSET form of the same ordering: non-NULL sort values first, then NULLs by id (queryImages' two segments).
  const where = buildWhere(db, filters);
  const dir = sort.descending ? 'DESC' : 'ASC';
  const base = `SELECT ${SELECT_COLUMNS} FROM images JOIN roots ON roots.id = images.root_id WHERE ${where.sql}`;
  const offsetQuery = (position: number, limit: number): { sql: string; params: unknown[] } => {
    const inNullSegment = position >= nonNull;
    const sql = inNullSegment
      ? `${base} AND images.${column} IS NULL ORDER BY images.id ${dir} LIMIT ? OFFSET ?`
      : `${base}${column === 'id' ? '' : ` AND images.${column} IS NOT NULL`} ORDER BY images.${column} ${dir}, images.id ${dir} LIMIT ? OFFSET ?`;
    return { sql, params: [...where.params, limit, inNullSegment ? position - nonNull : position] };
  };
  const deepOffset = offsetQuery(depth, PAGE);
  const p: Prepared = { combo, filters, sort, matches, depth, deepCursor: null, offsetSql: deepOffset.sql, offsetParams: deepOffset.params, first: [], deep: [], offset: [] };

  // The cursor of the row just before the deep page. Cursors are opaque to callers, so the bench learns their
  // shape from a real `next` and fills in that row's sort value and id; if the shape is not the expected one it
  // follows `next` cursors instead (slower, same result).
  const first = queryImages(db, { filters, sort, limit: PAGE });
  const template = decodeCursorShape(first.next);
  if (depth > 0 && template) {
    const { sql, params } = offsetQuery(depth - 1, 1);
    const row = db.prepare(sql).get(...params) as Record<string, unknown> | undefined;
    if (row) p.deepCursor = Buffer.from(JSON.stringify({ ...template, v: column === 'id' ? row.id : row[column] ?? null, id: row.id })).toString('base64url');
  } else if (depth > 0) {
    let after: string | null = null;
    let position = 0;
    while (position < depth) {
      const page = queryImages(db, { filters, sort, limit: Math.min(1000, depth - position), after });
      position += page.items.length;
      after = page.next;
      if (!after) break;
    }
    p.deepCursor = position === depth ? after : null;
  }

  // Consistency: keyset pages (the deep one, and the 2nd and 3rd reached by following `next`) must hold the same
  // images in the same order as the OFFSET pages.
  const checks: [string, string | null, { sql: string; params: unknown[] }][] = [['deep page', p.deepCursor, deepOffset]];
  const second = first.next ? queryImages(db, { filters, sort, limit: PAGE, after: first.next }) : null;
  if (second) checks.push(['page 2', first.next, offsetQuery(PAGE, PAGE)]);
  if (second?.next) checks.push(['page 3', second.next, offsetQuery(2 * PAGE, PAGE)]);
  for (const [name, after, offset] of checks) {
    if (!after) continue;
    const keysetIds = queryImages(db, { filters, sort, limit: PAGE, after }).items.map((r) => r.id);
    const offsetIds = (db.prepare(offset.sql).all(...offset.params) as { id: number }[]).map((r) => r.id);
    if (keysetIds.join() !== offsetIds.join()) {
      console.log(`  WARNING ${combo.label}: keyset ${name} differs from the OFFSET page (first ids ${keysetIds.slice(0, 3).join(',')} vs ${offsetIds.slice(0, 3).join(',')})`);
    }
  }
  return p;
}

/** The cursor's JSON fields when it has the expected {f, d, v, id} shape, else null. */
function decodeCursorShape(cursor: string | null): Record<string, unknown> | null {
  if (!cursor) return null;
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as Record<string, unknown>;
    return value && typeof value === 'object' && 'v' in value && 'id' in value && 'f' in value && 'd' in value ? value : null;
  } catch {
    return null;
  }
}

/** The OFFSET baseline, including the same per-page tag lookup queryImages does. */
export function offsetPage(db: LibraryDb, p: Prepared): number[] {
  const rows = db.prepare(p.offsetSql).all(...p.offsetParams) as { id: number }[];
  const ids = rows.map((r) => r.id);
  if (ids.length) db.prepare(`SELECT image_id, tag FROM tags WHERE image_id IN (${ids.map(() => '?').join(',')}) ORDER BY tag`).all(...ids);
  return ids;
}

/** Runs one first page and one deep page with db.prepare wrapped, and prints each statement's query plan. */
export function explainCombination(db: LibraryDb, p: Prepared): void {
  console.log(`\n${p.combo.label}  (filters ${JSON.stringify(p.combo.filters)}, sort ${p.combo.sort})`);
  for (const [kind, after] of [['first page', null], ['deep page', p.deepCursor]] as const) {
    if (kind === 'deep page' && !after) continue;
    const captured = captureStatements(db, () => queryImages(db, { filters: p.filters, sort: p.sort, limit: PAGE, after }));
    for (const { sql, params } of captured) {
      if (/FROM tags WHERE image_id IN/.test(sql) || /FROM raters WHERE name/.test(sql)) continue;
      console.log(`  ${kind}: ${sql.replace(/\s+/g, ' ').replace(SELECT_COLUMNS.replace(/\s+/g, ' '), '<columns>')}`);
      console.log(`    params ${JSON.stringify(params)}`);
      const plan = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { id: number; parent: number; detail: string }[];
      for (const step of plan) console.log(`    ${step.parent ? '  ' : ''}${step.detail}`);
    }
  }
}

/** Records the SQL text and bound parameters of every statement `fn` runs through db.prepare(...).all/get. */
export function captureStatements(db: LibraryDb, fn: () => void): { sql: string; params: unknown[] }[] {
  const captured: { sql: string; params: unknown[] }[] = [];
  const original = db.prepare;
  const wrapped = function (this: LibraryDb, sql: string) {
    const statement = original.call(db, sql) as Database.Statement;
    const all = statement.all.bind(statement);
    const get = statement.get.bind(statement);
    (statement as unknown as { all: unknown }).all = (...params: unknown[]) => (captured.push({ sql, params }), all(...params));
    (statement as unknown as { get: unknown }).get = (...params: unknown[]) => (captured.push({ sql, params }), get(...params));
    return statement;
  };
  (db as unknown as { prepare: unknown }).prepare = wrapped;
  try {
    fn();
  } finally {
    (db as unknown as { prepare: unknown }).prepare = original;
  }
  return captured;
}

