/**
 * End-to-end: the Issues view (issue 6) in Debian's Chromium against `miru serve` on a generated library whose
 * label issues, odd images and outliers were computed with the CLI beforehand. The view's counts must be the
 * API's; the duplicates category, never computed, offers its job, which then runs from the jobs drawer; bulk
 * tagging a category as "outlier" lands in SQLite's tags table (and Ctrl+Z takes it back); "Show in grid" filters
 * the grid to exactly the images listed or selected. Screenshots go to test-output/e2e/ (and docs/screenshots/
 * with MIRU_UPDATE_SCREENSHOTS=1).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type { IssueItemsResult, IssueSummary } from '../../core/api/types/issues.js';
import { openLibrary } from '../../core/library/openLibrary.js';
import { miruOk } from '../helpers/runMiru.js';
import type { ServeHandle } from './support/miruServe.js';
import { openWorkbench, workbenchMissing, type Workbench } from './support/workbench.js';
import { dismissToasts, screenshot as saveScreenshot } from './support/screenshots.js';
import { eventually as eventuallyWithin } from './support/waits.js';
import { makeE2eLibrary, type E2eLibrary } from './support/e2eLibrary.js';
import { GridPage } from './pages/gridPage.js';
import { IssuesPage } from './pages/issuesPage.js';
import { JobsPanel } from './pages/jobsPanel.js';
import type { PageDocument } from './support/pageDom.js';

declare const document: PageDocument;

const MODEL = 'miru-convnext-s';
const missing = workbenchMissing();

async function screenshot(page: Page, name: string): Promise<void> {
  // Notices fade on their own; close them so they do not cover the list.
  await dismissToasts(page);
  await saveScreenshot(page, name);
}

function taggedInDb(dbPath: string, tag: string): number[] {
  const db = openLibrary(dbPath, { readonly: true });
  try {
    return db.prepare<[string], number>('SELECT image_id FROM tags WHERE tag = ? ORDER BY image_id').pluck().all(tag);
  } finally {
    db.close();
  }
}

/** This view's updates wait on the server's jobs and refreshes: allow 8 s unless a test asks for less. */
const eventually = <T>(probe: () => T | Promise<T>, ok: (value: T) => boolean, what: string, timeout = 8000) => eventuallyWithin(probe, ok, what, timeout);

