import path from 'node:path';
import type { LibraryDb } from './openLibrary.js';

/**
 * The one query model for images, shared by the CLI and (later) the UI grid: filters, a sort on any numeric
 * field, and keyset paging. Keyset paging seeks by (sort value, id) through an index instead of counting past
 * OFFSET rows, so page 10,000 of a million-image library costs the same as page 1.
 */

/** Numeric fields a filter or sort can name: the JSON/camelCase name mapped to its column. */
export const NUMERIC_FIELDS = {
  id: 'id',
  bytes: 'bytes',
  width: 'width',
  height: 'height',
  mtime: 'mtime_ms',
  brightness: 'brightness',
  contrast: 'contrast',
  saturation: 'saturation',
  colorfulness: 'colorfulness',
  sharpness: 'sharpness',
  entropy: 'entropy',
  edgeDensity: 'edge_density',
  aspectRatio: 'aspect_ratio',
  megapixels: 'megapixels',
  alphaFraction: 'alpha_fraction',
  isGrayscale: 'is_grayscale',
  ratingMean: 'rating_mean',
  ratingCount: 'rating_count',
} as const;

export type NumericField = keyof typeof NUMERIC_FIELDS;
export type ImageStatus = 'ok' | 'error' | 'missing';

export type ImageFilter =
  | { kind: 'range'; field: NumericField; min?: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean }
  | { kind: 'tag'; tag: string; has: boolean }
  | { kind: 'rater'; rater: string }
  | { kind: 'path'; contains: string }
  | { kind: 'status'; status: ImageStatus | 'any' };

export interface ImageSort {
  field: NumericField;
  descending: boolean;
}

export interface ImageQuery {
  filters?: ImageFilter[];
  sort?: ImageSort;
  limit?: number;
  /** The `next` cursor of the previous page. */
  after?: string | null;
}

export interface ImageRow {
  id: number;
  path: string;
  relPath: string;
  status: ImageStatus;
  error: string | null;
  contentHash: string | null;
  bytes: number;
  width: number | null;
  height: number | null;
  format: string | null;
  ratingMean: number | null;
  ratingCount: number;
  tags: string[];
  stats: Record<'brightness' | 'contrast' | 'saturation' | 'colorfulness' | 'sharpness' | 'entropy' | 'edgeDensity' | 'aspectRatio' | 'megapixels' | 'alphaFraction', number | null> & {
    isGrayscale: boolean | null;
  };
}

export interface ImagePage {
  items: ImageRow[];
  /** Pass as `after` for the next page; null on the last page. */
  next: string | null;
}

export const MAX_PAGE_SIZE = 1000;

const FIELD_LOOKUP = new Map<string, NumericField>();
for (const field of Object.keys(NUMERIC_FIELDS) as NumericField[]) {
  FIELD_LOOKUP.set(normalizeName(field), field);
  FIELD_LOOKUP.set(normalizeName(NUMERIC_FIELDS[field]), field);
}
FIELD_LOOKUP.set('meanrating', 'ratingMean');
FIELD_LOOKUP.set('rating', 'ratingMean');
FIELD_LOOKUP.set('ratings', 'ratingCount');
FIELD_LOOKUP.set('size', 'bytes');

function normalizeName(name: string): string {
  return name.replace(/[_\-\s]/g, '').toLowerCase();
}

export function resolveField(name: string): NumericField {
  const field = FIELD_LOOKUP.get(normalizeName(name));
  if (!field) throw new Error(`Unknown field ${JSON.stringify(name)}. Fields: ${Object.keys(NUMERIC_FIELDS).join(', ')}.`);
  return field;
}

/**
 * Parses one `--filter` expression:
 *   FIELD>=N, FIELD>N, FIELD<=N, FIELD<N, FIELD=N, FIELD=A..B   numeric fields (see NUMERIC_FIELDS)
 *   tag=NAME, tag!=NAME                                         has / has not a tag
 *   rater=NAME                                                  rated by a rater
 *   path~TEXT                                                   relative path contains TEXT (case-insensitive)
 *   status=ok|error|missing|any                                 default ok
 */
