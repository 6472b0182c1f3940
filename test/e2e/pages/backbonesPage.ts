/** Page object: the Backbones view (renderer/components/BackbonesView.tsx) and what its data-* attributes expose. */
import type { Page } from 'playwright-core';
import type { PageDocument, PageElement, PageImage } from '../support/pageDom.js';

declare const document: PageDocument;

export interface MetricCell {
  metric: string;
  run: number;
  head: string;
  mean: number | null;
  /** The number as printed. */
  text: string;
  best: boolean;
}

export class BackbonesPage {
  constructor(readonly page: Page) {}

  root() {
    return this.page.locator('[data-testid=backbones-view]');
  }

  /** Waits until the view has its data (whatever it shows). */
  async waitLoaded(timeout = 15_000): Promise<void> {
    await this.page.waitForSelector('[data-testid=backbones-view][data-state=ready]', { timeout });
  }

  /** Waits until the view shows a stored report other than `previous`; returns its id. */
  async waitReport(previous: number | null = null, timeout = 30_000): Promise<number> {
    const handle = await this.page.waitForFunction(
      (before) => {
        const id = document.querySelector('[data-testid=backbones-view][data-state=ready]')?.dataset.report ?? '';
        return id !== '' && Number(id) !== before ? Number(id) : false;
      },
      previous,
      { timeout },
    );
    return (await handle.jsonValue()) as number;
  }

  async metricCells(): Promise<MetricCell[]> {
    return this.page.$$eval('[data-testid=metric-cell]', (els) =>
      els.map((el) => {
        const e = el as PageElement;
        return {
          metric: e.dataset.metric ?? '',
          run: Number(e.dataset.run),
          head: e.dataset.head ?? '',
          mean: e.dataset.mean ? Number(e.dataset.mean) : null,
          text: (e.querySelector('[data-testid=metric-value]')?.textContent ?? '').replace('★', '').trim(),
          best: e.dataset.best === 'true',
        };
      }),
    );
  }

  async backbones(): Promise<{ run: number; model: string }[]> {
    return this.page.$$eval('[data-testid=backbone]', (els) => els.map((el) => ({ run: Number((el as PageElement).dataset.run), model: (el as PageElement).dataset.model ?? '' })));
  }

  async curveLines(): Promise<string[]> {
    return this.page.$$eval('[data-testid=curve-line]', (els) => els.map((el) => `${(el as PageElement).dataset.run}:${(el as PageElement).dataset.head}`));
  }

  /** Cleaning rows as run:head:trained, with the printed means of the three test sets. */
  async cleaningRows(): Promise<{ key: string; means: (number | null)[] }[]> {
    return this.page.$$eval('[data-testid=cleaning-row]', (els) =>
      els.map((el) => {
        const e = el as PageElement;
        return {
          key: `${e.dataset.run}:${e.dataset.head}:${e.dataset.trained}`,
          means: [...e.querySelectorAll('td[data-set]')].map((td) => (td.dataset.mean ? Number(td.dataset.mean) : null)),
        };
      }),
    );
  }

  async ids(testId: 'disagreement' | 'disputed'): Promise<number[]> {
    return this.page.$$eval(`[data-testid=${testId}]`, (els) => els.map((el) => Number((el as PageElement).dataset.id)));
  }

  /** Waits until every thumbnail of these cards has decoded. */
  async waitThumbnails(testId: 'disagreement' | 'disputed', timeout = 15_000): Promise<void> {
    await this.page.waitForFunction(
      (id) => {
        const images = [...document.querySelectorAll(`[data-testid=${id}] img`)] as unknown as PageImage[];
        return images.length > 0 && images.every((img) => img.complete && img.naturalWidth > 0);
      },
      testId,
      { timeout },
    );
  }

  async raterModels(): Promise<{ name: string; spearman: number | null }[]> {
    return this.page.$$eval('[data-testid=rater-model]', (els) =>
      els.map((el) => ({ name: (el as PageElement).dataset.name ?? '', spearman: (el as PageElement).dataset.spearman ? Number((el as PageElement).dataset.spearman) : null })),
    );
  }

  /** Scrolls the view so a section is at the top (for screenshots). */
  async scrollTo(testId: string): Promise<void> {
    await this.page.locator(`[data-testid=${testId}]`).evaluate((el) => (el as unknown as { scrollIntoView(o: unknown): void }).scrollIntoView({ block: 'start' }));
  }
}
