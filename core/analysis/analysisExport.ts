// Rows for `miru export --what soft-labels|pseudo-labels|consensus|rater-labels|issues`: one row per image (one
// per rating for rater-labels) with its id, path and content hash and the fields of that analysis, as typed
// columns so CSV, JSON Lines and Parquet (core/library/exportTable.writeRows) all carry the same table.
// Soft labels are computed from the current ratings or model scores (and stored); the others read the newest
// stored analysis of their kind, or the one named by id.
import type { LibraryDb } from '../library/openLibrary.js';
import type { ExportColumn } from '../library/exportTable.js';
import { IMAGE_ISSUE_TYPES } from './imageIssues.js';
import { currentBasis, getAnalysis, listAnalyses, staleReasons, type AnalysisKind, type AnalysisRecord } from './analysisStore.js';
import { certaintyWeight } from './labelPropagation.js';
import { saveSoftLabels, softLabelsFromModel, softLabelsFromRatings } from './softLabels.js';

export const ANALYSIS_EXPORTS = ['soft-labels', 'pseudo-labels', 'consensus', 'rater-labels', 'issues'] as const;
export type AnalysisExportWhat = (typeof ANALYSIS_EXPORTS)[number];

export function isAnalysisExport(what: string): what is AnalysisExportWhat {
  return (ANALYSIS_EXPORTS as readonly string[]).includes(what);
}

export interface AnalysisExportOptions {
  /** soft-labels: take the distribution from this model's class probabilities instead of the ratings. */
  model?: string;
  smoothing?: number;
  temperature?: number;
  topK?: number;
  /** pseudo-labels, consensus: export this stored analysis instead of the newest one. */
  analysisId?: number;
}

export interface AnalysisExportTable {
  columns: ExportColumn[];
  rows: Iterable<Record<string, unknown>>;
  /** Which stored analyses the rows come from, for the command's closing line. */
  sources: { kind: AnalysisKind; id: number; createdAt: string }[];
}

/**
 * A warning per stored source whose inputs changed since it was computed (staleReasons), saying how to make it
 * again; exports still write what is stored, since an older result may be wanted on purpose.
 */
export function staleSourceWarnings(db: LibraryDb, table: AnalysisExportTable): string[] {
  if (!table.sources.length) return [];
  const now = currentBasis(db); // one pass over images and ratings for all sources (an issues export joins up to 9)
  return table.sources.flatMap((source) => {
    const record = getAnalysis(db, source.id);
    const reasons = record ? staleReasons(db, record, now) : [];
    if (!reasons.length) return [];
    const remake = HOW_TO_MAKE[source.kind] ?? `the command that computed it`;
    return [`Warning: ${source.kind} analysis ${source.id} of ${source.createdAt} may be out of date: ${reasons.join(', and ')}. Run ${remake} again for a current one.`];
  });
}

/**
 * The shortest decimal that reads back as the same float32: stored distributions are float32, and printing
 * their double expansion (0.30000001192092896) only adds noise to CSV and JSON.
 */
export function float32Number(x: number): number {
  if (!Number.isFinite(x)) return x;
  const f = Math.fround(x);
  for (let digits = 6; digits < 10; digits++) {
    const short = Number(f.toPrecision(digits));
    if (Math.fround(short) === f) return short;
  }
  return f;
}

const IMAGE_COLUMNS: ExportColumn[] = [
  { name: 'id', type: 'INT64' },
  { name: 'path', type: 'STRING' },
  { name: 'hash', type: 'STRING' },
];

/** Column names for a class list: p_1, p_2... (or p_<label>). */
function probabilityColumns(classLabels: readonly (string | number)[]): ExportColumn[] {
  return classLabels.map((c) => ({ name: `p_${c}`, type: 'FLOAT' }));
}

function toFloat32(extra: Buffer | null): Float32Array | null {
  // Copy: a Buffer may be a view into a shared pool at an offset that is not float-aligned.
  return extra ? new Float32Array(new Uint8Array(extra).buffer) : null;
}

interface StoredRow {
  id: number;
  path: string;
  hash: string | null;
  value: number | null;
  extra: Buffer | null;
  rating_count: number;
}

function* storedRows(db: LibraryDb, analysisId: number): Generator<StoredRow> {
  yield* db
    .prepare<[number], StoredRow>(
      `SELECT i.id, i.rel_path AS path, i.content_hash AS hash, v.value, v.extra, i.rating_count FROM analysis_values v
       JOIN images i ON i.id = v.image_id WHERE v.analysis_id = ? ORDER BY i.id`,
    )
    .iterate(analysisId);
}

