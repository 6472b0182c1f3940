/**
 * End-to-end: the Raters view (issue 6) in Chromium against `miru serve` on a synthetic library with simulated
 * raters. The heatmap, table and map show every rater the API analysed, alpha as the API computed it and the
 * kappa of each cell in dendrogram order; clicking a rater filters the grid to exactly the images it rated;
 * clicking a cluster saves the clusters as rater groups and filters to the group's images; the number of
 * clusters can be chosen; a 200-rater panel imported meanwhile by another process is drawn. Screenshots go to
 * test-output/e2e/raters-*.png (and docs/screenshots/ with MIRU_UPDATE_SCREENSHOTS=1).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { interpolateViridis } from 'd3-scale-chromatic';
import type { RaterReport } from '../../core/api/types/raterReport.js';
import { openLibrary } from '../../core/library/openLibrary.js';
import { SeededRandom } from '../../core/synth/random.js';
import { drawAttributes } from '../../core/synth/attributes.js';
import { groupWeights, preferenceGroupNames, quantilePositions, weightedScore, type PreferenceGroup } from '../../core/synth/aestheticTruth.js';
import { makeRaters, simulateRatings } from '../../core/synth/raters.js';
import { tempDir } from '../helpers/paths.js';
import { miruOk } from '../helpers/runMiru.js';
import { synthCliLibrary } from '../helpers/synthLibrary.js';
import { startServe, type ServeHandle } from './support/miruServe.js';
import { openPage, openWorkbench, workbenchMissing, type Workbench } from './support/workbench.js';
import { screenshot } from './support/screenshots.js';
import { E2E_LAYOUT } from './support/e2eLibrary.js';
import { GridPage } from './pages/gridPage.js';
import { RatersPage } from './pages/ratersPage.js';

const missing = workbenchMissing();

function dbValue<T>(dbPath: string, sql: string, ...params: unknown[]): T {
  const db = openLibrary(dbPath, { readonly: true });
  try {
    return db.prepare(sql).pluck().get(...params) as T;
  } finally {
    db.close();
  }
}

function hexRgb(hex: string): [number, number, number] {
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
}

describe('Raters view in Chromium against miru serve', { skip: missing ?? false, timeout: 180_000 }, () => {
  let dir: string;
  let dbPath: string;
  let workbench: Workbench;
  let serve: ServeHandle;
  let browser: Browser;
  let page: Page;
  let pageErrors: string[];
  let grid: GridPage;
  let raters: RatersPage;

  async function apiReport(input: Record<string, unknown> = {}): Promise<RaterReport> {
    const response = await fetch(`${serve.origin}/api/raterReport`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-miru-token': serve.token }, body: JSON.stringify(input) });
    const body = (await response.json()) as { ok: boolean; result: RaterReport; error?: { message: string } };
    assert.ok(body.ok, body.error?.message);
    return body.result;
  }

  before(async () => {
    // 160 images give each pair of the 12 raters about a dozen shared images: enough for kappa and clusters.
    ({ dir, db: dbPath } = await synthCliLibrary({ images: 160, raters: 12, seed: 3, dir: tempDir('miru-e2e-raters-'), ...E2E_LAYOUT }));
    workbench = await openWorkbench(dbPath, { viewport: { width: 1600, height: 1000 }, timeoutMs: 15_000 });
    ({ serve, browser, page, pageErrors } = workbench);
    grid = new GridPage(page);
    raters = new RatersPage(page);
  });

  after(async () => {
    await workbench?.close();
  });

  test('the view shows the analysis the API computes; a rater click filters the grid to exactly its images', async () => {
    await page.goto(`${serve.url}&view=raters`);
    await grid.waitReady(0);
    await raters.waitReady();
    const report = await apiReport();
    const raterCount = dbValue<number>(dbPath, 'SELECT count(DISTINCT rater_id) FROM ratings');
    assert.equal(report.raterCount, raterCount);

    // Every rater, in the heatmap (dendrogram order, then raters outside the clusters), the table and the map.
    const heatmap = await raters.heatmap();
    assert.equal(heatmap.raters, raterCount);
    assert.deepEqual(heatmap.order.slice(0, report.dendrogram.leafOrder.length), report.dendrogram.leafOrder);
    assert.deepEqual([...heatmap.order].sort(), report.raters.map((r) => r.rater).sort());
    assert.deepEqual((await raters.tableRaters()).sort(), [...heatmap.order].sort());
    assert.equal(await raters.mapPoints(), report.embedding.points.length);
    for (const metric of ['nominal', 'ordinal', 'interval', 'ratio'] as const) {
      const shown = await raters.alpha(metric);
      assert.equal(shown.value, report.alpha[metric], `alpha ${metric}`);
      assert.equal(shown.text, report.alpha[metric]!.toFixed(3));
    }
    assert.equal(await page.locator('[data-testid^=raters-cluster-]').count(), report.clusters.length);

    // The cells are the API's kappa: the most agreeing pair's colour on viridis, the diagonal neutral.
    const index = new Map(report.kappa.raters.map((r, i) => [r, i]));
    let best = { row: 0, col: 1, kappa: -Infinity };
    heatmap.order.forEach((a, row) =>
      heatmap.order.forEach((b, col) => {
        const k = report.kappa.matrix[index.get(a)!]![index.get(b)!];
        if (row !== col && k !== null && k > best.kappa) best = { row, col, kappa: k };
      }),
    );
    const drawn = await raters.cellColor(best.row, best.col);
    const expected = hexRgb(interpolateViridis(Math.min(1, best.kappa)));
    assert.ok(drawn.every((c, i) => Math.abs(c - expected[i]!) <= 2), `cell (${best.row}, ${best.col}) κ ${best.kappa}: drawn ${drawn}, expected ${expected}`);
    assert.deepEqual(await raters.cellColor(0, 0), [0x2a, 0x2f, 0x38], 'the diagonal says nothing and is drawn neutral');
    const card = await raters.hoverCell(best.row, best.col);
    assert.ok(card.includes(`κ ${best.kappa.toFixed(3)}`), card);
    await screenshot(page, 'raters-view');

    // The rater with the most ratings: the grid lists exactly the readable images it rated.
    const top = [...report.raters].sort((a, b) => b.count - a.count)[0]!;
    await grid.afterChange(() => raters.clickRater(top.rater));
    const rated = dbValue<number>(
      dbPath,
      `SELECT count(DISTINCT r.image_id) FROM ratings r JOIN raters ON raters.id = r.rater_id JOIN images i ON i.id = r.image_id WHERE raters.name = ? AND i.status = 'ok'`,
      top.rater,
    );
    assert.equal(await grid.count(), rated);
    assert.equal(rated, top.count);
    assert.match(decodeURIComponent(page.url()), new RegExp(`f=rater=${top.rater}`));
    assert.ok(await raters.isSelected(top.rater));
    // Clicking it again clears the filter.
    await grid.afterChange(() => raters.clickRater(top.rater));
    assert.equal(await grid.count(), 160);

    // The table sorts by a column: Spearman, highest first, raters without one last.
    await page.click('[data-testid=raters-sort-spearman]');
    const bySpearman = [...report.raters].sort((a, b) => (b.spearman ?? -Infinity) - (a.spearman ?? -Infinity) || 0).map((r) => r.spearman);
    const shownOrder = (await raters.tableRaters()).map((name) => report.raters.find((r) => r.rater === name)!.spearman);
    assert.deepEqual(shownOrder, bySpearman);
    assert.deepEqual(pageErrors, []);
  });

  test('a cluster click saves the clusters as rater groups and filters to the images the group rated', async () => {
    const report = await apiReport();
    const cluster = report.clusters[0]!;
    assert.equal(dbValue<number>(dbPath, 'SELECT count(*) FROM rater_groups'), 0, 'no groups before');
    await grid.afterChange(() => raters.clickCluster(cluster.id));
    await page.locator('[data-testid=rater-group-filter]').waitFor();
    assert.match(decodeURIComponent(page.url()), new RegExp(`f=raterGroup=${cluster.name}`));
    // The groups stored are the clusters shown; the grid lists the images any of the group's raters rated.
    const members = dbValue<string>(dbPath, `SELECT group_concat(name, ',') FROM (SELECT raters.name FROM rater_groups g JOIN raters ON raters.id = g.rater_id WHERE g.group_name = ? ORDER BY raters.name)`, cluster.name);
    assert.deepEqual(members.split(','), [...cluster.raters].sort());
    const images = dbValue<number>(
      dbPath,
      `SELECT count(DISTINCT r.image_id) FROM ratings r JOIN rater_groups g ON g.rater_id = r.rater_id JOIN images i ON i.id = r.image_id WHERE g.group_name = ? AND i.status = 'ok'`,
      cluster.name,
    );
    assert.equal(await grid.count(), images);
    assert.equal(images, cluster.images);
    assert.equal(await page.getAttribute('[data-testid=raters-save-groups]', 'disabled'), '', 'nothing left to save');
    await page.locator(`[data-testid=raters-cluster-${cluster.id}].on`).waitFor();
    await screenshot(page, 'raters-cluster-filter');
    // The sidebar's chip removes the filter.
    await grid.afterChange(() => page.click('[data-testid=rater-group-filter] button'));
    assert.equal(await grid.count(), 160);

    // Another number of clusters: a new analysis, its clusters not saved yet.
    await raters.afterUpdate(() => raters.setClusters(2));
    assert.equal(await page.locator('[data-testid^=raters-cluster-]').count(), 2);
    assert.match((await page.textContent('[data-testid=raters-k-chosen]')) ?? '', /k = 2/);
    assert.equal(await page.getAttribute('[data-testid=raters-save-groups]', 'disabled'), null);
    await raters.afterUpdate(() => raters.setClusters('auto'));
    assert.deepEqual(pageErrors, []);
  });

  test('without ratings, or with one rater, the view says what is missing and how to add it', async () => {
    const { dir: emptyDir, synth: data, db: emptyDb } = await synthCliLibrary({ images: 6, raters: 3, seed: 2, ratings: false, dir: tempDir('miru-e2e-raters-empty-'), ...E2E_LAYOUT });
    const other = await startServe(emptyDb);
    const { page: view, errors } = await openPage(browser, { viewport: { width: 1600, height: 1000 } });
    try {
      await view.goto(`${other.url}&view=raters`);
      const empty = view.locator('[data-testid=raters-empty]');
      await empty.waitFor();
      assert.ok(((await empty.textContent()) ?? '').includes(`miru ratings import ratings.csv --db ${emptyDb} --scale 1:5`), 'the hint names this library');
      assert.match((await empty.textContent()) ?? '', /^No ratings yet/);
      await screenshot(view, 'raters-empty');
      // One rater's ratings only: agreement needs two.
      const csv = path.join(emptyDir, 'one.csv');
      const lines = readFileSync(path.join(data, 'ratings.csv'), 'utf8').trim().split('\n');
      writeFileSync(csv, [lines[0], ...lines.slice(1).filter((l) => l.split(',')[1] === 'rater_001')].join('\n'));
      await miruOk(['ratings', 'import', csv, '--db', emptyDb, '--scale', '1:5']);
      await view.reload();
      await view.locator('[data-testid=raters-empty] >> text=Too few raters').waitFor();
      assert.match((await view.textContent('[data-testid=raters-empty]')) ?? '', /ratings from one rater/);
      assert.deepEqual(errors, []);
    } finally {
      await view.close();
      await other.stop();
    }
  });

  test('a 200-rater panel imported by another process is drawn whole', async () => {
    // 200 more simulated raters on the same images, imported with the CLI while the server runs.
    const relPaths = (() => {
      const db = openLibrary(dbPath, { readonly: true });
      try {
        return db.prepare('SELECT rel_path FROM images ORDER BY id').pluck().all() as string[];
      } finally {
        db.close();
      }
    })();
    const seed = 8;
    const attributes = relPaths.map((_, i) => drawAttributes(SeededRandom.derive(seed, 'image', i)));
    const rank = {} as Record<PreferenceGroup, number[]>;
    for (const g of preferenceGroupNames) rank[g] = quantilePositions(attributes.map((a) => weightedScore(a, groupWeights[g])));
    const panel = makeRaters(200, 5, seed);
    const { ratings } = simulateRatings(panel, rank, relPaths.length, 5, seed);
    const csv = path.join(dir, 'panel.csv');
    writeFileSync(csv, ['image,rater,score', ...ratings.map((r) => `${relPaths[r.image]},panel_${panel[r.rater]!.name},${r.score}`)].join('\n'));
    await miruOk(['ratings', 'import', csv, '--db', dbPath]);

    // The view's defaults (clusters auto, mean consensus), whatever an earlier test left chosen.
    await page.evaluate("window.localStorage.removeItem('miru.raters')");
    await page.reload();
    await grid.waitReady(0);
    await raters.waitReady(60_000);
    const report = await apiReport();
    assert.equal(report.raterCount, 212);
    assert.equal(report.cached, true, 'the page asked first; the API then answered from memory');
    const heatmap = await raters.heatmap();
    assert.equal(heatmap.raters, 212);
    assert.equal((await raters.tableRaters()).length, 212);
    assert.equal(await raters.mapPoints(), report.embedding.points.length);
    // One canvas, not 44,944 cells of DOM.
    assert.equal(await page.locator('[data-testid=raters-view] canvas').count(), 1);
    await raters.hoverCell(5, 40);
    await screenshot(page, 'raters-view-200');
    assert.deepEqual(pageErrors, []);
  });
});
