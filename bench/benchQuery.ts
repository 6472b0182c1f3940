/**
 * bench:query — the query model at a million images: database open time, and for several filter+sort
 * combinations the first page and a deep keyset page through core/library/queryImages.ts, each sampled many
 * times (p50/p95), next to a same-run baseline: the equivalent LIMIT/OFFSET query for the deep page.
 * Goals: open under 300 ms, every page under 50 ms at the 95th percentile.
 *
 * Environment: BENCH_SAMPLES (default 30 per page kind and combination), BENCH_OFFSET_SAMPLES (default 10),
 * BENCH_DEPTH (default 20,000 rows, i.e.
 * 200 pages of 100), BENCH_EXPERIMENTS=1 to always run the index/query experiments (they also run when a
 * combination misses the goal), BENCH_EXPERIMENTS=0 to never run them.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { openLibrary } from '../core/library/openLibrary.js';
import { queryImages } from '../core/library/queryImages.js';
import { COMBINATIONS, PAGE, explainCombination, offsetPage, prepareCombination, type Prepared } from './queryCombos.js';
import { ensureQueryDb } from './queryDb.js';
import { fmtMs, heading, median, now, percentile, printTable } from './benchUtil.js';
import { runQueryExperiments } from './queryExperiments.js';

const OPEN_GOAL_MS = 300;
const PAGE_GOAL_MS = 50;
const EARLY_STOP = 10;

async function main(): Promise<void> {
  const totalStarted = now();
  const samples = Math.max(EARLY_STOP, Number(process.env.BENCH_SAMPLES ?? 30));
  const offsetSamples = Math.min(samples, Number(process.env.BENCH_OFFSET_SAMPLES ?? 10));
  const wantedDepth = Number(process.env.BENCH_DEPTH ?? 20_000);

  heading('bench:query setup');
  const info = await ensureQueryDb();
  if (info.generatedMs !== null) console.log(`generated ${info.path} in ${fmtMs(info.generatedMs)}`);
  else console.log(`using cached ${info.path}`);

  // --- Open time -------------------------------------------------------------------------------------------
  heading('database open (close + openLibrary on the existing file)');
  const openMs: number[] = [];
  const openFirstPageMs: number[] = [];
  for (let i = 0; i < 10; i++) {
    let t = now();
    const db = openLibrary(info.path);
    openMs.push(now() - t);
    t = now();
    queryImages(db, { limit: PAGE });
    openFirstPageMs.push(openMs[openMs.length - 1]! + now() - t);
    db.close();
  }
  const coldMs: number[] = [];
  const coldFirstMs: number[] = [];
  for (let i = 0; i < 5; i++) {
    if (!evictFromPageCache([info.path, `${info.path}-wal`, `${info.path}-shm`])) break;
    let t = now();
    const db = openLibrary(info.path);
    coldMs.push(now() - t);
    t = now();
    queryImages(db, { limit: PAGE });
    coldFirstMs.push(coldMs[coldMs.length - 1]! + now() - t);
    db.close();
  }
  const openRows = [
    ['open', 'median', 'max', `goal < ${OPEN_GOAL_MS} ms`],
    ['openLibrary (warm OS cache)', fmtMs(median(openMs)), fmtMs(Math.max(...openMs)), Math.max(...openMs) < OPEN_GOAL_MS ? 'PASS' : 'FAIL'],
    ['openLibrary + first page (warm)', fmtMs(median(openFirstPageMs)), fmtMs(Math.max(...openFirstPageMs)), Math.max(...openFirstPageMs) < OPEN_GOAL_MS ? 'PASS' : 'FAIL'],
  ];
  if (coldMs.length) {
    openRows.push(['openLibrary (file evicted from OS cache)', fmtMs(median(coldMs)), fmtMs(Math.max(...coldMs)), Math.max(...coldMs) < OPEN_GOAL_MS ? 'PASS' : 'FAIL']);
    openRows.push(['openLibrary + first page (evicted)', fmtMs(median(coldFirstMs)), fmtMs(Math.max(...coldFirstMs)), Math.max(...coldFirstMs) < OPEN_GOAL_MS ? 'PASS' : 'FAIL']);
  } else {
    console.log('(cold open skipped: could not evict the file from the OS page cache; python3 posix_fadvise unavailable)');
  }
  printTable(openRows);

  const db = openLibrary(info.path);
  try {
    const counts = db.prepare(`SELECT
        (SELECT count(*) FROM images) AS images, (SELECT count(*) FROM images WHERE status = 'ok') AS ok,
        (SELECT count(*) FROM images WHERE status = 'error') AS errors, (SELECT count(*) FROM images WHERE status = 'missing') AS missing,
        (SELECT count(*) FROM ratings) AS ratings, (SELECT count(*) FROM raters) AS raters, (SELECT count(*) FROM tags) AS tags,
        (SELECT count(*) FROM images WHERE rating_count > 0) AS rated`).get() as Record<string, number>;
    console.log(`\nlibrary: ${Object.entries(counts).map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`).join(', ')}`);
    const stat1 = db.prepare(`SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'`).pluck().get() as number;
    console.log(`planner statistics: ${stat1 ? `sqlite_stat1 with ${db.prepare('SELECT count(*) FROM sqlite_stat1').pluck().get() as number} rows` : 'none (no sqlite_stat1)'}`);

    // --- Prepare every combination: match count, a cursor `depth` rows deep, the OFFSET equivalent --------
    heading('preparing combinations (match counts, deep cursors, keyset vs OFFSET consistency)');
    const prepared: Prepared[] = [];
    for (const combo of COMBINATIONS) {
      const p = prepareCombination(db, combo, wantedDepth);
      prepared.push(p);
      console.log(`${combo.label.padEnd(52)} matches ${p.matches.toLocaleString('en-US').padStart(9)}, deep page at row ${p.depth.toLocaleString('en-US')}`);
    }

    // --- Sampling: interleave combinations and page kinds so noise spreads evenly -------------------------
    // A combination whose pages are already far over the goal after EARLY_STOP samples (p50 over 4x the goal)
    // stops there: more samples would only make a failing run take many minutes.
    heading(`sampling (${samples} samples of the first and the deep page per combination, ${offsetSamples} of the OFFSET page; limit ${PAGE})`);
    const t = now();
    const stopped = new Set<Prepared>();
    for (let s = 0; s < samples; s++) {
      for (const p of prepared) {
        if (stopped.has(p)) continue;
        let t0 = now();
        queryImages(db, { filters: p.filters, sort: p.sort, limit: PAGE });
        p.first.push(now() - t0);
        if (p.deepCursor) {
          t0 = now();
          queryImages(db, { filters: p.filters, sort: p.sort, limit: PAGE, after: p.deepCursor });
          p.deep.push(now() - t0);
          if (s < offsetSamples) {
            t0 = now();
            offsetPage(db, p);
            p.offset.push(now() - t0);
          }
        }
        if (s + 1 === EARLY_STOP && Math.max(median(p.first), p.deep.length ? median(p.deep) : 0) > 4 * PAGE_GOAL_MS) stopped.add(p);
      }
    }
    console.log(`sampled in ${fmtMs(now() - t)}${stopped.size ? `; ${stopped.size} combinations stopped after ${EARLY_STOP} samples (p50 > ${4 * PAGE_GOAL_MS} ms)` : ''}`);

    heading('results');
    const rows: string[][] = [['combination', 'matches', 'first p50', 'first p95', 'deep row', 'deep p50', 'deep p95', 'OFFSET p50', 'keyset/offset', `p95 < ${PAGE_GOAL_MS} ms`]];
    const failing: Prepared[] = [];
    for (const p of prepared) {
      const worst = Math.max(percentile(p.first, 95), p.deep.length ? percentile(p.deep, 95) : 0);
      const pass = worst < PAGE_GOAL_MS;
      if (!pass) failing.push(p);
      rows.push([
        p.combo.label,
        p.matches.toLocaleString('en-US'),
        fmtMs(median(p.first)),
        fmtMs(percentile(p.first, 95)),
        p.deepCursor ? p.depth.toLocaleString('en-US') : '-',
        p.deep.length ? fmtMs(median(p.deep)) : '-',
        p.deep.length ? fmtMs(percentile(p.deep, 95)) : '-',
        p.offset.length ? fmtMs(median(p.offset)) : '-',
        p.deep.length ? `${(median(p.deep) / median(p.offset)).toFixed(3)}x` : '-',
        pass ? 'PASS' : `FAIL${stopped.has(p) ? ` (${p.first.length} samples)` : ''}`,
      ]);
    }
    printTable(rows, 1);
    console.log(`\n${prepared.length - failing.length}/${prepared.length} combinations meet ${PAGE_GOAL_MS} ms p95 on both pages; open max ${fmtMs(Math.max(...openMs))} (goal < ${OPEN_GOAL_MS} ms).`);

    const experiments = process.env.BENCH_EXPERIMENTS;
    if (failing.length && experiments !== '0') {
      heading('query plans of the failing combinations (as queryImages runs them)');
      for (const p of failing) explainCombination(db, p);
    }
    if (experiments === '1' || (experiments !== '0' && failing.length)) {
      heading('experiments on a copy of the database');
      db.close();
      await runQueryExperiments(info.path, failing.length ? failing : prepared, Math.min(samples, 15));
      return;
    }
  } finally {
    if (db.open) db.close();
    console.log(`\nbench:query finished in ${fmtMs(now() - totalStarted)}`);
  }
}

/** Drops a file's pages from the OS page cache (posix_fadvise DONTNEED) so the next open reads from disk. */
function evictFromPageCache(files: string[]): boolean {
  const existing = files.filter((f) => existsSync(f));
  const script = 'import os, sys\nfor f in sys.argv[1:]:\n    fd = os.open(f, os.O_RDONLY)\n    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)\n    os.close(fd)';
  const result = spawnSync('python3', ['-c', script, ...existing], { stdio: 'ignore' });
  return result.status === 0;
}

await main();