const HOW_TO_MAKE: Partial<Record<AnalysisKind, string>> = {
  'pseudo-labels': '`miru pseudo-labels --db D --embedding RUN` (or --method threshold --model NAME)',
  consensus: '`miru raters --db D` (add --consensus crowdlab for the CROWDLAB consensus)',
  'label-issues': '`miru issues --db D --embedding RUN`',
  'image-issues': '`miru issues --db D --embedding RUN`',
  outliers: '`miru issues --db D --embedding RUN`',
};

/** The stored analysis to export: the one named by id (checked to be of this kind), else the newest of the kind. */
function pickAnalysis(db: LibraryDb, kind: AnalysisKind, id: number | undefined): AnalysisRecord {
  if (id !== undefined) {
    const record = getAnalysis(db, id);
    if (!record) throw new Error(`No stored analysis ${id}. Stored ${kind} analyses: ${describeStored(db, kind)}.`);
    if (record.kind !== kind) throw new Error(`Analysis ${id} is of kind ${record.kind}, not ${kind}. Stored ${kind} analyses: ${describeStored(db, kind)}.`);
    return record;
  }
  const newest = listAnalyses(db, { kind })[0];
  if (!newest) throw new Error(`No ${kind} analysis is stored in this library yet. Make one with ${HOW_TO_MAKE[kind] ?? `the command that computes ${kind}`}, then export again.`);
  return newest;
}

function describeStored(db: LibraryDb, kind: AnalysisKind): string {
  const all = listAnalyses(db, { kind });
  return all.length ? all.map((a) => `${a.id} (${a.createdAt})`).join(', ') : 'none';
}

/**
 * Names for an analysis's extra vector, `<prefix>_<name>` where the producer named them in summary.extra (an
 * array of names; some producers describe the vector there in words instead), else `<prefix>_1`, `<prefix>_2`...
 */
function extraColumnNames(record: AnalysisRecord, length: number, prefix: string): string[] {
  const named = record.summary.extra;
  if (Array.isArray(named) && named.length === length && named.every((n) => typeof n === 'string')) return named.map((n) => `${prefix}_${n}`);
  return Array.from({ length }, (_, i) => `${prefix}_${i + 1}`);
}

function extraLength(db: LibraryDb, analysisId: number): number {
  return db.prepare<[number], number>('SELECT length(extra) / 4 FROM analysis_values WHERE analysis_id = ? AND extra IS NOT NULL LIMIT 1').pluck().get(analysisId) ?? 0;
}

function softLabelsTable(db: LibraryDb, options: AnalysisExportOptions): AnalysisExportTable {
  if (options.model && options.smoothing !== undefined) throw new Error('--smoothing applies to soft labels from ratings; with --model use --temperature or --top-k.');
  if (!options.model && (options.temperature !== undefined || options.topK !== undefined)) {
    throw new Error('--temperature and --top-k rescale a model\'s probabilities; add --model NAME (or drop them for soft labels from ratings).');
  }
  const set = options.model
    ? softLabelsFromModel(db, options.model, { temperature: options.temperature, topK: options.topK })
    : softLabelsFromRatings(db, { smoothing: options.smoothing });
  const id = saveSoftLabels(db, set);
  const record = getAnalysis(db, id)!;
  const K = set.classLabels.length;
  const fromRatings = set.source === 'ratings';
  const columns: ExportColumn[] = [
    ...IMAGE_COLUMNS,
    ...(fromRatings ? [{ name: 'ratings', type: 'INT32' } as const] : []),
    { name: 'expected', type: 'DOUBLE' },
    ...probabilityColumns(set.classLabels),
  ];
  const rows = (function* () {
    for (const r of storedRows(db, id)) {
      const row: Record<string, unknown> = { id: r.id, path: r.path, hash: r.hash };
      if (fromRatings) row.ratings = r.rating_count;
      row.expected = r.value;
      const p = toFloat32(r.extra);
      for (let k = 0; k < K; k++) row[columns[columns.length - K + k]!.name] = p ? float32Number(p[k]!) : null;
      yield row;
    }
  })();
  return { columns, rows, sources: [{ kind: 'soft-labels', id, createdAt: record.createdAt }] };
}

