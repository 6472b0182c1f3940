/**
 * bench:ui — the workbench UI on a 1,000,000-image library, in headless Chromium (Debian's, via playwright-core)
 * against `miru serve`, measured with the page's own Performance API:
 *   - navigation to the first grid of thumbnails (the UI's `miru:first-grid` mark: count known, every tile on
 *     screen showing its item and decoded thumbnail), each in a fresh browser context (empty caches);
 *   - a filter change to the updated grid (`miru:filters-changed` to the next `miru:grid-ready`), for several
 *     filters (a common tag, a rare tag excluded, a rating range, a path search, clearing);
 *   - the longest task while scrolling 10,000 rows (PerformanceObserver 'longtask'), plus the longest gap
 *     between animation frames;
 *   - deep jumps: the scrollbar set to 50% and to 99% of the listing at once (a drag's end), in library order
 *     and sorted by a column, timed from setting scrollTop to the UI's `miru:view-filled` mark (every tile on
 *     screen showing its item and thumbnail again). The grid fetches the block there by its rank
 *     (listImages `offset`) instead of walking the ~500 pages before it. Baseline: the first-grid time.
 * Goals (issue 5): under 1.5 s, under 300 ms, no task over 100 ms. Same-run baseline: navigating to a static
 * file on the same server (browser + server overhead with no app).
 *
 * The library is bench:query's generated 1M-row database (bench/queryDb.ts), copied to .bench/ui-1m.db with its
 * content hashes rewritten to a dozen values whose thumbnails exist (made from `miru synth` illustrations): rows
 * share a few thumbnails, as the issue asks. Environment: BENCH_RUNS (first-grid runs, default 5),
 * BENCH_SCROLL_ROWS (default 10,000), MIRU_CHROMIUM (default /usr/bin/chromium).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { chromium, type Browser, type Page } from 'playwright-core';
import { cacheDirFor } from '../core/library/openLibrary.js';
import { callApi, createMiruService } from '../core/api/miruService.js';
import type { ImagePageResult } from '../core/api/apiTypes.js';
import { thumbnailPath, THUMBNAIL_SIZE } from '../core/library/thumbnails.js';
import { ensureQueryDb, QUERY_DB_PATH } from './queryDb.js';
import { BENCH_DIR, REPO_ROOT, fmtMs, heading, median, now, printTable } from './benchUtil.js';

const GOAL_FIRST_GRID_MS = 1500;
const GOAL_FILTER_MS = 300;
const GOAL_LONG_TASK_MS = 100;
/** Where the deep jumps land, as fractions of the listing. */
const JUMP_FRACTIONS = [0.5, 0.99];
const UI_DB_PATH = path.join(BENCH_DIR, 'ui-1m.db');
const UI_PARAMS_PATH = path.join(BENCH_DIR, 'ui-1m.json');
const THUMBS = 12;
const CHROMIUM = process.env.MIRU_CHROMIUM ?? '/usr/bin/chromium';

// ------------------------------------------------------------------------------------------------ library

