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

/** Bounds of a numeric filter; a missing bound is open. */
export interface RangeBounds {
  min?: number;
  max?: number;
  minExclusive?: boolean;
  maxExclusive?: boolean;
}

export type ImageFilter =
  | ({ kind: 'range'; field: NumericField } & RangeBounds)
  /** `score:<model>`: the model's score in its latest score run (see scoreRunOf); unscored images never match. */
  | ({ kind: 'score'; model: string } & RangeBounds)
  | { kind: 'tag'; tag: string; has: boolean }
  | { kind: 'rater'; rater: string }
  | { kind: 'path'; contains: string }
  | { kind: 'status'; status: ImageStatus | 'any' }
  /** `selection=ID`: the images of a stored selection (a lasso on the map; analyses of kind 'selection'). */
  | { kind: 'selection'; analysisId: number }
  /** `raterGroup=NAME`: rated by at least one rater of a rater group (e.g. a rater cluster saved as groups). */
  | { kind: 'raterGroup'; group: string };

export interface ImageSort {
  field: NumericField;
  descending: boolean;
}

/** Sort by a model's score (`score:<model>` / `-score:<model>`); unscored images come last, like NULLs. */
export interface ScoreSort {
  field: 'score';
  model: string;
  descending: boolean;
}

export type ListSort = ImageSort | ScoreSort;

/** The order of a listing without a sort: by id, i.e. the order images were indexed in. */
export const LIBRARY_ORDER: ImageSort = Object.freeze({ field: 'id', descending: false });

/** A field a filter, sort or histogram can name: an image column, or a model's score. */
export type FieldRef = { kind: 'numeric'; field: NumericField } | { kind: 'score'; model: string };

