/** Page object: the filter sidebar and the toolbar's sort. */
import type { Page } from 'playwright-core';

export class SidebarPage {
  constructor(readonly page: Page) {}

  private input(field: string, which: 'min' | 'max') {
    return this.page.locator(`[data-testid="${field}-${which}"]`);
  }

  /** Types a range into a numeric field's inputs (its row must be open) and commits with Enter. */
  async setRange(field: string, min: number | null, max: number | null): Promise<void> {
    for (const [which, value] of [['min', min], ['max', max]] as const) {
      if (value === null) continue;
      await this.input(field, which).fill(String(value));
      await this.input(field, which).press('Enter');
    }
  }

  /** Empties one bound of a numeric field's range and commits with Enter. */
  async clearBound(field: string, which: 'min' | 'max'): Promise<void> {
    await this.input(field, which).fill('');
    await this.input(field, which).press('Enter');
  }

  async histogramBars(field: string): Promise<number> {
    return this.page.locator(`[data-field="${field}"] svg.histogram rect.bar`).count();
  }

  async includeTag(tag: string): Promise<void> {
    await this.page.click(`[data-testid="tag-include-${tag}"]`);
  }

  async excludeTag(tag: string): Promise<void> {
    await this.page.click(`[data-testid="tag-exclude-${tag}"]`);
  }

  async clearFilters(): Promise<void> {
    await this.page.click('[data-testid=clear-filters]');
  }

  async sortBy(field: string, descending: boolean): Promise<void> {
    await this.page.selectOption('[data-testid=sort-field]', field);
    const title = (await this.page.getAttribute('[data-testid=sort-direction]', 'title')) ?? '';
    if (title.startsWith('Descending') !== descending) await this.page.click('[data-testid=sort-direction]');
  }
}
