/** Page object: the sample view (image panes, overlay controls, tags). */
import type { Page } from 'playwright-core';
import type { PageCanvas, PageDocument, PageElement } from '../support/pageDom.js';

declare const document: PageDocument;

export class SamplePage {
  constructor(readonly page: Page) {}

  root() {
    return this.page.locator('[data-testid=sample-view]');
  }

  async waitOpen(): Promise<number> {
    await this.root().waitFor({ state: 'visible' });
    return Number(await this.root().getAttribute('data-image-id'));
  }

  async imageId(): Promise<number> {
    return Number(await this.root().getAttribute('data-image-id'));
  }

  /** Waits for the original image to have decoded in the first pane. */
  async waitImage(): Promise<void> {
    await this.page.waitForSelector('[data-testid=pane-a] .viewer.loaded');
  }

  async overlayOn(): Promise<void> {
    await this.page.check('[data-testid=overlay-toggle]');
  }

  async setMethod(method: string): Promise<void> {
    await this.page.selectOption('[data-testid=overlay-method]', method);
  }

  async setModel(model: string): Promise<void> {
    await this.page.selectOption('[data-testid=overlay-model]', model);
  }

  async compare(mode: 'off' | 'methods' | 'models', second?: string): Promise<void> {
    await this.page.selectOption('[data-testid=compare-mode]', mode);
    if (second && mode === 'methods') await this.page.selectOption('[data-testid=compare-method]', second);
    if (second && mode === 'models') await this.page.selectOption('[data-testid=compare-model]', second);
  }

  /** Waits until a pane shows a map made by `method`; returns the pane's caption. */
  async waitOverlay(method: string, pane: 'a' | 'b' = 'a', timeout = 30_000): Promise<string> {
    const selector = `[data-testid=pane-${pane}][data-overlay-state=ready] [data-testid=overlay-info]`;
    await this.page.waitForFunction(
      ([sel, m]) => {
        const el = document.querySelector(sel!);
        return el !== null && (el.textContent ?? '').startsWith(`${m} `);
      },
      [selector, method] as const,
      { timeout },
    );
    return (await this.page.textContent(selector)) ?? '';
  }

  /** Whether the overlay canvas in a pane is drawn (visible, with pixels). */
  async overlayDrawn(pane: 'a' | 'b' = 'a'): Promise<boolean> {
    return this.page.$eval(`[data-testid=pane-${pane}] canvas.viewer-overlay`, (c) => {
      const canvas = c as PageCanvas;
      return !canvas.hidden && canvas.width > 0 && canvas.height > 0;
    });
  }

  async tags(): Promise<string[]> {
    return this.page.$$eval('[data-testid=sample-tags] .chip-tag', (els) => els.map((e) => (e as PageElement).dataset.tag ?? ''));
  }

  async close(): Promise<void> {
    await this.page.keyboard.press('Escape');
    await this.root().waitFor({ state: 'detached' });
  }
}
