/**
 * End-to-end: the grid's scrollbar dragged far ahead (issue 5). The grid fetches the block there by its rank
 * (listImages `offset`) instead of walking every page before it, and the tiles it shows are exactly the rows a
 * walk through the listing reaches at those positions, in library order and under a sort with ties and NULLs.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { parseListSort, queryImages } from '../../core/library/queryImages.js';
import { listingLibrary } from '../helpers/listingLibrary.js';
import type { ServeHandle } from './support/miruServe.js';
import { openWorkbench, workbenchMissing, type Workbench } from './support/workbench.js';
import { GridPage } from './pages/gridPage.js';

const missing = workbenchMissing();
const IMAGES = 20_000;

declare const document: { querySelector(selector: string): { scrollTop: number; scrollHeight: number; clientHeight: number } | null };

describe('grid jumps in Chromium against miru serve', { skip: missing ?? false, timeout: 120_000 }, () => {
  let workbench: Workbench;
  let serve: ServeHandle;
  let page: Page;
  let grid: GridPage;
  let walked: Map<string, number[]>;
  const listRequests: { after: unknown; offset: unknown }[] = [];

  before(async () => {
    const lib = listingLibrary(IMAGES, 5);
    // What walking every page gives, per sort: the truth the grid must match.
    walked = new Map();
    for (const sort of ['', '-ratingMean']) {
      const ids: number[] = [];
      let cursor: string | null = null;
      do {
        const page = queryImages(lib.db, { sort: sort ? parseListSort(sort) : undefined, limit: 1000, after: cursor });
        ids.push(...page.items.map((i) => i.id));
        cursor = page.next;
      } while (cursor);
      walked.set(sort, ids);
    }
    lib.db.close();
    workbench = await openWorkbench(lib.dbPath, { viewport: { width: 1280, height: 800 }, timeoutMs: 15_000 });
    ({ serve, page } = workbench);
    page.on('request', (request) => {
      if (!request.url().includes('/api/listImages')) return;
      const body = JSON.parse(request.postData() ?? '{}') as { after?: unknown; offset?: unknown };
      listRequests.push({ after: body.after, offset: body.offset });
    });
    grid = new GridPage(page);
  });

  after(async () => {
    await workbench?.close();
  });

  /** Sets the scrollbar to `fraction` of its range and waits for the tiles there to show their images. */
  async function jump(fraction: number): Promise<{ index: number; id: number }[]> {
    await page.evaluate((f) => {
      const scroller = document.querySelector('.grid-scroller')!;
      scroller.scrollTop = f * (scroller.scrollHeight - scroller.clientHeight);
    }, fraction);
    const expectedFirst = Math.floor(fraction * IMAGES * 0.8);
    await page.waitForFunction(
      (first) => {
        const tiles = [...(document as unknown as { querySelectorAll(s: string): Iterable<{ dataset: Record<string, string | undefined> }> }).querySelectorAll('.tile:not([hidden])[data-index]')];
        const withId = tiles.filter((t) => t.dataset.id !== undefined);
        return withId.length > 0 && withId.length === tiles.length && Math.min(...withId.map((t) => Number(t.dataset.index))) >= first;
      },
      expectedFirst,
    );
    return (await grid.tiles()).map((t) => ({ index: t.index, id: t.id }));
  }

  for (const sort of ['', '-ratingMean']) {
    test(`a jump to 50% and to the end shows the rows walking reaches there (${sort || 'library order'})`, async () => {
      await page.goto(sort ? `${serve.url}&sort=${sort}` : serve.url);
      await grid.waitReady(-1);
      const truth = walked.get(sort)!;
      assert.equal(await grid.count(), truth.length);
      listRequests.length = 0;
      for (const fraction of [0.5, 0.97]) {
        const tiles = await jump(fraction);
        assert.ok(tiles.length > 10, `${tiles.length} tiles on screen`);
        for (const t of tiles) assert.equal(t.id, truth[t.index], `tile ${t.index} after a jump to ${fraction * 100}%`);
      }
      // Reached by rank, not by walking: a handful of requests, at least one with an offset and none walking the blocks in between.
      const jumps = listRequests.filter((r) => typeof r.offset === 'number' && (r.offset as number) > 0);
      assert.ok(jumps.length >= 1, `requests: ${JSON.stringify(listRequests)}`);
      assert.ok(listRequests.length <= 6, `${listRequests.length} listImages requests for two jumps: ${JSON.stringify(listRequests)}`);
      assert.ok(jumps.every((r) => (r.offset as number) % 1000 === 0), 'jumps start at block boundaries');
    });
  }
});
