/**
 * End-to-end: the map view (issue 6) in Debian's Chromium against `miru serve`. A UMAP of the bundled ConvNeXt's
 * embeddings is drawn with WebGL (SwiftShader here); colouring shows a legend; hovering a point shows its
 * thumbnail; a lasso drawn around some points becomes the grid's filter, and the grid lists exactly the lasso's
 * stored selection, which holds exactly the points inside the polygon; the grid's selection is ringed on the map.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { openLibrary } from '../../core/library/openLibrary.js';
import { embedLibrary } from '../../core/models/embedLibrary.js';
import { projectEmbeddingRun } from '../../core/analysis/projections.js';
import { chromiumMissing } from './support/browser.js';
import type { ServeHandle } from './support/miruServe.js';
import { openWorkbench, type Workbench } from './support/workbench.js';
import { screenshot } from './support/screenshots.js';
import { makeE2eLibrary, type E2eLibrary } from './support/e2eLibrary.js';
import { GridPage } from './pages/gridPage.js';
import { MapPage } from './pages/mapPage.js';

const missing = chromiumMissing();

describe('the map view in Chromium against miru serve', { skip: missing ?? false, timeout: 120_000 }, () => {
  let library: E2eLibrary;
  let workbench: Workbench;
  let serve: ServeHandle;
  let page: Page;
  let pageErrors: string[];
  let ids: number[];

  before(async () => {
    library = await makeE2eLibrary();
    const db = openLibrary(library.dbPath);
    try {
      await embedLibrary(db, 'miru-convnext-s', { ep: 'cpu' });
      const map = await projectEmbeddingRun(db, 'miru-convnext-s', { method: 'umap', neighbors: 8, seed: 2 });
      ids = Array.from(map.imageIds);
    } finally {
      db.close();
    }
    workbench = await openWorkbench(library.dbPath, { timeoutMs: 15_000 });
    ({ serve, page, pageErrors } = workbench);
  });

  after(async () => {
    await workbench?.close();
  });

  test('points are drawn, coloured with a legend, and hovering one shows its thumbnail', async () => {
    const url = new URL(serve.url);
    url.searchParams.set('view', 'map');
    await page.goto(url.toString());
    const map = new MapPage(page);
    assert.equal(await map.waitDrawn(), library.images);
    await map.colourBy('score:miru-convnext-s');
    assert.match(page.url(), /color=score%3Amiru-convnext-s/);
    const p = await map.clientPointOf(0);
    await page.mouse.move(p.x + 1, p.y + 1);
    await page.mouse.move(p.x, p.y);
    const hover = page.locator('[data-testid=map-hover]');
    await hover.waitFor();
    await page.waitForFunction(() => {
      const img = (globalThis as unknown as { document: { querySelector(s: string): { complete: boolean; naturalWidth: number } | null } }).document.querySelector('[data-testid=map-hover] img');
      return !!img && img.complete && img.naturalWidth > 0;
    });
    assert.equal(await hover.locator('.map-hover-text span').first().textContent(), `#${ids[0]}`);
    assert.deepEqual(pageErrors, []);
  });

  test('a lasso becomes the grid filter, holding exactly the points inside it; the grid selection is ringed', async () => {
    const map = new MapPage(page);
    const grid = new GridPage(page);
    // A rectangle around the points nearest the middle of the drawn map (in screen space).
    const screen = await Promise.all(ids.map((_, i) => map.clientPointOf(i)));
    const xs = screen.map((s) => s.x).sort((a, b) => a - b);
    const ys = screen.map((s) => s.y).sort((a, b) => a - b);
    const [x0, x1] = [xs[Math.floor(xs.length * 0.2)]! - 2, xs[Math.floor(xs.length * 0.8)]! + 2];
    const [y0, y1] = [ys[Math.floor(ys.length * 0.2)]! - 2, ys[Math.floor(ys.length * 0.8)]! + 2];
    const generation = await grid.generation();
    await map.lasso([{ x: x0, y: y0 }, { x: x1, y: y0 }, { x: x1, y: y1 }, { x: x0, y: y1 }]);
    await page.waitForFunction(() => /selection%3D\d+/.test((globalThis as unknown as { location: { search: string } }).location.search));
    await grid.waitReady(generation);
    const selection = Number(/selection%3D(\d+)/.exec(page.url())![1]);
    const db = openLibrary(library.dbPath, { readonly: true });
    const members = db.prepare('SELECT image_id FROM analysis_values WHERE analysis_id = ? ORDER BY image_id').pluck().all(selection) as number[];
    db.close();
    // The points inside the drawn rectangle, from the stored coordinates (the host resolves the same polygon).
    const inside = screen.flatMap((s, i) => (s.x > x0 && s.x < x1 && s.y > y0 && s.y < y1 ? [ids[i]!] : [])).sort((a, b) => a - b);
    assert.ok(inside.length > 0 && inside.length < library.images, `${inside.length} points inside`);
    assert.deepEqual(members, inside);
    assert.equal(await grid.count(), members.length);
    const tiles = await grid.tiles();
    assert.ok(tiles.every((t) => members.includes(t.id)), 'every tile is in the lasso');

    await grid.click(0);
    await grid.click(1, ['Control']);
    await page.waitForFunction(() => (globalThis as unknown as { miruMap: { highlightedCount: number } }).miruMap.highlightedCount === 2);
    assert.equal(await map.highlightedCount(), 2);
    await screenshot(page, 'map');

    // Clearing the selection brings every image back.
    const before = await grid.generation();
    await page.click('[data-testid=clear-lasso]');
    await grid.waitReady(before);
    assert.equal(await grid.count(), library.images);
    assert.deepEqual(pageErrors, []);
  });
});
