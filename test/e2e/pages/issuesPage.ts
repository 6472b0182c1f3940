/** Page object: the Issues view (?view=issues): category tiles and chips, the list, its bulk actions. */
import type { Page } from 'playwright-core';
import type { PageDocument, PageElement } from '../support/pageDom.js';

declare const document: PageDocument;

export class IssuesPage {
  constructor(readonly page: Page) {}

  /** Waits until the categories show their counts (the summary arrived). */
  async waitSummary(): Promise<void> {
    await this.page.waitForSelector('[data-testid=issues-view]:not([aria-busy=true]) [data-testid=issue-category-label-issues]');
  }

  /** Each category's flagged count as its tile or chip shows it; null where it was never computed. */
  async counts(): Promise<Record<string, number | null>> {
    const raw = await this.page.$$eval('[data-testid^=issue-category-]', (els) =>
      els.map((el) => {
        const e = el as PageElement;
        return [e.dataset.testid!.replace('issue-category-', ''), e.dataset.count ?? ''] as const;
      }),
    );
    return Object.fromEntries(raw.map(([key, count]) => [key, count === '' ? null : Number(count)]));
  }

  async choose(key: string): Promise<void> {
    await this.page.click(`[data-testid=issue-category-${key}]`);
    await this.page.waitForSelector(`[data-testid=issue-category-${key}][aria-selected=true]`);
  }

  /** Waits for the chosen category's list to know its total; returns it. */
  async total(): Promise<number> {
    const handle = await this.page.waitForFunction(() => {
      const el = document.querySelector('[data-testid=issues-total]');
      const total = el?.dataset.total;
      return total !== undefined && total !== '' ? Number(total) : false;
    });
    return (await handle.jsonValue()) as number;
  }

  /** The rows drawn (the virtual list draws those in view), in list order, once their items have arrived. */
  async rows(): Promise<{ index: number; id: number; tags: string[]; selected: boolean }[]> {
    await this.page.waitForSelector('[data-testid=issue-row]');
    return this.page.$$eval('[data-testid=issue-row]', (els) =>
      els
        .map((el) => {
          const e = el as PageElement;
          return {
            index: Number(e.dataset.index),
            id: Number(e.dataset.id),
            tags: [...e.querySelectorAll('.issue-tags .chip')].map((c) => c.textContent ?? ''),
            selected: e.classList.contains('selected'),
          };
        })
        .sort((a, b) => a.index - b.index),
    );
  }

  /** Ticks a row's checkbox (Shift: everything from the last ticked row to this one). */
  async tick(index: number, shift = false): Promise<void> {
    await this.page.click(`[data-testid=issue-row][data-index="${index}"] .issue-check`, { modifiers: shift ? ['Shift'] : [] });
  }

  async selectionLabel(): Promise<string> {
    return ((await this.page.textContent('.issues-select-all')) ?? '').trim();
  }

  async bulkTarget(): Promise<string> {
    return ((await this.page.textContent('[data-testid=issues-bulk-target]')) ?? '').trim();
  }

  async tag(tag: 'outlier' | 'exclude'): Promise<void> {
    await this.page.click(`[data-testid=issues-tag-${tag}]`);
  }

  async showInGrid(): Promise<void> {
    await this.page.click('[data-testid=issues-show-in-grid]');
  }
}
