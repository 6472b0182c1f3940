/**
 * Experiments for combinations that miss the page goal, on a copy of the benchmark database: planner statistics
 * (none, PRAGMA optimize's sampled ones, a full ANALYZE), query rewrites applied to the SQL that the real
 * queryImages prepares (so the measured code is core's, with only the proposed change), and an FTS5 trigram
 * index for `path~`. Nothing here changes core; it measures what a change to core would buy.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { openLibrary, type LibraryDb } from '../core/library/openLibrary.js';
import { queryImages } from '../core/library/queryImages.js';
import { PAGE, captureStatements, type Prepared } from './queryCombos.js';
import { fmtMs, median, now, percentile, printTable } from './benchUtil.js';

/** A change to the SQL text queryImages prepares, with an optional mapping of its bound parameters. */
type Rewrite = (sql: string) => {
  sql: string;
  mapParams?: (params: unknown[]) => unknown[];
  /** A second form of the statement, run instead when `when` says so for the bound parameters. */
  alternative?: { sql: string; when: (prepare: (sql: string) => Database.Statement, params: unknown[]) => boolean };
};

interface Variant {
  name: string;
  /** Runs on the copy before measuring; returns a note to print (e.g. how long an ANALYZE took). */
  setup?: (db: LibraryDb) => string | void;
  rewrite?: Rewrite;
  /** Only these combinations (default: all given). */
  only?: (p: Prepared) => boolean;
}

const PAGE_GOAL_MS = 50;

/** Replaces `status = ?` with `+status = ?`: the unary plus keeps the planner off the images_status index. */
const unaryStatus: Rewrite = (sql) => ({ sql: sql.replace(/(?<![+\w.])((?:images\.)?status = \?)/g, '+$1') });

/** `images CROSS JOIN roots`: SQLite keeps the left table as the outer loop, so the plan is driven by images'
 * sort index instead of by roots + the (root_id, rel_path) index and a full sort. */
const crossJoinRoots: Rewrite = (sql) => ({ sql: sql.replace(/FROM images JOIN roots ON/g, 'FROM images CROSS JOIN roots ON') });

/** Tag and rater filters as `images.id IN (subquery)`: the planner may then drive the query from tags_tag/ratings_rater. */
const inSubqueries: Rewrite = (sql) => ({
  sql: sql
    .replace(/(?<!NOT )EXISTS \(SELECT 1 FROM tags t WHERE t\.image_id = images\.id AND t\.tag = \?\)/g, 'images.id IN (SELECT image_id FROM tags WHERE tag = ?)')
    .replace(/EXISTS \(SELECT 1 FROM ratings r WHERE r\.image_id = images\.id AND r\.rater_id = \?\)/g, 'images.id IN (SELECT image_id FROM ratings WHERE rater_id = ?)'),
});

/** `rel_path LIKE '%x%'` pre-filtered through an FTS5 trigram index (the LIKE stays, so results are identical). */
const ftsPath: Rewrite = (sql) => {
  const match = /(?:images\.)?rel_path LIKE \? ESCAPE '\\'/.exec(sql);
  if (!match) return { sql };
  const like = match[0];
  const at = match.index;
  const paramIndex = (sql.slice(0, at).match(/\?/g) ?? []).length;
  return {
    sql: sql.replace(like, `images.id IN (SELECT rowid FROM bench_path_fts WHERE bench_path_fts MATCH ?) AND ${like}`),
    mapParams: (params) => {
      // The LIKE pattern is %text% with \ escapes; the trigram phrase query is the plain text, quoted.
      const needle = String(params[paramIndex]).slice(1, -1).replace(/\\([\\%_])/g, '$1');
      return [...params.slice(0, paramIndex), `"${needle.replace(/"/g, '""')}"`, ...params.slice(paramIndex)];
    },
  };
};

/** Tag/rater filters that match few images become `IN (subquery)` (drive from tags_tag / ratings_rater, then sort
 * the few rows); common ones stay `EXISTS` (walk the sort index, most rows pass). Decided per query by a bounded
 * count on the covering index, which is part of the measured time. */
export const ADAPTIVE_LIMIT = 20_000;
const adaptiveMembership: Rewrite = (sql) => {
  const m =
    /(?<!NOT )EXISTS \(SELECT 1 FROM tags t WHERE t\.image_id = images\.id AND t\.tag = \?\)/.exec(sql) ??
    /EXISTS \(SELECT 1 FROM ratings r WHERE r\.image_id = images\.id AND r\.rater_id = \?\)/.exec(sql);
  if (!m) return { sql };
  const paramIndex = (sql.slice(0, m.index).match(/\?/g) ?? []).length;
  const isTag = m[0].includes('FROM tags');
  const inSql = sql.replace(m[0], isTag ? 'images.id IN (SELECT image_id FROM tags WHERE tag = ?)' : 'images.id IN (SELECT image_id FROM ratings WHERE rater_id = ?)');
  const countSql = isTag
    ? 'SELECT count(*) FROM (SELECT 1 FROM tags WHERE tag = ? LIMIT ?)'
    : 'SELECT count(*) FROM (SELECT 1 FROM ratings WHERE rater_id = ? LIMIT ?)';
  return {
    sql,
    alternative: {
      sql: inSql,
      when: (prepare, params) => (prepare(countSql).pluck().get(params[paramIndex], ADAPTIVE_LIMIT + 1) as number) <= ADAPTIVE_LIMIT,
    },
  };
};

