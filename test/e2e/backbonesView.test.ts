/**
 * End-to-end: the Backbones view (issue 6) in Chromium against `miru serve` on a synthetic library embedded by both
 * bundled models, with a few images tagged "outlier" and per-rater models trained from the CLI. The view starts
 * with no probe report and offers to run one; the probe is started from the jobs drawer (both embeddings, a
 * learning curve, the cleaning experiment without the outliers) and runs in the server; the view then shows every
 * backbone × head with exactly the numbers the API stores, the best of each metric starred, one learning-curve line
 * per backbone × head, the cleaning table, and the images the backbones disagree on, which open the sample view and
 * can be shown in the grid. Screenshots go to test-output/e2e/backbones-*.png (and docs/screenshots/ with
 * MIRU_UPDATE_SCREENSHOTS=1, the overview and the curve with the cleaning table).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import type { ProbeReports } from '../../core/api/types/probeReport.js';
import { tempDir } from '../helpers/paths.js';
import { miruOk } from '../helpers/runMiru.js';
import { synthCliLibrary } from '../helpers/synthLibrary.js';
import type { PageDocument } from './support/pageDom.js';
import { E2E_LAYOUT, makeE2eLibrary, type E2eLibrary } from './support/e2eLibrary.js';
import { startServe, type ServeHandle } from './support/miruServe.js';
import { openPage, openWorkbench, workbenchMissing, type Workbench } from './support/workbench.js';
import { screenshot } from './support/screenshots.js';
import { BackbonesPage } from './pages/backbonesPage.js';
import { GridPage } from './pages/gridPage.js';
import { JobsPanel } from './pages/jobsPanel.js';
import { SamplePage } from './pages/samplePage.js';

declare const document: PageDocument;

const missing = workbenchMissing();
const METRICS = ['spearman', 'pearson', 'qwk', 'accuracy', 'mae', 'emd'] as const;
const LOWER_IS_BETTER = new Set(['mae', 'emd']);
const OUTLIERS = [3, 9, 14, 22, 30, 41];

/** Only the overview and the curve with the cleaning table go to docs/screenshots/. */
const DOCS = { docs: true };
const TEST_ONLY = { docs: false };

