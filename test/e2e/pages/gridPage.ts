/** Page object: the virtualized grid, its count and its readiness (data-* attributes the grid host exposes). */
import type { Page } from 'playwright-core';
import type { PageDocument, PageElement } from '../support/pageDom.js';

declare const document: PageDocument;

export interface TileInfo {
  index: number;
  id: number;
  score: number | null;
  ratingMean: number | null;
  tags: string[];
  selected: boolean;
}

export class GridPage {
  constructor(readonly page: Page) {}

  /** The grid's listing generation: it grows with every new listing (filters, sort) or refresh. */
  async generation(): Promise<number> {
    return Number(await this.page.getAttribute('[data-testid=grid]', 'data-generation'));
  }

  /** Waits until a listing newer than `after` has painted: count known, tiles on screen with thumbnails. */
  async waitReady(after = 0, timeout = 15_000): Promise<void> {
    await this.page.waitForFunction(
      (before) => {
        const el = document.querySelector('[data-testid=grid]');
        if (!el) return false;
        const ready = Number(el.dataset.readyGeneration ?? -1);
        return ready > before && el.dataset.readyGeneration === el.dataset.generation && el.dataset.ready === 'true';
      },
      after,
      { timeout },
    );
  }

  /** Runs an action that changes the listing and waits for the new grid. */
  async afterChange(action: () => Promise<void>): Promise<void> {
    const before = await this.generation();
    await action();
    await this.waitReady(before);
  }

  /** The listing's total as the toolbar shows it (waits while it still reads "…"). */
  async count(): Promise<number> {
    const handle = await this.page.waitForFunction(() => {
      const text = document.querySelector('[data-testid=count]')?.textContent ?? '';
      return /^[\d,]+ /.test(text.trim()) ? text.trim() : false;
    });
    const text = (await handle.jsonValue()) as string;
    return Number(text.split(/\s/)[0]!.replace(/,/g, ''));
  }

  /** The tiles on screen, in grid order, as their badges show them. */
  async tiles(): Promise<TileInfo[]> {
    return this.page.$$eval('.tile:not([hidden])[data-id]', (els) =>
      els
        .map((el) => {
          const e = el as PageElement;
          const score = e.querySelector('.badge-score');
          const rating = e.querySelector('.badge-rating');
          const ratingText = rating && !rating.hidden ? /★ ([\d.]+)/.exec(rating.textContent ?? '') : null;
          return {
            index: Number(e.dataset.index),
            id: Number(e.dataset.id),
            score: score && !score.hidden ? Number(score.textContent) : null,
            ratingMean: ratingText ? Number(ratingText[1]) : null,
            tags: [...e.querySelectorAll('.tile-tags .chip:not(.chip-more)')].map((c) => c.textContent ?? ''),
            selected: e.classList.contains('selected'),
          };
        })
        .sort((a, b) => a.index - b.index),
    );
  }

  tile(index: number) {
    return this.page.locator(`.tile:not([hidden])[data-index="${index}"]`);
  }

  async click(index: number, modifiers: ('Shift' | 'Control')[] = []): Promise<void> {
    await this.tile(index).click({ modifiers });
  }

  async open(index: number): Promise<void> {
    await this.tile(index).dblclick();
  }

  async selectionCount(): Promise<number> {
    const text = (await this.page.textContent('[data-testid=selection-count]')) ?? '';
    const m = /^([\d,]+) selected/.exec(text.trim());
    return m ? Number(m[1]!.replace(/,/g, '')) : 0;
  }
}
