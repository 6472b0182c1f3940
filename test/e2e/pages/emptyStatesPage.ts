/** Page object: the notices, hints and empty panels the workbench shows when there is nothing (yet) to show. */
import type { Page } from 'playwright-core';
import type { PageElement } from '../support/pageDom.js';

export class EmptyStatesPage {
  constructor(readonly page: Page) {}

  /** A notice over the grid (`empty-library`, `empty-filtered`, `grid-error`): its heading and whole text. */
  async notice(testId: string): Promise<{ heading: string; text: string }> {
    const el = this.page.locator(`[data-testid=${testId}]`);
    await el.waitFor({ state: 'visible' });
    return { heading: ((await el.locator('h2').textContent()) ?? '').trim(), text: ((await el.textContent()) ?? '').trim() };
  }

  /** The text of an element (waits for it). */
  async text(selector: string): Promise<string> {
    const el = this.page.locator(selector).first();
    await el.waitFor({ state: 'visible' });
    return ((await el.textContent()) ?? '').replace(/\s+/g, ' ').trim();
  }

  /** Grid tiles showing an image. */
  async tiles(): Promise<number> {
    return this.page.locator('.tile:not([hidden])[data-id]').count();
  }

  /** Numeric fields listed in the sidebar. */
  async sidebarFields(): Promise<number> {
    return this.page.locator('[data-testid=sidebar] [data-field]').count();
  }

  async optionTexts(select: string): Promise<string[]> {
    return this.page.$$eval(`${select} option`, (options) => options.map((o) => ((o as PageElement).textContent ?? '').trim()));
  }

  /** Messages of the error notices on screen (there should be none in an empty state). */
  async errorToasts(): Promise<string[]> {
    return this.page.$$eval('[data-testid=toast].toast-error', (els) => els.map((e) => ((e as PageElement).textContent ?? '').trim()));
  }

  async openJobs(): Promise<string> {
    if (!(await this.page.locator('[data-testid=jobs-panel]').isVisible())) await this.page.click('[data-testid=open-jobs]');
    return this.text('[data-testid=jobs-panel]');
  }

  async openModels(): Promise<string> {
    if (!(await this.page.locator('[data-testid=models-panel]').isVisible())) await this.page.click('[data-testid=open-models]');
    return this.text('[data-testid=models-panel]');
  }

  /** Which job kind the jobs form has selected. */
  async jobKind(): Promise<string | null> {
    const checked = this.page.locator('[data-testid=jobs-panel] [role=radio][aria-checked=true]');
    return (await checked.count()) ? ((await checked.first().textContent()) ?? '').trim() : null;
  }
}