export function parseFilter(expression: string): ImageFilter {
  const text = expression.trim();
  const fail = (why: string): never => {
    throw new Error(
      `Cannot read filter ${JSON.stringify(expression)}: ${why}. Examples: "brightness>=0.5", "ratingMean=3..5", "tag=outlier", "tag!=exclude", "rater=alice", "path~portraits", "status=error".`,
    );
  };
  const pathMatch = /^path\s*~\s*(.+)$/i.exec(text);
  if (pathMatch) return { kind: 'path', contains: pathMatch[1]!.trim() };
  const match = /^([A-Za-z_][\w-]*)\s*(>=|<=|!=|=|>|<)\s*(.*)$/.exec(text);
  if (!match) return fail('expected FIELD OP VALUE');
  const [, rawName, op, rawValue] = match as unknown as [string, string, string, string];
  const value = rawValue.trim();
  if (!value) return fail('the value is missing');
  const name = rawName.toLowerCase();
  if (name === 'tag') {
    if (op !== '=' && op !== '!=') fail('tags take = or !=');
    return { kind: 'tag', tag: value, has: op === '=' };
  }
  if (name === 'rater') {
    if (op !== '=') fail('raters take =');
    return { kind: 'rater', rater: value };
  }
  if (name === 'status') {
    if (op !== '=' || !['ok', 'error', 'missing', 'any'].includes(value)) fail('status takes =ok, =error, =missing or =any');
    return { kind: 'status', status: value as ImageStatus | 'any' };
  }
  let field: NumericField;
  try {
    field = resolveField(rawName);
  } catch (error) {
    return fail((error as Error).message.replace(/\.$/, ''));
  }
  const number = (s: string) => {
    const n = Number(s.trim());
    if (s.trim() === '' || !Number.isFinite(n)) fail(`${JSON.stringify(s.trim())} is not a number`);
    return n;
  };
  if (op === '=' && value.includes('..')) {
    const [lo, hi] = value.split('..') as [string, string];
    const range: ImageFilter = { kind: 'range', field };
    if (lo.trim()) range.min = number(lo);
    if (hi.trim()) range.max = number(hi);
    if (range.min !== undefined && range.max !== undefined && range.min > range.max) fail('the range is empty (min > max)');
    return range;
  }
  const n = number(value);
  switch (op) {
    case '=':
      return { kind: 'range', field, min: n, max: n };
    case '>=':
      return { kind: 'range', field, min: n };
    case '>':
      return { kind: 'range', field, min: n, minExclusive: true };
    case '<=':
      return { kind: 'range', field, max: n };
    case '<':
      return { kind: 'range', field, max: n, maxExclusive: true };
    default:
      return fail('numeric fields take =, <, <=, >, >= or =A..B');
  }
}

/** `-field` sorts descending, `field` ascending. */
export function parseSort(text: string): ImageSort {
  const descending = text.startsWith('-');
  return { field: resolveField(descending ? text.slice(1) : text.replace(/^\+/, '')), descending };
}

interface Cursor {
  /** Sort field the cursor belongs to: a cursor from another sort is refused instead of giving a wrong page. */
  f: NumericField;
  d: boolean;
  v: number | null;
  id: number;
}

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

function decodeCursor(text: string, sort: ImageSort): Cursor {
  let cursor: Cursor;
  try {
    cursor = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Cursor;
  } catch {
    throw new Error('The --after cursor is damaged: pass the "next" value of the previous page unchanged.');
  }
  if (typeof cursor !== 'object' || cursor === null || typeof cursor.id !== 'number' || !(cursor.v === null || typeof cursor.v === 'number')) {
    throw new Error('The --after cursor is damaged: pass the "next" value of the previous page unchanged.');
  }
  if (cursor.f !== sort.field || cursor.d !== sort.descending) {
    throw new Error(`The --after cursor belongs to a listing sorted by ${cursor.d ? '-' : ''}${cursor.f}; use the same --sort as the previous page.`);
  }
  return cursor;
}