function pseudoLabelsTable(db: LibraryDb, options: AnalysisExportOptions): AnalysisExportTable {
  const record = pickAnalysis(db, 'pseudo-labels', options.analysisId);
  const classes = Array.isArray(record.summary.classes) ? (record.summary.classes as number[]) : null;
  const K = classes?.length ?? Math.max(0, extraLength(db, record.id) - 1);
  const labels = classes ?? Array.from({ length: K }, (_, k) => k);
  const columns: ExportColumn[] = [
    ...IMAGE_COLUMNS,
    { name: 'label', type: 'DOUBLE' },
    { name: 'confidence', type: 'FLOAT' },
    { name: 'certainty', type: 'FLOAT' },
    ...probabilityColumns(labels),
  ];
  const rows = (function* () {
    for (const r of storedRows(db, record.id)) {
      const extra = toFloat32(r.extra);
      const distribution = extra ? extra.subarray(1, 1 + K) : null;
      const row: Record<string, unknown> = {
        id: r.id,
        path: r.path,
        hash: r.hash,
        label: r.value,
        confidence: extra ? float32Number(extra[0]!) : null,
        // Iscen et al.'s per-image weight, derived from the stored distribution rather than stored twice.
        certainty: distribution ? float32Number(certaintyWeight(distribution, K)) : null,
      };
      labels.forEach((c, k) => (row[`p_${c}`] = distribution ? float32Number(distribution[k]!) : null));
      yield row;
    }
  })();
  return { columns, rows, sources: [{ kind: 'pseudo-labels', id: record.id, createdAt: record.createdAt }] };
}

function consensusTable(db: LibraryDb, options: AnalysisExportOptions): AnalysisExportTable {
  const record = pickAnalysis(db, 'consensus', options.analysisId);
  const m = extraLength(db, record.id);
  const classes = Array.isArray(record.summary.classes) ? (record.summary.classes as (number | string)[]) : null;
  // CROWDLAB stores [quality, ...posterior over classes] (core/analysis/raterAnalysis.ts); other producers may
  // name their extra columns in summary.extra.
  const names =
    classes && m === classes.length + 1 && !Array.isArray(record.summary.extra)
      ? ['quality', ...classes.map((c) => `p_${c}`)]
      : extraColumnNames(record, m, 'extra');
  const columns: ExportColumn[] = [...IMAGE_COLUMNS, { name: 'consensus', type: 'DOUBLE' }, ...names.map((name) => ({ name, type: 'FLOAT' as const }))];
  const rows = (function* () {
    for (const r of storedRows(db, record.id)) {
      const extra = toFloat32(r.extra);
      const row: Record<string, unknown> = { id: r.id, path: r.path, hash: r.hash, consensus: r.value };
      names.forEach((name, i) => (row[name] = extra && i < extra.length ? float32Number(extra[i]!) : null));
      yield row;
    }
  })();
  return { columns, rows, sources: [{ kind: 'consensus', id: record.id, createdAt: record.createdAt }] };
}

function raterLabelsTable(db: LibraryDb): AnalysisExportTable {
  const count = db.prepare<[], number>('SELECT count(*) FROM ratings').pluck().get() ?? 0;
  if (count === 0) throw new Error('This library has no ratings to export. Import them first: `miru ratings import ratings.csv --db D`.');
  const columns: ExportColumn[] = [
    ...IMAGE_COLUMNS,
    { name: 'rater', type: 'STRING' },
    { name: 'rater_group', type: 'STRING' },
    { name: 'label', type: 'DOUBLE' },
    { name: 'time', type: 'STRING' },
  ];
  const rows = db
    .prepare<[], Record<string, unknown>>(
      `SELECT i.id, i.rel_path AS path, i.content_hash AS hash, raters.name AS rater, g.group_name AS rater_group, r.value AS label, r.rated_at AS time
       FROM ratings r JOIN images i ON i.id = r.image_id JOIN raters ON raters.id = r.rater_id
       LEFT JOIN rater_groups g ON g.rater_id = r.rater_id ORDER BY i.id, raters.name`,
    )
    .iterate();
  return { columns, rows, sources: [] };
}

/**
 * The analyses an issues export joins: the newest label issues, the newest outlier scores, and the newest analysis
 * of each image check (`miru issues` stores one per check: value = score, extra = [flag]).
 */
