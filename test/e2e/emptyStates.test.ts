/**
 * End-to-end: what the workbench shows before there is anything to show (issue 5, "empty states a person can act
 * on"). A brand-new library, one whose only file is unreadable, one with images but no models, and one with a
 * model that has not scored anything yet: each screen says what is missing and offers the next step, with no
 * blank areas, no error notices and no page errors. Screenshots go to test-output/e2e/empty-*.png.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { repoRoot, tempDir } from '../helpers/paths.js';
import { miruOk } from '../helpers/runMiru.js';
import { synthCliLibrary } from '../helpers/synthLibrary.js';
import { launchChromium } from './support/browser.js';
import { startServe, type ServeHandle } from './support/miruServe.js';
import { openPage, workbenchMissing } from './support/workbench.js';
import { screenshot } from './support/screenshots.js';
import { E2E_LAYOUT } from './support/e2eLibrary.js';
import { GridPage } from './pages/gridPage.js';
import { EmptyStatesPage } from './pages/emptyStatesPage.js';
import { SamplePage } from './pages/samplePage.js';

const missing = workbenchMissing();
/** These pictures are for test-output/e2e/ only, never the docs. */
const TEST_ONLY = { docs: false };

describe('empty states in Chromium against miru serve', { skip: missing ?? false, timeout: 120_000 }, () => {
  let browser: Browser;
  const serves: ServeHandle[] = [];

  before(async () => {
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    for (const s of serves) await s.stop();
  });

  /** A page on a fresh `miru serve` of `dbPath`, collecting page errors. */
  async function open(dbPath: string): Promise<{ page: Page; grid: GridPage; empty: EmptyStatesPage; errors: string[] }> {
    const serve = await startServe(dbPath);
    serves.push(serve);
    const { page, errors } = await openPage(browser, { timeoutMs: 10_000 });
    await page.goto(serve.url);
    return { page, grid: new GridPage(page), empty: new EmptyStatesPage(page), errors };
  }

  test('a new library says it has no images and offers to index a folder; one of unreadable files says so', async () => {
    const dir = tempDir('miru-e2e-empty-');
    const dbPath = path.join(dir, 'new.db');
    const { page, grid, empty, errors } = await open(dbPath);
    await grid.waitReady(0);
    assert.equal(await grid.count(), 0);
    const notice = await empty.notice('empty-library');
    assert.equal(notice.heading, 'No images yet');
    assert.match(notice.text, /Index a folder of images into this library/);
    assert.ok(notice.text.includes(`miru index /path/to/images --db ${dbPath}`), `the terminal hint names this library: ${notice.text}`);
    assert.equal(await empty.tiles(), 0, 'no placeholder tiles');
    // The sidebar has no fields to chart: one line says why instead of a column of empty histograms.
    assert.match(await empty.text('[data-testid=sidebar-empty]'), /No images to filter yet/);
    assert.equal(await empty.sidebarFields(), 0);
    assert.deepEqual(await empty.errorToasts(), []);
    await screenshot(page, 'empty-library', TEST_ONLY);

    // The notice's button opens the jobs drawer on an index job; the models drawer says how to add one.
    await page.click('[data-testid=empty-library] button');
    await page.locator('[data-testid=jobs-panel]').waitFor();
    assert.equal(await empty.jobKind(), 'index');
    assert.match(await empty.text('[data-testid=jobs-panel]'), /No jobs yet in this session/);
    const models = await empty.openModels();
    assert.match(models, /No models yet\. Add an ONNX model below/);
    assert.ok(models.includes(`miru models add model.onnx --db ${dbPath}`));
    await page.click('[data-testid=models-panel] [aria-label="Close models"]');

    // Only an unreadable file indexed: not "no images yet" but "no readable images", with the way to see them.
    const folder = path.join(dir, 'images');
    mkdirSync(folder);
    writeFileSync(path.join(folder, 'broken.png'), 'this is not a PNG file');
    await miruOk(['index', folder, '--db', dbPath]);
    await page.reload();
    await grid.waitReady(0);
    const broken = await empty.notice('empty-filtered');
    assert.equal(broken.heading, 'No readable images');
    assert.match(broken.text, /Every indexed file \(1\) could not be read or is missing on disk/);
    assert.equal(await page.locator('[data-testid=empty-library]').count(), 0);
    await screenshot(page, 'empty-unreadable', TEST_ONLY);
    await grid.afterChange(() => page.click('[data-testid=empty-filtered] button'));
    assert.equal(await grid.count(), 1);
    assert.match(await empty.text('.tile[data-index="0"]'), /error: broken\.png/);
    assert.deepEqual(await empty.errorToasts(), []);
    assert.deepEqual(errors, [], 'no uncaught errors in the page');
    await page.close();
  });

  test('images without models: the grid has no score badges, and every place scores would be says where they come from', async () => {
    const { db: dbPath } = await synthCliLibrary({ images: 12, raters: 3, seed: 4, ratings: false, dir: tempDir('miru-e2e-nomodels-'), ...E2E_LAYOUT });
    const { page, grid, empty, errors } = await open(dbPath);
    await grid.waitReady(0);
    assert.equal(await grid.count(), 12);
    const tiles = await grid.tiles();
    assert.equal(tiles.length, 12);
    assert.ok(tiles.every((t) => t.score === null && t.ratingMean === null), 'no score or rating badges');
    assert.equal(await page.locator('[data-testid=empty-library], [data-testid=empty-filtered], [data-testid=grid-error]').count(), 0);
    assert.deepEqual(await empty.optionTexts('[data-testid=score-model]'), ['no score']);
    assert.ok(!(await empty.optionTexts('[data-testid=sort-field]')).some((o) => /score/i.test(o)), 'nothing to sort by score');
    assert.match(await empty.text('[data-testid=scores-empty]'), /No scores yet: add a model in Models, then score the library from Jobs/);
    assert.deepEqual(await empty.errorToasts(), []);
    await screenshot(page, 'empty-no-models', TEST_ONLY);

    // The sample view: no overlay, no scores, no ratings, each with what to do.
    await grid.open(0);
    const sample = new SamplePage(page);
    await sample.waitOpen();
    await sample.waitImage();
    assert.equal(await page.isDisabled('[data-testid=overlay-toggle]'), true);
    assert.match(await empty.text('[data-testid=sample-view]'), /No models yet, so nothing to explain/);
    assert.match(await empty.text('[data-testid=scores]'), /No scores yet: there are no models\. Add one in Models, then score the library from Jobs/);
    assert.match(await empty.text('[data-testid=ratings]'), /No ratings for this image\. .*miru ratings import/);
    await screenshot(page, 'empty-no-models-sample', TEST_ONLY);
    // Its Models link opens the models drawer.
    await page.click('[data-testid=scores] button.link');
    assert.match(await empty.text('[data-testid=models-panel]'), /No models yet/);
    await page.click('[data-testid=models-panel] [aria-label="Close models"]');
    await sample.close();

    // The jobs drawer starts on indexing; a score job cannot be started without a model, and says so.
    await empty.openJobs();
    assert.equal(await empty.jobKind(), 'index');
    await page.click('[data-testid=job-kind-score]');
    assert.match(await empty.text('[data-testid=jobs-panel]'), /No models yet: add one in Models/);
    assert.equal(await page.isDisabled('[data-testid=job-start]'), true);
    await screenshot(page, 'empty-no-models-jobs', TEST_ONLY);

    // A model added but not run yet: its score field is listed, empty, and says how to fill it.
    await miruOk(['models', 'add', path.join(repoRoot, 'assets/models/miru-convnext-s.onnx'), '--db', dbPath]);
    await page.goto(page.url().replace(/[?#].*$/, ''));
    await grid.waitReady(0);
    assert.deepEqual(await empty.optionTexts('[data-testid=score-model]'), ['no score', 'miru-convnext-s']);
    assert.equal(await page.locator('[data-testid=scores-empty]').count(), 0);
    assert.match(await empty.text('[data-field="score:miru-convnext-s"] .histogram-empty'), /miru-convnext-s has not scored any image yet: score the library from Jobs/);
    assert.match(await empty.openModels(), /scored\s*0 images/);
    assert.deepEqual(await empty.errorToasts(), []);
    await screenshot(page, 'empty-unscored-model', TEST_ONLY);
    await page.click('[data-testid=models-panel] [aria-label="Close models"]');
    await grid.open(0);
    await sample.waitOpen();
    assert.match(await empty.text('[data-testid=scores]'), /Not scored yet\. Start a score job in Jobs/);
    assert.deepEqual(errors, [], 'no uncaught errors in the page');
    await page.close();
  });
});