export interface ImageQuery {
  filters?: ImageFilter[];
  sort?: ListSort;
  limit?: number;
  /** The `next` cursor of the previous page. */
  after?: string | null;
  /** Attach this model's latest score to every row (`ImageRow.score`). */
  scoreModel?: string | null;
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
  /** The score of `ImageQuery.scoreModel` (null when unscored); absent when no model was asked for. */
  score?: number | null;
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

/** `score:<model>` names a model's score; the model name runs up to the operator. */
const SCORE_FIELD = /^score\s*:\s*(\S(?:.*\S)?)\s*$/i;

/** Reads a field name: a numeric image field (any spelling resolveField accepts) or `score:<model>`. */
export function parseFieldName(name: string): FieldRef {
  const score = SCORE_FIELD.exec(name.trim());
  if (score) return { kind: 'score', model: score[1]! };
  return { kind: 'numeric', field: resolveField(name) };
}

/** The canonical name of a field: the camelCase numeric name, or `score:<model>`. */
export function fieldName(field: FieldRef): string {
  return field.kind === 'score' ? `score:${field.model}` : field.field;
}

/** The field a range or score filter constrains, else null. */
export function filterField(filter: ImageFilter): FieldRef | null {
  if (filter.kind === 'range') return { kind: 'numeric', field: filter.field };
  if (filter.kind === 'score') return { kind: 'score', model: filter.model };
  return null;
}

/**
 * Parses one `--filter` expression:
 *   FIELD>=N, FIELD>N, FIELD<=N, FIELD<N, FIELD=N, FIELD=A..B   numeric fields (see NUMERIC_FIELDS)
 *   score:MODEL>=N (and the other numeric forms)                a model's latest score
 *   tag=NAME, tag!=NAME                                         has / has not a tag
 *   rater=NAME                                                  rated by a rater
 *   path~TEXT                                                   relative path contains TEXT (case-insensitive)
 *   selection=ID                                                in a stored selection (a lasso on the map)
 *   raterGroup=NAME                                             rated by any rater of a rater group
 *   status=ok|error|missing|any                                 default ok
 */
export function parseFilter(expression: string): ImageFilter {
  const text = expression.trim();
  const fail = (why: string): never => {
    throw new Error(
      `Cannot read filter ${JSON.stringify(expression)}: ${why}. Examples: "brightness>=0.5", "ratingMean=3..5", "score:miru-vit-s>=3.5", "tag=outlier", "tag!=exclude", "rater=alice", "path~portraits", "status=error".`,
    );
  };
  const pathMatch = /^path\s*~\s*(.+)$/i.exec(text);
  if (pathMatch) return { kind: 'path', contains: pathMatch[1]!.trim() };
  // The model name may hold characters a plain field cannot (dots, spaces), so it runs up to the first operator.
  const scoreMatch = /^score\s*:\s*(.+?)\s*(>=|<=|!=|=|>|<)\s*(.*)$/i.exec(text);
  if (scoreMatch) {
    const [, model, op, value] = scoreMatch as unknown as [string, string, string, string];
    return { kind: 'score', model: model.trim(), ...rangeBounds(op, value.trim(), fail) };
  }
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
  if (name === 'ratergroup') {
    if (op !== '=') fail('rater groups take =');
    return { kind: 'raterGroup', group: value };
  }
  if (name === 'selection') {
    if (op !== '=' || !/^\d+$/.test(value)) fail('selections take =ID (the id `miru` or the map gave the selection)');
    return { kind: 'selection', analysisId: Number(value) };
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
  return { kind: 'range', field, ...rangeBounds(op, value, fail) };
}

/** The bounds of `OP VALUE` for a numeric field: =N, =A..B, <, <=, >, >=. */
function rangeBounds(op: string, value: string, fail: (why: string) => never): RangeBounds {
  if (!value) return fail('the value is missing');
  const number = (s: string) => {
    const n = Number(s.trim());
    if (s.trim() === '' || !Number.isFinite(n)) fail(`${JSON.stringify(s.trim())} is not a number`);
    return n;
  };
  if (op === '=' && value.includes('..')) {
    const [lo, hi] = value.split('..') as [string, string];
    const range: RangeBounds = {};
    if (lo.trim()) range.min = number(lo);
    if (hi.trim()) range.max = number(hi);
    if (range.min !== undefined && range.max !== undefined && range.min > range.max) fail('the range is empty (min > max)');
    return range;
  }
  const n = number(value);
  switch (op) {
    case '=':
      return { min: n, max: n };
    case '>=':
      return { min: n };
    case '>':
      return { min: n, minExclusive: true };
    case '<=':
      return { max: n };
    case '<':
      return { max: n, maxExclusive: true };
    default:
      return fail('numeric fields take =, <, <=, >, >= or =A..B');
  }
}

/** `-field` sorts descending, `field` ascending. */
export function parseSort(text: string): ImageSort {
  const descending = text.startsWith('-');
  return { field: resolveField(descending ? text.slice(1) : text.replace(/^\+/, '')), descending };
}

/** Like parseSort, and also `score:<model>` / `-score:<model>`. */
export function parseListSort(text: string): ListSort {
  const descending = text.startsWith('-');
  const field = parseFieldName(descending ? text.slice(1) : text.replace(/^\+/, ''));
  return field.kind === 'score' ? { field: 'score', model: field.model, descending } : { field: field.field, descending };
}

export function isScoreSort(sort: ListSort): sort is ScoreSort {
  return sort.field === 'score' && 'model' in sort;
}

/** The name a sort is written as (`-ratingMean`, `score:miru-vit-s`). */
export function sortName(sort: ListSort): string {
  return `${sort.descending ? '-' : ''}${isScoreSort(sort) ? `score:${sort.model}` : sort.field}`;
}

/**
 * The score run that `score:<model>` reads: the model's most recently updated score run that finished (complete
 * or partial, i.e. interrupted); a run still in progress only when there is no other, so a first scoring job
 * shows its scores as they arrive. Null when the model has never been scored; an unknown model is an error.
 */
export function scoreRunOf(db: LibraryDb, model: string): number | null {
  const modelId = db.prepare<[string], number>('SELECT id FROM models WHERE name = ?').pluck().get(model);
  if (modelId === undefined) {
    const names = db.prepare<[], string>('SELECT name FROM models ORDER BY name').pluck().all();
    throw new Error(`Unknown model ${JSON.stringify(model)} in score:${model}. ${names.length ? `Models: ${names.join(', ')}.` : 'This library has no models yet; add one with `miru models add`.'}`);
  }
  return (
    db
      .prepare<[number], number>(`SELECT id FROM runs WHERE model_id = ? AND kind = 'score' ORDER BY status = 'running', updated_at DESC, id DESC LIMIT 1`)
      .pluck()
      .get(modelId) ?? null
  );
}

interface Cursor {
  /** Sort the cursor belongs to (a field name or `score:<model>`): a cursor from another sort is refused instead of giving a wrong page. */
  f: string;
  d: boolean;
  v: number | null;
  id: number;
}

function sortKey(sort: ListSort): string {
  return isScoreSort(sort) ? `score:${sort.model}` : sort.field;
}

function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

/**
 * The `after` cursor that starts a page right after this row (its id and sort value, null in the NULL
 * segment): how a seek to a rank (rankSeek.ts) hands over to keyset paging.
 */
export function cursorAfterRow(sort: ListSort, row: { id: number; value: number | null }): string {
  return encodeCursor({ f: sortKey(sort), d: sort.descending, v: row.value, id: row.id });
}

function decodeCursor(text: string, sort: ListSort): Cursor {
  let cursor: Cursor;
  try {
    cursor = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Cursor;
  } catch {
    throw new Error('The --after cursor is damaged: pass the "next" value of the previous page unchanged.');
  }
  if (
    typeof cursor !== 'object' ||
    cursor === null ||
    typeof cursor.f !== 'string' ||
    typeof cursor.id !== 'number' ||
    !Number.isFinite(cursor.id) ||
    !(cursor.v === null || (typeof cursor.v === 'number' && Number.isFinite(cursor.v)))
  ) {
    throw new Error('The --after cursor is damaged: pass the "next" value of the previous page unchanged.');
  }
  if (cursor.f !== sortKey(sort) || cursor.d !== sort.descending) {
    throw new Error(`The --after cursor belongs to a listing sorted by ${cursor.d ? '-' : ''}${cursor.f}; use the same --sort as the previous page.`);
  }
  return cursor;
}

/** SQL conditions for numeric bounds on an expression. */
function boundClauses(expression: string, bounds: RangeBounds): { sql: string[]; params: number[] } {
  const sql: string[] = [];
  const params: number[] = [];
  if (bounds.min !== undefined) {
    sql.push(`${expression} ${bounds.minExclusive ? '>' : '>='} ?`);
    params.push(bounds.min);
  }
  if (bounds.max !== undefined) {
    sql.push(`${expression} ${bounds.maxExclusive ? '<' : '<='} ?`);
    params.push(bounds.max);
  }
  return { sql, params };
}

/** Builds the WHERE clause shared by listing and counting. */
export function buildWhere(db: LibraryDb, filters: ImageFilter[]): { sql: string; params: unknown[] } {
  const { sql, params } = buildWhereInfo(db, filters, false);
  return { sql, params };
}

/**
 * The WHERE clause, and whether some filter is narrow (at most MEMBERSHIP_LIST_LIMIT matching images by its
 * own index: a rare tag or rater, a narrow range, a path search). A score sort walks the score index only when
 * every filter is broad; a narrow one is cheaper to drive from and sort (see sortPlan).
 */
function buildWhereInfo(db: LibraryDb, filters: ImageFilter[], measureRanges: boolean): { sql: string; params: unknown[]; narrow: boolean } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  let status: ImageStatus | 'any' = 'ok';
  let narrow = false;
  for (const filter of filters) {
    switch (filter.kind) {
      case 'status':
        status = filter.status;
        break;
      case 'range': {
        const column = NUMERIC_FIELDS[filter.field];
        const bounds = boundClauses(`images.${column}`, filter);
        clauses.push(...bounds.sql);
        params.push(...bounds.params);
        if (measureRanges && bounds.sql.length && !narrow) {
          const members = db
            .prepare<unknown[], number>(`SELECT count(*) FROM (SELECT 1 FROM images WHERE ${bounds.sql.join(' AND ')} LIMIT ?)`)
            .pluck()
            .get(...bounds.params, MEMBERSHIP_LIST_LIMIT + 1)!;
          narrow = members <= MEMBERSHIP_LIST_LIMIT;
        }
        break;
      }
      case 'score': {
        const runId = scoreRunOf(db, filter.model);
        if (runId === null) {
          clauses.push('0'); // never scored: no image has a score to match
          break;
        }
        const bounds = boundClauses('score', filter);
        const condition = bounds.sql.length ? bounds.sql.join(' AND ') : '1';
        // Like tags: a narrow score range is fastest as a list of members found through scores(run_id, score);
        // a wide one as a probe per image while walking the sort index, which stops when a page is full.
        const members = db
          .prepare<unknown[], number>(`SELECT count(*) FROM (SELECT 1 FROM scores WHERE run_id = ? AND ${condition} LIMIT ?)`)
          .pluck()
          .get(runId, ...bounds.params, MEMBERSHIP_LIST_LIMIT + 1)!;
        if (members <= MEMBERSHIP_LIST_LIMIT) narrow = true;
        clauses.push(
          members <= MEMBERSHIP_LIST_LIMIT
            ? `images.id IN (SELECT image_id FROM scores WHERE run_id = ? AND ${condition})`
            : `EXISTS (SELECT 1 FROM scores sf WHERE sf.run_id = ? AND sf.image_id = images.id AND ${condition.replace(/\bscore\b/g, 'sf.score')})`,
        );
        params.push(runId, ...bounds.params);
        break;
      }
      case 'tag':
        if (!filter.has) clauses.push('NOT EXISTS (SELECT 1 FROM tags t WHERE t.image_id = images.id AND t.tag = ?)');
        else {
          const clause = membership(db, 'tags', 'tag', filter.tag);
          if (clause.startsWith('images.id IN')) narrow = true;
          clauses.push(clause);
        }
        params.push(filter.tag);
        break;
      case 'rater': {
        const raterId = db.prepare<[string], number>('SELECT id FROM raters WHERE name = ?').pluck().get(filter.rater);
        if (raterId === undefined) throw new Error(`Unknown rater ${JSON.stringify(filter.rater)}. See \`miru info\` for rater counts.`);
        const clause = membership(db, 'ratings', 'rater_id', raterId);
        if (clause.startsWith('images.id IN')) narrow = true;
        clauses.push(clause);
        params.push(raterId);
        break;
      }
      case 'raterGroup': {
        if (db.prepare('SELECT 1 FROM rater_groups WHERE group_name = ?').get(filter.group) === undefined) {
          throw new Error(`Unknown rater group ${JSON.stringify(filter.group)}. \`miru raters groups --db D\` lists the groups; \`miru raters --db D --save-groups\` stores the rater clusters as groups.`);
        }
        // Rating rows bound the images they cover, so few rows means a narrow filter (as for one rater).
        const rows = db
          .prepare<[string, number], number>('SELECT count(*) FROM (SELECT 1 FROM ratings WHERE rater_id IN (SELECT rater_id FROM rater_groups WHERE group_name = ?) LIMIT ?)')
          .pluck()
          .get(filter.group, MEMBERSHIP_LIST_LIMIT + 1)!;
        if (rows <= MEMBERSHIP_LIST_LIMIT) narrow = true;
        clauses.push(
          rows <= MEMBERSHIP_LIST_LIMIT
            ? 'images.id IN (SELECT image_id FROM ratings WHERE rater_id IN (SELECT rater_id FROM rater_groups WHERE group_name = ?))'
            : 'EXISTS (SELECT 1 FROM ratings m JOIN rater_groups g ON g.rater_id = m.rater_id WHERE m.image_id = images.id AND g.group_name = ?)',
        );
        params.push(filter.group);
        break;
      }
      case 'selection': {
        const members = db.prepare<[number], number>('SELECT count(*) FROM analysis_values WHERE analysis_id = ?').pluck().get(filter.analysisId)!;
        if (members <= MEMBERSHIP_LIST_LIMIT) narrow = true;
        clauses.push('images.id IN (SELECT image_id FROM analysis_values WHERE analysis_id = ?)');
        params.push(filter.analysisId);
        break;
      }
      case 'path':
        narrow = true;
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
  return { sql: clauses.length ? clauses.join(' AND ') : '1', params, narrow };
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

const IMAGES_FROM = 'images JOIN roots ON roots.id = images.root_id';

/**
 * How a sort reads: the segment of rows with a sort value, walked in (value, id) order through an index, and
 * the segment without one (NULL column, or no score in the run), walked by id. Sorting by id has no NULL segment.
 */
interface SortPlan {
  key: string;
  byId: boolean;
  /** FROM and leading condition of the valued segment, with its value and id expressions; null when it is empty. */
  valued: { from: string; condition: string; params: unknown[]; value: string; id: string; bounds?: TupleBounds } | null;
  nulls: { condition: string; params: unknown[] } | null;
}

/**
 * Score filters on the sorted score, as bounds on (score, image_id): one lower and one upper bound, merged with a
 * keyset seek, give SQLite a two-sided range on scores(run_id, score, image_id). (A plain `score >= ?` next to a
 * row-value seek makes it give up the index and sort.) Both bounds are strict: ids are at least 1 and below
 * ID_MAX, so `score >= L` is `(score, id) > (L, 0)` and `score <= U` is `(score, id) < (U, ID_MAX)`.
 */
interface TupleBounds {
  lower: [number, number] | null;
  upper: [number, number] | null;
}

const ID_MAX = Number.MAX_SAFE_INTEGER;

const tupleLess = (a: [number, number], b: [number, number]) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);

function tupleBounds(filters: RangeBounds[]): TupleBounds {
  const bounds: TupleBounds = { lower: null, upper: null };
  for (const f of filters) {
    if (f.min !== undefined) bounds.lower = tighter(bounds.lower, [f.min, f.minExclusive ? ID_MAX : 0], 'lower');
    if (f.max !== undefined) bounds.upper = tighter(bounds.upper, [f.max, f.maxExclusive ? 0 : ID_MAX], 'upper');
  }
  return bounds;
}

function tighter(current: [number, number] | null, next: [number, number], side: 'lower' | 'upper'): [number, number] {
  if (!current) return next;
  return side === 'lower' ? (tupleLess(current, next) ? next : current) : tupleLess(next, current) ? next : current;
}

/**
 * The sort plan and the WHERE clause of a listing. Filters on the score being sorted by become a range of the
 * score index itself (and empty the NULL segment, since unscored images match no score filter).
 */
function planListing(db: LibraryDb, sort: ListSort, filters: ImageFilter[]): { plan: SortPlan; where: Where } {
  if (!isScoreSort(sort)) return { plan: sortPlan(db, sort), where: buildWhere(db, filters) };
  const own = filters.filter((f): f is Extract<ImageFilter, { kind: 'score' }> => f.kind === 'score' && f.model === sort.model);
  const info = buildWhereInfo(db, filters.filter((f) => !(own as ImageFilter[]).includes(f)), true);
  const runId = scoreRunOf(db, sort.model);
  const key = sortKey(sort);
  if (runId === null) return { plan: { key, byId: false, valued: null, nulls: own.length ? null : { condition: '1', params: [] } }, where: info };
  // Walk the score index in order, probing each image against the filters, when every filter is broad (pages
  // fill after a few hundred steps); with a narrow filter, let SQLite drive from it and sort the few matches.
  const join = info.narrow ? 'JOIN' : 'CROSS JOIN';
  return {
    plan: {
      key,
      byId: false,
      valued: {
        from: `scores sc ${join} images ON images.id = sc.image_id JOIN roots ON roots.id = images.root_id`,
        condition: 'sc.run_id = ?',
        params: [runId],
        value: 'sc.score',
        id: 'sc.image_id',
        bounds: tupleBounds(own),
      },
      nulls: own.length ? null : { condition: 'NOT EXISTS (SELECT 1 FROM scores sn WHERE sn.run_id = ? AND sn.image_id = images.id)', params: [runId] },
    },
    where: { sql: info.sql, params: info.params },
  };
}

function sortPlan(db: LibraryDb, sort: ListSort): SortPlan {
  if (isScoreSort(sort)) {
    const runId = scoreRunOf(db, sort.model);
    if (runId === null) return { key: sortKey(sort), byId: false, valued: null, nulls: { condition: '1', params: [] } };
    // Walks scores(run_id, score) — whose entries end in image_id, the table's key — so (score, image_id) is in
    // index order for keyset seeks, and joins each entry to its image.
    return {
      key: sortKey(sort),
      byId: false,
      valued: { from: 'scores sc JOIN images ON images.id = sc.image_id JOIN roots ON roots.id = images.root_id', condition: 'sc.run_id = ?', params: [runId], value: 'sc.score', id: 'sc.image_id' },
      nulls: { condition: 'NOT EXISTS (SELECT 1 FROM scores sn WHERE sn.run_id = ? AND sn.image_id = images.id)', params: [runId] },
    };
  }
  const column = NUMERIC_FIELDS[sort.field];
  if (column === 'id') return { key: 'id', byId: true, valued: { from: IMAGES_FROM, condition: '1', params: [], value: 'images.id', id: 'images.id' }, nulls: null };
  return {
    key: sort.field,
    byId: false,
    valued: { from: IMAGES_FROM, condition: `images.${column} IS NOT NULL`, params: [], value: `images.${column}`, id: 'images.id' },
    nulls: { condition: `images.${column} IS NULL`, params: [] },
  };
}

type Where = { sql: string; params: unknown[] };

/** Rows of the valued segment in (value, id) order, after `seek` when given. */
function valuedSegment(db: LibraryDb, plan: SortPlan, where: Where, columns: string, descending: boolean, seek: { v: number | null; id: number } | null, limit: number): Record<string, unknown>[] {
  const v = plan.valued!;
  const cmp = descending ? '<' : '>';
  const dir = descending ? 'DESC' : 'ASC';
  const order = plan.byId ? `${v.id} ${dir}` : `${v.value} ${dir}, ${v.id} ${dir}`;
  let seekSql = !seek ? '' : plan.byId ? `AND ${v.id} ${cmp} ?` : `AND (${v.value}, ${v.id}) ${cmp} (?, ?)`;
  let seekParams: unknown[] = !seek ? [] : plan.byId ? [seek.id] : [seek.v, seek.id];
  if (v.bounds) {
    const bounds = { ...v.bounds };
    if (seek) bounds[descending ? 'upper' : 'lower'] = tighter(bounds[descending ? 'upper' : 'lower'], [seek.v!, seek.id], descending ? 'upper' : 'lower');
    if (bounds.lower && bounds.upper && !tupleLess(bounds.lower, bounds.upper)) return [];
    seekSql = `${bounds.lower ? `AND (${v.value}, ${v.id}) > (?, ?)` : ''} ${bounds.upper ? `AND (${v.value}, ${v.id}) < (?, ?)` : ''}`;
    seekParams = [...(bounds.lower ?? []), ...(bounds.upper ?? [])];
  }
  const sql = `SELECT ${columns}, ${v.value} AS sort_value FROM ${v.from} WHERE ${v.condition} AND ${where.sql} ${seekSql} ORDER BY ${order} LIMIT ?`;
  return db.prepare(sql).all(...v.params, ...where.params, ...seekParams, limit) as Record<string, unknown>[];
}

/** Rows of the NULL segment in id order, after `afterId` when given. */
function nullSegment(db: LibraryDb, plan: SortPlan, where: Where, columns: string, descending: boolean, afterId: number | null, limit: number): Record<string, unknown>[] {
  const n = plan.nulls!;
  const seek = afterId !== null ? `AND images.id ${descending ? '<' : '>'} ?` : '';
  const sql = `SELECT ${columns}, NULL AS sort_value FROM ${IMAGES_FROM} WHERE ${n.condition} AND ${where.sql} ${seek} ORDER BY images.id ${descending ? 'DESC' : 'ASC'} LIMIT ?`;
  const params = [...n.params, ...where.params, ...(afterId !== null ? [afterId] : []), limit];
  return db.prepare(sql).all(...params) as Record<string, unknown>[];
}

/**
 * One page of images. NULL sort values (unrated images when sorting by mean rating, unscored ones when sorting
 * by a score) come last in both directions: the page is filled from the non-NULL segment first, then from the
 * NULL segment ordered by id.
 */
export function queryImages(db: LibraryDb, query: ImageQuery = {}): ImagePage {
  const sort = query.sort ?? LIBRARY_ORDER;
  const limit = query.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) throw new Error(`--limit must be a whole number from 1 to ${MAX_PAGE_SIZE}.`);
  const cursor = query.after ? decodeCursor(query.after, sort) : null;
  const { plan, where } = planListing(db, sort, query.filters ?? []);

  const rows: Record<string, unknown>[] = [];
  if (plan.valued && (!cursor || cursor.v !== null)) rows.push(...valuedSegment(db, plan, where, SELECT_COLUMNS, sort.descending, cursor, limit + 1));
  if (rows.length <= limit && plan.nulls) {
    rows.push(...nullSegment(db, plan, where, SELECT_COLUMNS, sort.descending, cursor && cursor.v === null ? cursor.id : null, limit + 1 - rows.length));
  }
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  const next =
    rows.length > limit && last
      ? encodeCursor({ f: plan.key, d: sort.descending, v: (last.sort_value as number | null) ?? null, id: last.id as number })
      : null;
  const items = attachTags(db, page.map(toImageRow));
  if (query.scoreModel) attachScores(db, items, scoreRunOf(db, query.scoreModel));
  return { items, next };
}

/**
 * The images before and after `id` in the order a listing with these filters and sort shows (the sample
 * view's previous/next). The image itself need not match the filters: its neighbours are where it would sit.
 */
export function neighbourIds(db: LibraryDb, id: number, query: { filters?: ImageFilter[]; sort?: ListSort } = {}): { previous: number | null; next: number | null } {
  const sort = query.sort ?? LIBRARY_ORDER;
  if (db.prepare<[number], number>('SELECT 1 FROM images WHERE id = ?').pluck().get(id) === undefined) throw new Error(`No image with id ${id}.`);
  const { plan, where } = planListing(db, sort, query.filters ?? []);
  const value = sortValueOf(db, sort, plan, id);
  const first = (rows: Record<string, unknown>[]) => (rows.length ? (rows[0]!.id as number) : null);
  const d = sort.descending;
  const columns = 'images.id AS id';
  if (value !== null && plan.valued) {
    let next = first(valuedSegment(db, plan, where, columns, d, { v: value, id }, 1));
    if (next === null && plan.nulls) next = first(nullSegment(db, plan, where, columns, d, null, 1));
    return { previous: first(valuedSegment(db, plan, where, columns, !d, { v: value, id }, 1)), next };
  }
  // An image without a sort value sits in the NULL segment; where filters empty that segment, after the rest.
  const next = plan.nulls ? first(nullSegment(db, plan, where, columns, d, id, 1)) : null;
  let previous = plan.nulls ? first(nullSegment(db, plan, where, columns, !d, id, 1)) : null;
  if (previous === null && plan.valued) previous = first(valuedSegment(db, plan, where, columns, !d, null, 1));
  return { previous, next };
}

function sortValueOf(db: LibraryDb, sort: ListSort, plan: SortPlan, id: number): number | null {
  if (plan.byId) return id;
  if (isScoreSort(sort)) {
    if (!plan.valued) return null;
    return db.prepare<[unknown, number], number>('SELECT score FROM scores WHERE run_id = ? AND image_id = ?').pluck().get(plan.valued.params[0], id) ?? null;
  }
  return db.prepare<[number], number | null>(`SELECT ${NUMERIC_FIELDS[sort.field]} FROM images WHERE id = ?`).pluck().get(id) ?? null;
}

/** Number of images matching the filters (for summaries and the UI's filter counts). */
export function countImages(db: LibraryDb, filters: ImageFilter[] = []): number {
  const where = buildWhere(db, filters);
  return db.prepare<unknown[], number>(`SELECT count(*) FROM images WHERE ${where.sql}`).pluck().get(...where.params) ?? 0;
}

function attachScores(db: LibraryDb, rows: ImageRow[], runId: number | null): void {
  for (const row of rows) row.score = null;
  if (runId === null || rows.length === 0) return;
  const byId = new Map(rows.map((r) => [r.id, r]));
  const found = db
    .prepare(`SELECT image_id, score FROM scores WHERE run_id = ? AND image_id IN (${rows.map(() => '?').join(',')})`)
    .raw()
    .all(runId, ...byId.keys()) as [number, number][];
  for (const [imageId, score] of found) byId.get(imageId)!.score = score;
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
