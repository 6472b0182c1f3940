/**
 * End-to-end: the built UI in Debian's Chromium against `miru serve` on a generated library (issue 5). Filters a
 * score range and a tag, sorts, walks back through the URL history, saves a view, opens a sample, turns the
 * saliency overlay on and changes method, compares two methods, tags with hotkeys (checked in the SQLite file),
 * undoes and redoes, and runs a scoring job to the end. Screenshots of the grid, the sample view with an overlay
 * and the jobs panel go to test-output/e2e/ (and to docs/screenshots/ with MIRU_UPDATE_SCREENSHOTS=1).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { openLibrary } from '../../core/library/openLibrary.js';
import type { ServeHandle } from './support/miruServe.js';
import { openWorkbench, workbenchMissing, type Workbench } from './support/workbench.js';
import { dismissToasts, screenshot } from './support/screenshots.js';
import { eventually } from './support/waits.js';
import { makeE2eLibrary, type E2eLibrary } from './support/e2eLibrary.js';
import type { PageImage } from './support/pageDom.js';
import { GridPage } from './pages/gridPage.js';
import { SidebarPage } from './pages/sidebarPage.js';
import { SamplePage } from './pages/samplePage.js';
import { JobsPanel } from './pages/jobsPanel.js';

const missing = workbenchMissing();

function dbQuery<T>(dbPath: string, sql: string, ...params: unknown[]): T[] {
  const db = openLibrary(dbPath, { readonly: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

function tagsInDb(dbPath: string, tag: string): number[] {
  return dbQuery<{ image_id: number }>(dbPath, 'SELECT image_id FROM tags WHERE tag = ? ORDER BY image_id', tag).map((r) => r.image_id);
}

describe('workbench UI in Chromium against miru serve', { skip: missing ?? false, timeout: 120_000 }, () => {
  let library: E2eLibrary;
  let workbench: Workbench;
  let serve: ServeHandle;
  let page: Page;
  let pageErrors: string[];
  let grid: GridPage;
  let sidebar: SidebarPage;
  let sample: SamplePage;
  let jobs: JobsPanel;

  before(async () => {
    library = await makeE2eLibrary();
    workbench = await openWorkbench(library.dbPath, { timeoutMs: 10_000 });
    ({ serve, page, pageErrors } = workbench);
    grid = new GridPage(page);
    sidebar = new SidebarPage(page);
    sample = new SamplePage(page);
    jobs = new JobsPanel(page);
  });

  after(async () => {
    await workbench?.close();
  });

  test('the grid shows the library with thumbnails and badges, and the token leaves the address bar', async () => {
    await page.goto(serve.url);
    await grid.waitReady(0);
    assert.equal(await grid.count(), library.images);
    assert.ok(!page.url().includes('token='), `the token is still in the address bar: ${page.url()}`);
    const tiles = await grid.tiles();
    assert.ok(tiles.length >= 12, `only ${tiles.length} tiles on screen`);
    assert.ok(tiles.every((t) => t.score !== null), 'every tile shows the scored model’s badge');
    assert.ok(tiles.some((t) => t.ratingMean !== null), 'rated images show their mean rating');
    assert.ok(tiles.filter((t) => t.tags.includes('keep')).length > 0, 'tagged images show their tags');
    // Virtualized: far fewer tile elements than images would need on a big library; here at most the visible rows.
    const thumbs = await page.$$eval('.tile:not([hidden]) img.tile-thumb', (imgs) => imgs.filter((i) => (i as PageImage).complete && (i as PageImage).naturalWidth > 0).length);
    assert.ok(thumbs >= 12, `${thumbs} thumbnails decoded`);
    assert.ok(await sidebar.histogramBars('score:miru-convnext-s') > 0, 'the score histogram is drawn');
  });

  test('filter by a score range and a tag, sort, go back and forward, save a view', async () => {
    const scores = dbQuery<{ image_id: number; score: number }>(
      library.dbPath,
      `SELECT s.image_id, s.score FROM scores s JOIN runs r ON r.id = s.run_id JOIN models m ON m.id = r.model_id WHERE m.name = 'miru-convnext-s' AND r.kind = 'score'`,
    );
    assert.equal(scores.length, library.images);
    const sorted = scores.map((s) => s.score).sort((a, b) => a - b);
    const threshold = Math.round(sorted[Math.floor(sorted.length / 2)]! * 100) / 100;
    const above = scores.filter((s) => s.score >= threshold);

    // A closed range first (both bounds), then the open one the rest of the test builds on.
    const upper = Math.round(sorted[Math.floor(sorted.length * 0.9)]! * 100) / 100;
    // One listing per committed bound: each Enter starts its own, and the count must be read from the second.
    await grid.afterChange(() => sidebar.setRange('score:miru-convnext-s', threshold, null));
    await grid.afterChange(() => sidebar.setRange('score:miru-convnext-s', null, upper));
    const inRange = scores.filter((s) => s.score >= threshold && s.score <= upper);
    assert.equal(await grid.count(), inRange.length);
    assert.ok((await grid.tiles()).every((t) => t.score! >= threshold - 0.005 && t.score! <= upper + 0.005), 'every tile lies inside the closed score range');
    await grid.afterChange(() => sidebar.clearBound('score:miru-convnext-s', 'max'));
    assert.equal(await grid.count(), above.length);
    assert.ok((await grid.tiles()).every((t) => t.score! >= threshold - 0.005), 'every tile passes the score filter');
    assert.match(decodeURIComponent(page.url()), new RegExp(`f=score:miru-convnext-s>=${threshold}`));
    // The picture for the README: a brushed score range, two images selected.
    await grid.click(1);
    await grid.click(4, ['Control']);
    await page.waitForSelector('[data-field="score:miru-convnext-s"] .histogram-host:not(.loading) rect.bar');
    await screenshot(page, 'grid');

    const keep = new Set(library.keepIds);
    await grid.afterChange(() => sidebar.includeTag('keep'));
    const both = above.filter((s) => keep.has(s.image_id));
    assert.equal(await grid.count(), both.length);
    const tagged = await grid.tiles();
    assert.deepEqual(tagged.map((t) => t.id).sort((a, b) => a - b), both.map((s) => s.image_id).sort((a, b) => a - b));
    assert.ok(tagged.every((t) => t.tags.includes('keep')));

    await grid.afterChange(() => sidebar.sortBy('ratingMean', true));
    const ratings = (await grid.tiles()).map((t) => t.ratingMean ?? -Infinity);
    for (let i = 1; i < ratings.length; i++) assert.ok(ratings[i - 1]! >= ratings[i]!, `sorted by mean rating, descending: ${ratings.join(', ')}`);
    assert.match(page.url(), /sort=-ratingMean/);

    // The URL is the state: back undoes the last change (the direction), forward redoes it.
    await grid.afterChange(async () => void (await page.goBack()));
    assert.match(page.url(), /sort=ratingMean/);
    assert.equal(await grid.count(), both.length);
    await grid.afterChange(async () => void (await page.goForward()));
    assert.match(page.url(), /sort=-ratingMean/);

    await page.click('[data-testid=save-view]');
    await page.fill('input[placeholder="View name"]', 'kept high scorers');
    await page.keyboard.press('Enter');
    await page.locator('.view-row', { hasText: 'kept high scorers' }).waitFor();

    await grid.afterChange(() => sidebar.clearFilters());
    assert.equal(await grid.count(), library.images);
    // The saved view brings the filters back.
    await grid.afterChange(() => page.click('.view-row >> text=kept high scorers'));
    assert.equal(await grid.count(), both.length);
    await grid.afterChange(() => sidebar.clearFilters());
  });

  test('open a sample, switch the saliency overlay on, change method, compare two methods, walk with arrows', async () => {
    const tiles = await grid.tiles();
    await grid.open(0);
    assert.equal(await sample.waitOpen(), tiles[0]!.id);
    await sample.waitImage();
    await sample.overlayOn();
    const first = await sample.waitOverlay('gradcam');
    assert.match(first, /miru-convnext-s/);
    assert.ok(await sample.overlayDrawn(), 'the overlay canvas is drawn');
    await sample.setMethod('scorecam');
    await sample.waitOverlay('scorecam');
    await sample.compare('methods', 'gradcam');
    await sample.waitOverlay('gradcam', 'b');
    assert.ok(await sample.overlayDrawn('b'));
    await page.waitForSelector('[data-testid=scores] .score-value');
    await dismissToasts(page);
    await screenshot(page, 'sample-overlay');
    await sample.compare('off');

    // A focused select keeps its arrow keys; a click on the image leaves the controls, then arrows walk the listing.
    await page.click('[data-testid=pane-a] .viewer');
    await page.keyboard.press('ArrowRight');
    await eventually(() => sample.imageId(), (id) => id === tiles[1]!.id, 'the next image opens with →');
    await page.keyboard.press('ArrowLeft');
    await eventually(() => sample.imageId(), (id) => id === tiles[0]!.id, 'the previous image opens with ←');
  });

  test('tag with a hotkey, see it in the database, undo and redo it', async () => {
    const id = await sample.imageId();
    assert.ok(!tagsInDb(library.dbPath, 'outlier').includes(id));
    await page.keyboard.press('1');
    await eventually(() => tagsInDb(library.dbPath, 'outlier'), (ids) => ids.includes(id), 'key 1 tags the open image “outlier” in the database');
    await eventually(() => sample.tags(), (t) => t.includes('outlier'), 'the sample view shows the new tag');
    await page.keyboard.press('Control+z');
    await eventually(() => tagsInDb(library.dbPath, 'outlier'), (ids) => !ids.includes(id), 'Ctrl+Z removes the tag again');
    await eventually(() => sample.tags(), (t) => !t.includes('outlier'), 'the sample view drops the tag');
    await page.keyboard.press('Control+Shift+z');
    await eventually(() => tagsInDb(library.dbPath, 'outlier'), (ids) => ids.includes(id), 'Ctrl+Shift+Z redoes it');
    await page.keyboard.press('Control+z');
    await eventually(() => tagsInDb(library.dbPath, 'outlier'), (ids) => !ids.includes(id), 'and undo once more');
    await sample.close();

    // A selection made with click and shift-click is tagged as a whole, and undone exactly.
    await grid.click(0);
    await grid.click(3, ['Shift']);
    assert.equal(await grid.selectionCount(), 4);
    const selected = (await grid.tiles()).filter((t) => t.selected).map((t) => t.id).sort((a, b) => a - b);
    await page.keyboard.press('2');
    await eventually(() => tagsInDb(library.dbPath, 'exclude'), (ids) => JSON.stringify(ids) === JSON.stringify(selected), 'key 2 tags the four selected images “exclude”');
    await eventually(async () => (await grid.tiles()).filter((t) => t.tags.includes('exclude')).length, (n) => n === 4, 'the tiles show the tag');
    await page.keyboard.press('Control+z');
    await eventually(() => tagsInDb(library.dbPath, 'exclude'), (ids) => ids.length === 0, 'undo removes it from all four');
    assert.deepEqual(tagsInDb(library.dbPath, 'keep'), library.keepIds, 'other tags are untouched');
  });

  test('index a folder with a broken file (its error listed), run a scoring job and watch both finish', async () => {
    await dismissToasts(page);
    await jobs.open();
    writeFileSync(path.join(library.dir, 'data', 'images', 'broken.png'), 'this is not a PNG file');
    const indexed = await jobs.start('index');
    assert.equal(await jobs.waitFinished(indexed), 'done');
    const failures = page.locator(`[data-testid=job][data-job-id="${indexed}"] details.failures`);
    assert.match((await failures.locator('summary').textContent()) ?? '', /1 file failed/);
    await failures.locator('summary').click();
    assert.match((await failures.textContent()) ?? '', /broken\.png/);
    assert.equal(await grid.count(), library.images, 'the broken file is not listed among readable images');
    await dismissToasts(page);

    const id = await jobs.start('score', { model: 'miru-vit-s' });
    assert.equal(await jobs.waitFinished(id), 'done');
    const scored = dbQuery<{ n: number }>(
      library.dbPath,
      `SELECT count(*) AS n FROM scores s JOIN runs r ON r.id = s.run_id JOIN models m ON m.id = r.model_id WHERE m.name = 'miru-vit-s' AND r.kind = 'score'`,
    )[0]!.n;
    assert.equal(scored, library.images);
    await page.waitForSelector(`[data-testid=toast]:has-text("Score job #${id} finished")`);
    await page.waitForTimeout(400); // the progress bar's last transition
    await screenshot(page, 'jobs');
    assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
  });
});