const both = (a: Rewrite, b: Rewrite): Rewrite => (sql) => {
  const first = a(sql);
  const second = b(first.sql);
  const m1 = first.mapParams;
  const m2 = second.mapParams;
  return { sql: second.sql, mapParams: m1 || m2 ? (p) => (m2 ?? ((x) => x))((m1 ?? ((x) => x))(p)) : undefined };
};

/** Makes every statement prepared on `db` go through `rewrite` (SQL text and bound parameters). */
function installRewrite(db: LibraryDb, rewrite: Rewrite | undefined): () => void {
  if (!rewrite) return () => {};
  const original = db.prepare;
  (db as unknown as { prepare: unknown }).prepare = function (sql: string) {
    const r = rewrite(sql);
    const prepare = (text: string) => original.call(db, text) as Database.Statement;
    const statement = prepare(r.sql);
    const alternative = r.alternative ? prepare(r.alternative.sql) : null;
    const map = r.mapParams ?? ((params: unknown[]) => params);
    if (r.mapParams || alternative) {
      const target = statement as unknown as Record<string, (...a: unknown[]) => unknown>;
      const other = alternative as unknown as Record<string, (...a: unknown[]) => unknown> | null;
      for (const method of ['all', 'get', 'run', 'iterate']) {
        const fn = target[method]!.bind(statement);
        const alt = other ? other[method]!.bind(alternative) : null;
        target[method] = (...params: unknown[]) => (alt && r.alternative!.when(prepare, params) ? alt(...map(params)) : fn(...map(params)));
      }
    }
    return statement;
  };
  return () => {
    (db as unknown as { prepare: unknown }).prepare = original;
  };
}

function planSummary(db: LibraryDb, p: Prepared, after: string | null): string {
  const captured = captureStatements(db, () => queryImages(db, { filters: p.filters, sort: p.sort, limit: PAGE, after }));
  const main = captured.filter(({ sql }) => !/FROM tags WHERE image_id IN|FROM raters WHERE name/.test(sql));
  return main
    .map(({ sql, params }) =>
      (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[])
        .map((r) => r.detail)
        .filter((d) => !/^SEARCH roots/.test(d))
        .join('; '),
    )
    .join(' | ');
}