describe('Backbones view in Chromium against miru serve', { skip: missing ?? false, timeout: 240_000 }, () => {
  let library: E2eLibrary;
  let workbench: Workbench;
  let serve: ServeHandle;
  let browser: Browser;
  let page: Page;
  let pageErrors: string[];
  let view: BackbonesPage;
  let jobs: JobsPanel;
  let grid: GridPage;

  async function api(): Promise<ProbeReports> {
    const response = await fetch(`${serve.origin}/api/probeReports`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-miru-token': serve.token }, body: '{}' });
    const body = (await response.json()) as { ok: boolean; result: ProbeReports; error?: { message: string } };
    assert.ok(body.ok, body.error?.message);
    return body.result;
  }

  const errorToasts = () => page.$$eval('[data-testid=toast].toast-error', (els) => els.map((e) => (e.textContent ?? '').trim()));

  before(async () => {
    library = await makeE2eLibrary(48);
    for (const model of ['miru-convnext-s', 'miru-vit-s']) await miruOk(['embed', '--db', library.dbPath, '--model', model, '--ep', 'cpu']);
    await miruOk(['tag', 'add', 'outlier', ...OUTLIERS.map(String), '--db', library.dbPath]);
    await miruOk(['rater-models', '--db', library.dbPath, '--embedding', 'miru-vit-s', '--min-ratings', '10']);
    workbench = await openWorkbench(library.dbPath, { timeoutMs: 15_000 });
    ({ serve, browser, page, pageErrors } = workbench);
    view = new BackbonesPage(page);
    jobs = new JobsPanel(page);
    grid = new GridPage(page);
    const url = new URL(serve.url);
    url.searchParams.set('view', 'backbones');
    await page.goto(url.toString());
  });

  after(async () => {
    await workbench?.close();
  });

  test('before any probe the view says so and offers to run one; the rater models are already there', async () => {
    await view.waitLoaded();
    const empty = page.locator('[data-testid=backbones-no-report]');
    await empty.waitFor();
    assert.match((await empty.textContent()) ?? '', /No probe report yet.*2 embedding runs \(miru-vit-s, miru-convnext-s\)/);
    const stored = (await api()).raterModels[0]!;
    const shown = await view.raterModels();
    assert.deepEqual(shown.map((m) => m.name).sort(), stored.models.map((m) => m.name).sort());
    for (const m of shown) assert.equal(m.spearman, stored.models.find((s) => s.name === m.name)!.spearman);
    assert.deepEqual(await view.ids('disputed'), stored.disputed.map((d) => d.id));
    await view.waitThumbnails('disputed');
    await screenshot(page, 'backbones-empty', TEST_ONLY);
  });

  test('a probe started from the jobs drawer runs in the server and the view shows every backbone with the API numbers', async () => {
    await page.click('[data-testid=backbones-no-report] button');
    await page.locator('[data-testid=jobs-panel]').waitFor();
    assert.equal(await page.getAttribute('[data-testid=job-kind-probe]', 'aria-checked'), 'true', 'the drawer opens on the probe job');
    const boxes = page.locator('[data-testid=job-embeddings] input[type=checkbox]');
    assert.equal(await boxes.count(), 2);
    for (let i = 0; i < 2; i++) assert.ok(await boxes.nth(i).isChecked(), 'both embeddings are picked by default');
    await page.fill('[data-testid=job-curve]', '10, 20, 30');
    await page.fill('[data-testid=job-exclude]', 'outlier');
    await screenshot(page, 'backbones-probe-job', TEST_ONLY);
    const before = await jobs.jobIds();
    await page.click('[data-testid=job-start]');
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid=job]').length > n, before.length);
    const id = Math.max(...(await jobs.jobIds()).filter((j) => !before.includes(j)));
    assert.equal(await jobs.waitFinished(id, 120_000), 'done', (await page.textContent(`[data-testid=job][data-job-id="${id}"]`)) ?? '');
    await page.click('[data-testid=jobs-panel] [aria-label="Close jobs"]');

    const reportId = await view.waitReport();
    const stored = (await api()).reports[0]!;
    assert.equal(reportId, stored.id);
    assert.deepEqual(stored.params, { embeddings: stored.params.embeddings, target: 'consensus', heads: ['ridge', 'logistic', 'ordinal', 'knn'], learningCurve: [10, 20, 30], excludeTags: ['outlier'] });
    const r = stored.report;
    assert.deepEqual(
      (await view.backbones()).map((b) => b.model).sort(),
      ['miru-convnext-s', 'miru-vit-s'],
    );

    // Every backbone × head × metric, with the API's mean printed to three decimals, and each metric's best starred.
    const cells = await view.metricCells();
    assert.equal(cells.length, r.backbones.length * r.heads.length * METRICS.length);
    for (const b of r.backbones) {
      for (const h of b.heads) {
        for (const m of METRICS) {
          const cell = cells.find((c) => c.run === b.run && c.head === h.head && c.metric === m);
          assert.ok(cell, `a cell for ${b.model} ${h.head} ${m}`);
          assert.equal(cell.mean, h.metrics[m].mean);
          assert.equal(cell.text, h.metrics[m].mean === null ? '–' : h.metrics[m].mean!.toFixed(3));
        }
      }
    }
    for (const m of METRICS) {
      const means = r.backbones.flatMap((b) => b.heads.map((h) => h.metrics[m].mean)).filter((v): v is number => v !== null);
      const best = LOWER_IS_BETTER.has(m) ? Math.min(...means) : Math.max(...means);
      const starred = cells.filter((c) => c.metric === m && c.best);
      assert.ok(starred.length >= 1 && starred.every((c) => c.mean === best), `${m}: the best (${best}) is starred`);
    }

    // One learning-curve line per backbone × head; the cleaning table per backbone × head, trained on all and on clean.
    assert.equal((await view.curveLines()).length, r.backbones.length * r.heads.length);
    assert.ok(r.learningCurve.length > 0);
    assert.equal(r.cleaning?.excluded, OUTLIERS.length);
    const rows = await view.cleaningRows();
    assert.equal(rows.length, r.cleaning!.results.length * 2);
    for (const res of r.cleaning!.results) {
      const row = rows.find((x) => x.key === `${res.run}:${res.head}:trainedOnClean`)!;
      assert.deepEqual(row.means, [res.trainedOnClean.allTest.spearman.mean, res.trainedOnClean.cleanTest.spearman.mean, res.trainedOnClean.excludedTest.spearman.mean]);
    }

    // The disputed images, in the API's order, with thumbnails.
    assert.deepEqual(await view.ids('disagreement'), r.disagreements.map((d) => d.id));
    await view.waitThumbnails('disagreement');
    assert.deepEqual(await errorToasts(), []);
    await page.locator('[data-testid=toast] button[aria-label=Dismiss]').first().click({ timeout: 1000 }).catch(() => undefined);
    await screenshot(page, 'backbones', DOCS);
    await view.scrollTo('curve-section');
    await screenshot(page, 'backbones-curve', DOCS);
    await view.scrollTo('disagreement-section');
    await screenshot(page, 'backbones-disagreements', TEST_ONLY);
  });

  test('a disputed image opens in the sample view, and the list can be shown in the grid', async () => {
    const ids = await view.ids('disagreement');
    await page.click(`[data-testid=disagreement][data-id="${ids[0]}"]`);
    const sample = new SamplePage(page);
    assert.equal(await sample.waitOpen(), ids[0]);
    await sample.close();

    await grid.afterChange(() => page.click('[data-testid=disagreements-in-grid]'));
    assert.equal(await grid.count(), ids.length);
    const shown = (await grid.tiles()).map((t) => t.id);
    assert.ok(shown.length > 0 && shown.every((id) => ids.includes(id)), `the grid shows only the disputed images: ${shown.join(', ')}`);
    assert.match(page.url(), /selection%3D\d+|selection=\d+/);
    assert.deepEqual(await errorToasts(), []);
    assert.deepEqual(pageErrors, [], 'no uncaught errors in the page');
  });

  test('a library without embeddings says to embed one first, and offers the embed job', async () => {
    const { db: dbPath } = await synthCliLibrary({ images: 8, raters: 3, seed: 2, ratings: false, dir: tempDir('miru-e2e-bare-'), ...E2E_LAYOUT });
    const bare = await startServe(dbPath);
    try {
      const { page: other, errors } = await openPage(browser);
      const url = new URL(bare.url);
      url.searchParams.set('view', 'backbones');
      await other.goto(url.toString());
      const notice = other.locator('[data-testid=backbones-no-embeddings]');
      await notice.waitFor();
      assert.match((await notice.textContent()) ?? '', /No embeddings yet.*Embed the library with a model first/);
      assert.ok(await other.locator('[data-testid=run-probe]').isDisabled(), 'nothing to probe yet');
      await screenshot(other, 'backbones-no-embeddings', TEST_ONLY);
      await notice.locator('button').click();
      await other.locator('[data-testid=jobs-panel]').waitFor();
      assert.equal(await other.getAttribute('[data-testid=job-kind-embed]', 'aria-checked'), 'true');
      assert.deepEqual(errors, []);
      await other.close();
    } finally {
      await bare.stop();
    }
  });
});