async function ensureUiDb(): Promise<string> {
  const query = await ensureQueryDb();
  const source = readFileSync(path.join(BENCH_DIR, 'query-1m.json'), 'utf8');
  const params = JSON.stringify({ generator: 1, thumbs: THUMBS, source: JSON.parse(source) as unknown });
  const cacheDir = cacheDirFor(UI_DB_PATH);
  const hashes = Array.from({ length: THUMBS }, (_, i) => `${'beefcafe'}${(i + 1).toString(16).padStart(8, '0')}`);
  const fresh = existsSync(UI_DB_PATH) && existsSync(UI_PARAMS_PATH) && readFileSync(UI_PARAMS_PATH, 'utf8') === params && hashes.every((h) => existsSync(thumbnailPath(cacheDir, h)));
  if (fresh) {
    console.log(`using cached ${UI_DB_PATH}`);
    return UI_DB_PATH;
  }
  const started = now();
  console.log(`(re)generating ${UI_DB_PATH} from ${query.path}`);
  const tmp = `${UI_DB_PATH}.tmp`;
  for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`, UI_DB_PATH, `${UI_DB_PATH}-wal`, `${UI_DB_PATH}-shm`]) await fs.rm(f, { force: true });
  await fs.copyFile(QUERY_DB_PATH, tmp);
  const db = new Database(tmp);
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  // Rows share a dozen thumbnails: the grid then loads real images, as many distinct URLs as fit on screen.
  const cases = hashes.map((h, i) => `WHEN ${i} THEN '${h}'`).join(' ');
  db.exec(`UPDATE images SET content_hash = CASE id % ${THUMBS} ${cases} END WHERE status = 'ok'`);
  db.pragma('journal_mode = WAL');
  db.close();
  await fs.rename(tmp, UI_DB_PATH);

  // Thumbnails from synthetic illustrations (the real `miru synth`), encoded as the indexer does: 256 px WebP.
  const synthDir = path.join(os.tmpdir(), `miru-bench-ui-synth-${process.pid}`);
  const synth = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin/miru.js'), 'synth', synthDir, '--images', String(THUMBS), '--raters', '2', '--seed', '5'], { encoding: 'utf8' });
  if (synth.status !== 0) throw new Error(`miru synth failed: ${synth.stderr}`);
  const files = (await fs.readdir(path.join(synthDir, 'images'))).sort();
  for (let i = 0; i < THUMBS; i++) {
    const out = thumbnailPath(cacheDir, hashes[i]!);
    mkdirSync(path.dirname(out), { recursive: true });
    await sharp(path.join(synthDir, 'images', files[i % files.length]!)).resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE, { fit: 'inside' }).webp({ quality: 80 }).toFile(out);
  }
  await fs.rm(synthDir, { recursive: true, force: true });
  await fs.writeFile(UI_PARAMS_PATH, params);
  console.log(`  done in ${fmtMs(now() - started)}`);
  return UI_DB_PATH;
}

// ------------------------------------------------------------------------------------------------ server

interface Served {
  url: string;
  origin: string;
  stop(): Promise<void>;
}

function serve(dbPath: string): Promise<Served> {
  const child: ChildProcess = spawn(process.execPath, [path.join(REPO_ROOT, 'bin/miru.js'), 'serve', '--db', dbPath, '--port', '0', '--json', '--ep', 'cpu'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`miru serve exited (${code}): ${err}`));
    child.once('exit', onExit);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (!out.includes('\n')) return;
      child.off('exit', onExit);
      const { url } = JSON.parse(out.split('\n')[0]!) as { url: string };
      resolve({
        url,
        origin: new URL(url).origin,
        stop: async () => {
          child.kill('SIGTERM');
          await exited;
        },
      });
    });
  });
}

// ------------------------------------------------------------------------------------------------ page helpers

/** In-page code is passed as strings: the Node project compiles without DOM types. */
const GRID = `document.querySelector('[data-testid=grid]')`;

async function generation(page: Page): Promise<number> {
  return Number(await page.evaluate(`${GRID}.dataset.generation`));
}

/** The grid host's readiness attributes (the in-page predicate runs in Chromium; Node has no DOM types). */
declare const document: { querySelector(selector: string): { dataset: Record<string, string | undefined> } | null };

async function waitGridReady(page: Page, after: number, timeout = 30_000): Promise<void> {
  // A function, not a string: the page's CSP forbids eval, which string predicates need.
  await page.waitForFunction(
    (before) => {
      const el = document.querySelector('[data-testid=grid]');
      return el !== null && Number(el.dataset.readyGeneration ?? -1) > before && el.dataset.readyGeneration === el.dataset.generation && el.dataset.ready === 'true';
    },
    after,
    { timeout },
  );
}

/** ms from the last `miru:filters-changed` mark to the first `miru:grid-ready` after it. */
async function filterToGridMs(page: Page): Promise<number> {
  return (await page.evaluate(`(() => {
    const changes = performance.getEntriesByName('miru:filters-changed');
    const start = changes[changes.length - 1].startTime;
    const ready = performance.getEntriesByName('miru:grid-ready').find((e) => e.startTime >= start);
    return ready ? ready.startTime - start : NaN;
  })()`)) as number;
}

/** The grid's scroller and the tiles on screen, as the in-page code below reads them. */
declare const performance: { now(): number; getEntriesByName(name: string): { startTime: number }[] };

/**
 * Sets the grid's scrollbar to `fraction` of its range in one step and waits until the screen is filled again
 * (`miru:view-filled` after the jump). Returns the time and the first index on screen.
 */
async function jumpMs(page: Page, fraction: number): Promise<{ ms: number; firstIndex: number }> {
  const t0 = (await page.evaluate(`(() => {
    const s = document.querySelector('.grid-scroller');
    const t0 = performance.now();
    s.scrollTop = ${fraction} * (s.scrollHeight - s.clientHeight);
    return t0;
  })()`)) as number;
  await page.waitForFunction((start) => performance.getEntriesByName('miru:view-filled').some((e) => e.startTime > start), t0, { timeout: 60_000 });
  const filled = (await page.evaluate(`performance.getEntriesByName('miru:view-filled').find((e) => e.startTime > ${t0}).startTime`)) as number;
  const firstIndex = (await page.evaluate(`Math.min(...[...document.querySelectorAll('.tile:not([hidden])[data-id]')].map((e) => Number(e.dataset.index)))`)) as number;
  return { ms: filled - t0, firstIndex };
}

/**
 * The server's side of a jump, in this process over the same file: one listImages page of 1,000 rows at `rank`
 * by `offset` (median of 5), against walking there by cursor, timed over the first 50 pages and scaled to the rank.
 */
async function serverSeekVsWalk(dbPath: string, sort: string | undefined, rank: number): Promise<{ seekMs: number; walkMs: number }> {
  const service = createMiruService(dbPath);
  try {
    const list = (input: Record<string, unknown>) => callApi(service, 'listImages', { filters: [], sort, limit: 1000, ...input }) as Promise<ImagePageResult>;
    await list({ offset: rank }); // loads the worker's columns once, as the running app has
    const seeks: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = now();
      await list({ offset: rank + i * 1000 });
      seeks.push(now() - t0);
    }
    const pages = 50;
    let after: string | null = null;
    const t0 = now();
    for (let i = 0; i < pages; i++) after = (await list({ after })).next;
    return { seekMs: median(seeks), walkMs: ((now() - t0) / (pages * 1000)) * rank };
  } finally {
    await service.close();
  }
}

async function launch(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set MIRU_CHROMIUM)`);
  return chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'] });
}