/** Builds the WHERE clause shared by listing and counting. */
export function buildWhere(db: LibraryDb, filters: ImageFilter[]): { sql: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  let status: ImageStatus | 'any' = 'ok';
  for (const filter of filters) {
    switch (filter.kind) {
      case 'status':
        status = filter.status;
        break;
      case 'range': {
        const column = NUMERIC_FIELDS[filter.field];
        if (filter.min !== undefined) {
          clauses.push(`images.${column} ${filter.minExclusive ? '>' : '>='} ?`);
          params.push(filter.min);
        }
        if (filter.max !== undefined) {
          clauses.push(`images.${column} ${filter.maxExclusive ? '<' : '<='} ?`);
          params.push(filter.max);
        }
        break;
      }
      case 'tag':
        if (!filter.has) clauses.push('NOT EXISTS (SELECT 1 FROM tags t WHERE t.image_id = images.id AND t.tag = ?)');
        else clauses.push(membership(db, 'tags', 'tag', filter.tag));
        params.push(filter.tag);
        break;
      case 'rater': {
        const raterId = db.prepare<[string], number>('SELECT id FROM raters WHERE name = ?').pluck().get(filter.rater);
        if (raterId === undefined) throw new Error(`Unknown rater ${JSON.stringify(filter.rater)}. See \`miru info\` for rater counts.`);
        clauses.push(membership(db, 'ratings', 'rater_id', raterId));
        params.push(raterId);
        break;
      }
      case 'path':
        // The trigram index narrows the candidates (it needs 3 characters); LIKE keeps the exact semantics.
        if ([...filter.contains].length >= 3) {
          clauses.push('images.id IN (SELECT rowid FROM images_path_fts WHERE images_path_fts MATCH ?)');
          params.push(`"${filter.contains.replace(/"/g, '""')}"`);
        }
        clauses.push(`images.rel_path LIKE ? ESCAPE '\\'`);
        params.push(`%${filter.contains.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
        break;
    }
  }
  if (status !== 'any') {
    clauses.push('images.status = ?');
    params.push(status);
  }
  return { sql: clauses.length ? clauses.join(' AND ') : '1', params };
}

/** Above this many member rows, walking the sort index and probing membership beats collecting the members. */
const MEMBERSHIP_LIST_LIMIT = 20_000;

/**
 * The clause for "image has this tag / was rated by this rater". A rare tag is fastest as `id IN (members)`
 * (a few thousand lookups, then a small sort); a common one as a correlated EXISTS probe while walking the sort
 * index, which stops as soon as a page is full. A bounded count on the covering index picks between them.
 */
function membership(db: LibraryDb, table: 'tags' | 'ratings', column: 'tag' | 'rater_id', value: string | number): string {
  const members = db
    .prepare<[string | number, number], number>(`SELECT count(*) FROM (SELECT 1 FROM ${table} WHERE ${column} = ? LIMIT ?)`)
    .pluck()
    .get(value, MEMBERSHIP_LIST_LIMIT + 1)!;
  return members <= MEMBERSHIP_LIST_LIMIT
    ? `images.id IN (SELECT image_id FROM ${table} WHERE ${column} = ?)`
    : `EXISTS (SELECT 1 FROM ${table} m WHERE m.image_id = images.id AND m.${column} = ?)`;
}

const SELECT_COLUMNS = `images.id, roots.path AS root, rel_path, status, error, content_hash, bytes, width, height, format,
  rating_mean, rating_count, brightness, contrast, saturation, colorfulness, sharpness, entropy, edge_density,
  aspect_ratio, megapixels, alpha_fraction, is_grayscale`;

/**
 * One page of images. NULL sort values (unrated images when sorting by mean rating) come last in both
 * directions: the page is filled from the non-NULL segment first, then from the NULL segment ordered by id.
 */
export function queryImages(db: LibraryDb, query: ImageQuery = {}): ImagePage {
  const sort = query.sort ?? { field: 'id', descending: false };
  const limit = query.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) throw new Error(`--limit must be a whole number from 1 to ${MAX_PAGE_SIZE}.`);
  const where = buildWhere(db, query.filters ?? []);
  const cursor = query.after ? decodeCursor(query.after, sort) : null;
  const column = NUMERIC_FIELDS[sort.field];
  const dir = sort.descending ? 'DESC' : 'ASC';
  const cmp = sort.descending ? '<' : '>';
  const from = `FROM images JOIN roots ON roots.id = images.root_id WHERE ${where.sql}`;

  const rows: Record<string, unknown>[] = [];
  // Segment 1: non-NULL sort values, seeking past the cursor's (value, id).
  if (!cursor || cursor.v !== null) {
    const byId = column === 'id';
    const seek = !cursor ? '' : byId ? `AND images.id ${cmp} ?` : `AND (images.${column}, images.id) ${cmp} (?, ?)`;
    const notNull = byId ? '' : `AND images.${column} IS NOT NULL`;
    const order = byId ? `images.id ${dir}` : `images.${column} ${dir}, images.id ${dir}`;
    const sql = `SELECT ${SELECT_COLUMNS} ${from} ${notNull} ${seek} ORDER BY ${order} LIMIT ?`;
    const params = [...where.params, ...(!cursor ? [] : byId ? [cursor.id] : [cursor.v, cursor.id]), limit + 1];
    rows.push(...(db.prepare(sql).all(...params) as Record<string, unknown>[]));
  }
  // Segment 2: NULL sort values, by id.
  if (rows.length <= limit && column !== 'id') {
    const seek = cursor && cursor.v === null ? `AND images.id ${cmp} ?` : '';
    const sql = `SELECT ${SELECT_COLUMNS} ${from} AND images.${column} IS NULL ${seek} ORDER BY images.id ${dir} LIMIT ?`;
    const params = [...where.params, ...(seek ? [cursor!.id] : []), limit + 1 - rows.length];
    rows.push(...(db.prepare(sql).all(...params) as Record<string, unknown>[]));
  }
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  const next =
    rows.length > limit && last
      ? encodeCursor({ f: sort.field, d: sort.descending, v: (last[column] as number | null) ?? null, id: last.id as number })
      : null;
  return { items: attachTags(db, page.map(toImageRow)), next };
}

/** Number of images matching the filters (for summaries and the UI's filter counts). */
export function countImages(db: LibraryDb, filters: ImageFilter[] = []): number {
  const where = buildWhere(db, filters);
  return db.prepare<unknown[], number>(`SELECT count(*) FROM images WHERE ${where.sql}`).pluck().get(...where.params) ?? 0;
}

function toImageRow(r: Record<string, unknown>): ImageRow {
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return {
    id: r.id as number,
    path: path.join(r.root as string, ...(r.rel_path as string).split('/')),
    relPath: r.rel_path as string,
    status: r.status as ImageStatus,
    error: (r.error as string | null) ?? null,
    contentHash: (r.content_hash as string | null) ?? null,
    bytes: r.bytes as number,
    width: num(r.width),
    height: num(r.height),
    format: (r.format as string | null) ?? null,
    ratingMean: num(r.rating_mean),
    ratingCount: (r.rating_count as number) ?? 0,
    tags: [],
    stats: {
      brightness: num(r.brightness),
      contrast: num(r.contrast),
      saturation: num(r.saturation),
      colorfulness: num(r.colorfulness),
      sharpness: num(r.sharpness),
      entropy: num(r.entropy),
      edgeDensity: num(r.edge_density),
      aspectRatio: num(r.aspect_ratio),
      megapixels: num(r.megapixels),
      alphaFraction: num(r.alpha_fraction),
      isGrayscale: r.is_grayscale === null || r.is_grayscale === undefined ? null : r.is_grayscale === 1,
    },
  };
}

function attachTags(db: LibraryDb, rows: ImageRow[]): ImageRow[] {
  if (rows.length === 0) return rows;
  const byId = new Map(rows.map((r) => [r.id, r]));
  const placeholders = rows.map(() => '?').join(',');
  const tagRows = db.prepare(`SELECT image_id, tag FROM tags WHERE image_id IN (${placeholders}) ORDER BY tag`).all(...byId.keys()) as {
    image_id: number;
    tag: string;
  }[];
  for (const t of tagRows) byId.get(t.image_id)!.tags.push(t.tag);
  return rows;
}