export async function runQueryExperiments(dbPath: string, prepared: Prepared[], samples: number): Promise<void> {
  const tmpDir = await fs.mkdtemp(path.join(os.tmpdir(), 'miru-bench-query-'));
  const copy = path.join(tmpDir, 'copy.db');
  const t = now();
  await fs.copyFile(dbPath, copy);
  console.log(`copied the database to ${copy} in ${fmtMs(now() - t)}; ${samples} samples per page (early stop at 5 samples if p50 > ${4 * PAGE_GOAL_MS} ms)`);
  const db = openLibrary(copy);
  try {
    db.exec('CREATE TABLE bench_saved_stat1 AS SELECT * FROM sqlite_stat1');
    const restoreOptimizeStats = () => {
      db.exec('DELETE FROM sqlite_stat1; INSERT INTO sqlite_stat1 SELECT * FROM bench_saved_stat1; ANALYZE sqlite_schema;');
    };
    const statusStat = () => (db.prepare(`SELECT stat FROM sqlite_stat1 WHERE idx = 'images_status'`).pluck().get() as string | undefined) ?? 'none';
    let fullStats = false;
    const fullAnalyze = (): string => {
      if (fullStats) return '';
      const t0 = now();
      db.pragma('analysis_limit = 0');
      db.exec('ANALYZE');
      fullStats = true;
      return `full ANALYZE took ${fmtMs(now() - t0)}; images_status stat now '${statusStat()}' (PRAGMA optimize had left '${db.prepare(`SELECT stat FROM bench_saved_stat1 WHERE idx = 'images_status'`).pluck().get() as string}')`;
    };
    const isPath = (p: Prepared) => p.combo.filters.some((f) => f.startsWith('path~'));
    const pinned = both(crossJoinRoots, unaryStatus);
    let fullStatsSaved = false;
    const withFullStats = (): string => {
      const note = fullAnalyze();
      if (!fullStatsSaved) {
        db.exec('CREATE TABLE bench_full_stat1 AS SELECT * FROM sqlite_stat1');
        fullStatsSaved = true;
      } else {
        db.exec('DELETE FROM sqlite_stat1; INSERT INTO sqlite_stat1 SELECT * FROM bench_full_stat1; ANALYZE sqlite_schema;');
      }
      return note;
    };
    const variants: Variant[] = [
      {
        name: 'no planner statistics (sqlite_stat1 emptied)',
        setup: (d) => void d.exec('DELETE FROM sqlite_stat1; ANALYZE sqlite_schema;'),
      },
      {
        name: "PRAGMA optimize's stats + query pinned (CROSS JOIN roots, +status)",
        setup: () => restoreOptimizeStats(),
        rewrite: pinned,
      },
      { name: 'full ANALYZE (analysis_limit = 0), query as is', setup: withFullStats },
      { name: 'full ANALYZE + tag/rater always IN (subquery)', setup: withFullStats, rewrite: inSubqueries },
      { name: `full ANALYZE + tag/rater IN when <= ${ADAPTIVE_LIMIT} rows, else EXISTS`, setup: withFullStats, rewrite: adaptiveMembership },
      {
        name: 'full ANALYZE, rating-index stats from before the ratings import',
        only: (p) => /ratingMean|ratingCount/.test(p.combo.sort + p.combo.filters.join()),
        setup: (d) => {
          withFullStats();
          // What ANALYZE records while rating_mean is NULL and rating_count 0 everywhere (an index run before any import).
          d.exec(`UPDATE sqlite_stat1 SET stat = '1000000 1000000' WHERE idx IN ('images_by_rating_mean', 'images_by_rating_count'); ANALYZE sqlite_schema;`);
          return 'images_by_rating_mean and images_by_rating_count stats set to "1000000 1000000"';
        },
      },
      {
        name: 'full ANALYZE + FTS5 trigram index for path~',
        only: isPath,
        setup: (d) => {
          const note = withFullStats();
          const pages0 = d.pragma('page_count', { simple: true }) as number;
          const t0 = now();
          d.exec(`CREATE VIRTUAL TABLE bench_path_fts USING fts5(rel_path, content='images', content_rowid='id', tokenize='trigram');
                  INSERT INTO bench_path_fts(bench_path_fts) VALUES ('rebuild');`);
          const grown = ((d.pragma('page_count', { simple: true }) as number) - pages0) * (d.pragma('page_size', { simple: true }) as number);
          return `${note ? `${note}; ` : ''}FTS5 trigram index built in ${fmtMs(now() - t0)}, +${(grown / (1 << 20)).toFixed(0)} MiB`;
        },
        rewrite: ftsPath,
      },
    ];

    const rows: string[][] = [['variant', 'combination', 'first p50', 'first p95', 'deep p50', 'deep p95', `p95 < ${PAGE_GOAL_MS} ms`]];
    for (const variant of variants) {
      const note = variant.setup?.(db);
      const chosen = prepared.filter(variant.only ?? (() => true));
      if (chosen.length === 0) continue;
      console.log(`\n-- ${variant.name}${note ? `\n   ${note}` : ''}`);
      const uninstall = installRewrite(db, variant.rewrite);
      try {
        const first = new Map<Prepared, number[]>(chosen.map((p) => [p, []]));
        const deep = new Map<Prepared, number[]>(chosen.map((p) => [p, []]));
        const stopped = new Set<Prepared>();
        for (let s = 0; s < samples; s++) {
          for (const p of chosen) {
            if (stopped.has(p)) continue;
            let t0 = now();
            const page = queryImages(db, { filters: p.filters, sort: p.sort, limit: PAGE });
            first.get(p)!.push(now() - t0);
            if (s === 0 && page.items.length === 0 && p.matches > 0) console.log(`   WARNING ${p.combo.label}: empty first page under this variant`);
            if (p.deepCursor) {
              t0 = now();
              queryImages(db, { filters: p.filters, sort: p.sort, limit: PAGE, after: p.deepCursor });
              deep.get(p)!.push(now() - t0);
            }
            if (s === 4 && Math.max(median(first.get(p)!), median(deep.get(p)!.length ? deep.get(p)! : [0])) > 4 * PAGE_GOAL_MS) stopped.add(p);
          }
        }
        for (const p of chosen) {
          const f = first.get(p)!;
          const d = deep.get(p)!;
          const worst = Math.max(percentile(f, 95), d.length ? percentile(d, 95) : 0);
          rows.push([
            variant.name,
            p.combo.label,
            fmtMs(median(f)),
            fmtMs(percentile(f, 95)),
            d.length ? fmtMs(median(d)) : '-',
            d.length ? fmtMs(percentile(d, 95)) : '-',
            worst < PAGE_GOAL_MS ? 'PASS' : `FAIL${stopped.has(p) ? ` (${f.length} samples)` : ''}`,
          ]);
          console.log(`   ${p.combo.label}: ${planSummary(db, p, null)}`);
        }
      } finally {
        uninstall();
      }
    }
    console.log('');
    printTable(rows, 2);
  } finally {
    db.close();
    await fs.rm(tmpDir, { recursive: true, force: true });
  }
}