function issueSources(db: LibraryDb): { kind: AnalysisKind; column: string; record: AnalysisRecord; extraNames: string[] }[] {
  const sources: { kind: AnalysisKind; column: string; record: AnalysisRecord; extraNames: string[] }[] = [];
  const label = listAnalyses(db, { kind: 'label-issues' })[0];
  if (label) sources.push({ kind: 'label-issues', column: 'label_issue', record: label, extraNames: extraColumnNames(label, extraLength(db, label.id), 'label_issue') });
  const newestPerCheck = new Map<string, AnalysisRecord>();
  for (const record of listAnalyses(db, { kind: 'image-issues' })) {
    const check = String(record.params.issue ?? record.summary.issue);
    if (!newestPerCheck.has(check)) newestPerCheck.set(check, record);
  }
  for (const check of [...IMAGE_ISSUE_TYPES, ...newestPerCheck.keys()].filter((c, i, all) => newestPerCheck.has(c) && all.indexOf(c) === i)) {
    const record = newestPerCheck.get(check)!;
    sources.push({ kind: 'image-issues', column: `${check}_score`, record, extraNames: [check] });
  }
  const outliers = listAnalyses(db, { kind: 'outliers' })[0];
  if (outliers) sources.push({ kind: 'outliers', column: 'outlier', record: outliers, extraNames: extraColumnNames(outliers, extraLength(db, outliers.id), 'outlier') });
  return sources;
}

/** One row per image found in any of the issue analyses above: a score column per analysis, plus its extras. */
function issuesTable(db: LibraryDb): AnalysisExportTable {
  const found = issueSources(db);
  if (found.length === 0) {
    throw new Error('No label issues, image issues or outlier scores are stored in this library yet. Find them with `miru issues --db D --embedding RUN`, then export again.');
  }
  const columns: ExportColumn[] = [...IMAGE_COLUMNS];
  for (const f of found) {
    columns.push({ name: f.column, type: 'DOUBLE' });
    for (const name of f.extraNames) columns.push({ name, type: 'FLOAT' });
  }
  const joins = found.map((f, j) => `LEFT JOIN analysis_values v${j} ON v${j}.analysis_id = ${f.record.id} AND v${j}.image_id = i.id`).join('\n');
  const picks = found.map((_, j) => `v${j}.value AS value${j}, v${j}.extra AS extra${j}`).join(', ');
  const any = found.map((_, j) => `v${j}.image_id IS NOT NULL`).join(' OR ');
  const statement = db.prepare<[], Record<string, unknown>>(`SELECT i.id, i.rel_path AS path, i.content_hash AS hash, ${picks} FROM images i ${joins} WHERE ${any} ORDER BY i.id`);
  const rows = (function* () {
    for (const r of statement.iterate()) {
      const row: Record<string, unknown> = { id: r.id, path: r.path, hash: r.hash };
      found.forEach((f, j) => {
        row[f.column] = r[`value${j}`] ?? null;
        const extra = toFloat32((r[`extra${j}`] as Buffer | null) ?? null);
        f.extraNames.forEach((name, i) => (row[name] = extra && i < extra.length ? float32Number(extra[i]!) : null));
      });
      yield row;
    }
  })();
  return { columns, rows, sources: found.map((f) => ({ kind: f.kind, id: f.record.id, createdAt: f.record.createdAt })) };
}

/** The table for one analysis export; bad options and missing analyses throw before any row is produced. */
export function analysisExportTable(db: LibraryDb, what: AnalysisExportWhat, options: AnalysisExportOptions = {}): AnalysisExportTable {
  const only = (allowed: (keyof AnalysisExportOptions)[]) => {
    const extra = (Object.keys(options) as (keyof AnalysisExportOptions)[]).filter((key) => options[key] !== undefined && !allowed.includes(key));
    const flag: Record<keyof AnalysisExportOptions, string> = { model: '--model', smoothing: '--smoothing', temperature: '--temperature', topK: '--top-k', analysisId: '--analysis' };
    if (extra.length) throw new Error(`${extra.map((k) => flag[k]).join(', ')} ${extra.length > 1 ? 'do' : 'does'} not apply to --what ${what}.`);
  };
  switch (what) {
    case 'soft-labels':
      only(['model', 'smoothing', 'temperature', 'topK']);
      return softLabelsTable(db, options);
    case 'pseudo-labels':
      only(['analysisId']);
      return pseudoLabelsTable(db, options);
    case 'consensus':
      only(['analysisId']);
      return consensusTable(db, options);
    case 'rater-labels':
      only([]);
      return raterLabelsTable(db);
    case 'issues':
      only([]);
      return issuesTable(db);
    default:
      throw new Error(`--what must be one of ${ANALYSIS_EXPORTS.join(', ')} (got ${JSON.stringify(what)}).`);
  }
}