describe('Issues view in Chromium against miru serve', { skip: missing ?? false, timeout: 180_000 }, () => {
  let library: E2eLibrary;
  let workbench: Workbench;
  let serve: ServeHandle;
  let page: Page;
  let pageErrors: string[];
  let issues: IssuesPage;
  let grid: GridPage;

  /** The API the page talks to, called the way the page calls it. */
  async function api<T>(method: string, input: unknown): Promise<T> {
    const response = await fetch(`${serve.origin}/api/${method}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-miru-token': serve.token }, body: JSON.stringify(input) });
    const body = (await response.json()) as { ok: boolean; result: T; error?: { message: string } };
    assert.ok(body.ok, `${method}: ${body.error?.message}`);
    return body.result;
  }

  async function listedIds(category: string): Promise<number[]> {
    const page = await api<IssueItemsResult>('issueItems', { category, limit: 1000 });
    assert.equal(page.items.length, page.total);
    return page.items.map((i) => i.id);
  }

  before(async () => {
    library = await makeE2eLibrary(48);
    await miruOk(['embed', '--db', library.dbPath, '--model', MODEL, '--ep', 'cpu']);
    await miruOk(['issues', '--db', library.dbPath, '--embedding', MODEL, '--folds', '3']);
    await miruOk(['outliers', '--db', library.dbPath, '--embedding', MODEL, '--k', '5']);
    workbench = await openWorkbench(library.dbPath, { timeoutMs: 15_000 });
    ({ serve, page, pageErrors } = workbench);
    issues = new IssuesPage(page);
    grid = new GridPage(page);
  });

  after(async () => {
    await workbench?.close();
  });

  test('the categories show the counts the API gives; a never-computed one offers its job', async () => {
    await page.goto(`${serve.url}&view=issues`);
    await issues.waitSummary();
    const summary = await api<IssueSummary>('issueSummary', {});
    const shown = await issues.counts();
    assert.deepEqual(shown, Object.fromEntries(summary.categories.map((c) => [c.key, c.flagged])));
    assert.ok((shown['label-issues'] ?? 0) > 0, 'the synthetic ratings hold flipped labels to find');
    assert.equal(shown['near-duplicates'], null, 'duplicates were not computed yet');
    // The list of the chosen category is the API's, in its order.
    await issues.choose('label-issues');
    assert.equal(await issues.total(), summary.categories.find((c) => c.key === 'label-issues')!.flagged);
    const rows = await issues.rows();
    const ids = await listedIds('label-issues');
    assert.deepEqual(rows.map((r) => r.id), ids.slice(0, rows.length));
    await screenshot(page, 'issues-view');

    await issues.choose('near-duplicates');
    await page.waitForSelector('[data-testid=issues-not-computed]');
    await screenshot(page, 'issues-not-computed');
    await page.click('[data-testid=issues-not-computed] button');
    const jobs = new JobsPanel(page);
    await jobs.open();
    assert.equal(await page.getAttribute('[data-testid=job-kind-duplicates]', 'aria-checked'), 'true', 'the drawer opens on the duplicates job');
    const before = await jobs.jobIds();
    await page.click('[data-testid=job-start]');
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid=job]').length > n, before.length);
    const id = Math.max(...(await jobs.jobIds()));
    assert.equal(await jobs.waitFinished(id), 'done');
    await page.click('[data-testid=open-jobs]');
    // The finished job refreshes the view: duplicates now have a count (possibly 0), the API's.
    const groups = await eventually(() => issues.counts(), (c) => c['near-duplicates'] !== null, 'the duplicates count');
    const after = await api<IssueSummary>('issueSummary', {});
    assert.equal(groups['near-duplicates'], after.categories.find((c) => c.key === 'near-duplicates')!.flagged);
  });

  test('tagging a whole category "outlier" writes exactly its images; Ctrl+Z takes it back', async () => {
    await issues.choose('label-issues');
    const total = await issues.total();
    const ids = await listedIds('label-issues');
    assert.equal(ids.length, total);
    assert.match(await issues.bulkTarget(), new RegExp(`all ${total}`));
    await issues.tag('outlier');
    await eventually(() => taggedInDb(library.dbPath, 'outlier'), (t) => t.length === ids.length, 'outlier tags in SQLite');
    assert.deepEqual(taggedInDb(library.dbPath, 'outlier'), [...ids].sort((a, b) => a - b));
    // The rows show the new tag.
    await eventually(() => issues.rows(), (rows) => rows.every((r) => r.tags.includes('outlier')), 'outlier chips on the rows');
    await screenshot(page, 'issues-tagged');

    await page.keyboard.press('Control+z');
    await eventually(() => taggedInDb(library.dbPath, 'outlier'), (t) => t.length === 0, 'outlier tags after undo');
    await eventually(() => issues.rows(), (rows) => rows.every((r) => !r.tags.includes('outlier')), 'no outlier chips after undo (drawn at once, before the shell’s 2 s refresh)', 1500);
  });

  test('a selection tags only itself, and "Show in grid" lists exactly the selection, then the whole category', async () => {
    await issues.choose('label-issues');
    await issues.total();
    const rows = await issues.rows();
    assert.ok(rows.length >= 3);
    await issues.tick(0);
    await issues.tick(2, true);
    const selected = rows.slice(0, 3).map((r) => r.id);
    assert.equal(await issues.selectionLabel(), '3 selected');
    assert.equal(await issues.bulkTarget(), 'Apply to 3 selected:');
    await screenshot(page, 'issues-selection');

    await issues.tag('exclude');
    await eventually(() => taggedInDb(library.dbPath, 'exclude'), (t) => t.length === 3, 'exclude tags');
    assert.deepEqual(taggedInDb(library.dbPath, 'exclude'), [...selected].sort((a, b) => a - b));

    await grid.afterChange(() => issues.showInGrid());
    assert.match(page.url(), /selection%3D\d+|selection=\d+/);
    assert.equal(await grid.count(), 3);
    assert.deepEqual((await grid.tiles()).map((t) => t.id).sort((a, b) => a - b), [...selected].sort((a, b) => a - b));
    await screenshot(page, 'issues-show-in-grid');

    // Nothing selected: the actions take every image listed.
    await page.goto(`${serve.url}&view=issues`);
    await issues.waitSummary();
    await issues.choose('label-issues');
    const total = await issues.total();
    await grid.waitReady(-1);
    await grid.afterChange(() => issues.showInGrid());
    assert.equal(await grid.count(), total);
    assert.deepEqual(pageErrors, []);
  });
});