// ------------------------------------------------------------------------------------------------ main

async function main(): Promise<void> {
  const runs = Math.max(1, Number(process.env.BENCH_RUNS ?? 5));
  const scrollRows = Math.max(100, Number(process.env.BENCH_SCROLL_ROWS ?? 10_000));
  heading('bench:ui setup');
  if (!existsSync(path.join(REPO_ROOT, 'dist/renderer/index.html'))) throw new Error('The UI is not built: run npm run build.');
  const dbPath = await ensureUiDb();
  const server = await serve(dbPath);
  const browser = await launch();
  console.log(`serving ${dbPath} at ${server.origin}; Chromium ${browser.version()}; viewport 1440x900`);
  try {
    // --- baseline and first grid ----------------------------------------------------------------------------
    heading(`navigation to the first grid of thumbnails (${runs} runs, each in a fresh browser context)`);
    const baseline: number[] = [];
    const firstGrid: number[] = [];
    const firstData: number[] = [];
    for (let i = 0; i < runs; i++) {
      const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
      const page = await context.newPage();
      // Baseline: a static file from the same server (sets the token cookie first via the page URL).
      await page.goto(server.url.replace('/?', '/favicon.svg?'));
      baseline.push((await page.evaluate(`performance.getEntriesByType('navigation')[0].loadEventEnd`)) as number);
      await page.goto(server.url);
      await page.waitForFunction(() => performance.getEntriesByName('miru:first-grid').length > 0, undefined, { timeout: 60_000 });
      firstGrid.push((await page.evaluate(`performance.getEntriesByName('miru:first-grid')[0].startTime`)) as number);
      firstData.push((await page.evaluate(`(() => {
        const r = performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/listImages'));
        return r.length ? r[0].responseEnd : NaN;
      })()`)) as number);
      await context.close();
    }
    printTable([
      ['measure', 'median', 'min', 'max', 'runs'],
      ['baseline: navigate to a static file', fmtMs(median(baseline)), fmtMs(Math.min(...baseline)), fmtMs(Math.max(...baseline)), String(runs)],
      ['first listImages page received', fmtMs(median(firstData)), fmtMs(Math.min(...firstData)), fmtMs(Math.max(...firstData)), String(runs)],
      ['first grid of thumbnails', fmtMs(median(firstGrid)), fmtMs(Math.min(...firstGrid)), fmtMs(Math.max(...firstGrid)), String(runs)],
    ]);

    // --- filter changes -------------------------------------------------------------------------------------
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const page = await context.newPage();
    await page.goto(server.url);
    await waitGridReady(page, 0, 60_000);
    const count = async () => Number(((await page.textContent('[data-testid=count]')) ?? '').trim().split(/\s/)[0]!.replace(/,/g, ''));
    heading('filter change to the updated grid (miru:filters-changed -> miru:grid-ready)');
    const changes: [string, () => Promise<unknown>][] = [
      ['include tag keep (10%)', () => page.click('[data-testid="tag-include-keep"]')],
      ['and mean rating >= 3.5', async () => {
        await page.fill('[data-testid="ratingMean-min"]', '3.5');
        await page.press('[data-testid="ratingMean-min"]', 'Enter');
      }],
      ['clear filters', () => page.click('[data-testid=clear-filters]')],
      ['exclude tag outlier (1%)', () => page.click('[data-testid="tag-exclude-outlier"]')],
      ['and path contains set_01', () => page.fill('[data-testid=path-search]', 'set_01')],
      ['and ratings >= 2', async () => {
        await page.fill('[data-testid="ratingCount-min"]', '2');
        await page.press('[data-testid="ratingCount-min"]', 'Enter');
      }],
      ['clear filters', () => page.click('[data-testid=clear-filters]')],
    ];
    const filterRows: string[][] = [['filter change', 'grid updated', 'images']];
    const filterMs: number[] = [];
    for (const [name, act] of changes) {
      const before = await generation(page);
      await act();
      await waitGridReady(page, before);
      const ms = await filterToGridMs(page);
      filterMs.push(ms);
      filterRows.push([name, fmtMs(ms), (await count()).toLocaleString('en-US')]);
    }
    printTable(filterRows);

    // --- scrolling ------------------------------------------------------------------------------------------
    heading(`scrolling ${scrollRows.toLocaleString('en-US')} rows with the mouse wheel`);
    await page.mouse.move(900, 500);
    await page.evaluate(`(() => {
      window.__bench = { longTasks: [], maxGap: 0, frames: 0, running: true };
      new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__bench.longTasks.push(e.duration); }).observe({ type: 'longtask' });
      let last = performance.now();
      const tick = (t) => { const b = window.__bench; if (!b.running) return; b.maxGap = Math.max(b.maxGap, t - last); b.frames++; last = t; requestAnimationFrame(tick); };
      requestAnimationFrame((t) => { last = t; requestAnimationFrame(tick); });
    })()`);
    const firstIndex = `Math.min(...[...document.querySelectorAll('.tile:not([hidden])[data-index]')].map((e) => Number(e.dataset.index)))`;
    const cols = Number(await page.evaluate(`document.querySelector('.grid-scroller').dataset.cols`));
    const target = scrollRows * cols;
    const started = now();
    let wheels = 0;
    for (;;) {
      await page.mouse.wheel(0, 2400);
      wheels++;
      if (wheels % 20 === 0 && ((await page.evaluate(firstIndex)) as number) >= target) break;
      if (now() - started > 120_000) throw new Error('scrolling took over two minutes');
    }
    const scrollMs = now() - started;
    // Let it settle: thumbnails of the final screen load, then stop the monitors.
    await page.waitForTimeout(500);
    const stats = (await page.evaluate(`(() => { const b = window.__bench; b.running = false; return { longTasks: b.longTasks, maxGap: b.maxGap, frames: b.frames }; })()`)) as {
      longTasks: number[];
      maxGap: number;
      frames: number;
    };
    const reached = (await page.evaluate(firstIndex)) as number;
    const longest = stats.longTasks.length ? Math.max(...stats.longTasks) : 0;
    printTable([
      ['measure', 'value'],
      ['rows scrolled', `${Math.floor(reached / cols).toLocaleString('en-US')} (${cols} per row, ${reached.toLocaleString('en-US')} images)`],
      ['wheel events (2,400 px each)', String(wheels)],
      ['time', fmtMs(scrollMs)],
      ['frames', `${stats.frames} (${((stats.frames / scrollMs) * 1000).toFixed(0)} fps)`],
      ['long tasks (> 50 ms)', String(stats.longTasks.length)],
      ['longest task', stats.longTasks.length ? fmtMs(longest) : 'none over 50 ms'],
      ['longest gap between frames', fmtMs(stats.maxGap)],
    ]);
    await context.close();

    // --- deep jumps -----------------------------------------------------------------------------------------
    const jumpRuns = Math.max(1, Number(process.env.BENCH_JUMP_RUNS ?? 3));
    heading(`deep jumps: the scrollbar set to ${JUMP_FRACTIONS.map((f) => `${f * 100}%`).join(' and ')} of the listing (${jumpRuns} runs, each from a fresh page)`);
    const listings: [string, string][] = [
      ['library order', ''],
      ['sorted by -brightness', '&sort=-brightness'],
    ];
    const jumpContext = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const jumpPage = await jumpContext.newPage();
    const jumpRows: string[][] = [['listing', 'jump to', 'median', 'min', 'max', 'first index on screen']];
    const jumps: { listing: string; fraction: number; median: number }[] = [];
    let jumpTotal = 0;
    for (const [name, query] of listings) {
      const times = new Map<number, number[]>(JUMP_FRACTIONS.map((f) => [f, []]));
      let total = 0;
      const landed = new Map<number, number>();
      for (let run = 0; run < jumpRuns; run++) {
        await jumpPage.goto(`${server.url}${query}`);
        await waitGridReady(jumpPage, 0, 60_000);
        total = Number(((await jumpPage.textContent('[data-testid=count]')) ?? '').trim().split(/\s/)[0]!.replace(/,/g, ''));
        jumpTotal = total;
        for (const fraction of JUMP_FRACTIONS) {
          const { ms, firstIndex } = await jumpMs(jumpPage, fraction);
          times.get(fraction)!.push(ms);
          landed.set(fraction, firstIndex);
        }
      }
      for (const fraction of JUMP_FRACTIONS) {
        const t = times.get(fraction)!;
        const at = landed.get(fraction)!;
        jumpRows.push([name, `${fraction * 100}%`, fmtMs(median(t)), fmtMs(Math.min(...t)), fmtMs(Math.max(...t)), `${at.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} (${((at / total) * 100).toFixed(1)}%)`]);
        jumps.push({ listing: name, fraction, median: median(t) });
      }
    }
    printTable(jumpRows);
    await jumpContext.close();
    heading('the server side of a jump: one 1,000-row page at 50% by offset vs walking there by cursor (in process)');
    const serverRows: string[][] = [['listing', 'page by offset', 'walking (50 pages timed, scaled)', 'ratio']];
    for (const [name, sort] of [['library order', undefined], ['sorted by -brightness', '-brightness']] as const) {
      const rank = Math.floor(jumpTotal / 2);
      const { seekMs, walkMs } = await serverSeekVsWalk(dbPath, sort, rank);
      serverRows.push([name, fmtMs(seekMs), fmtMs(walkMs), `${(walkMs / seekMs).toFixed(0)}x`]);
    }
    printTable(serverRows);

    // --- summary --------------------------------------------------------------------------------------------
    heading('summary (goals from issue 5)');
    const firstMedian = median(firstGrid);
    const worstFilter = Math.max(...filterMs);
    const verdict = (ok: boolean) => (ok ? 'ok' : 'MISSED');
    printTable([
      ['measure', 'figure', 'goal', 'baseline', 'ratio', ''],
      ['navigation -> first grid of thumbnails (median)', fmtMs(firstMedian), `< ${fmtMs(GOAL_FIRST_GRID_MS)}`, fmtMs(median(baseline)), `${(firstMedian / median(baseline)).toFixed(1)}x`, verdict(firstMedian < GOAL_FIRST_GRID_MS)],
      ['filter change -> updated grid (worst of 7)', fmtMs(worstFilter), `< ${fmtMs(GOAL_FILTER_MS)}`, '', '', verdict(worstFilter < GOAL_FILTER_MS)],
      ['filter change -> updated grid (median)', fmtMs(median(filterMs)), '', '', '', ''],
      [`longest task scrolling ${scrollRows.toLocaleString('en-US')} rows`, longest ? fmtMs(longest) : '< 50 ms', `<= ${fmtMs(GOAL_LONG_TASK_MS)}`, '', '', verdict(longest <= GOAL_LONG_TASK_MS)],
      // A jump should cost no more than showing the first grid did (baseline: the first-grid median above).
      ...jumps.map((j) => [`deep jump to ${j.fraction * 100}%, ${j.listing} (median)`, fmtMs(j.median), '', fmtMs(firstMedian), `${(j.median / firstMedian).toFixed(2)}x`, '']),
    ]);
  } finally {
    await browser.close();
    await server.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
