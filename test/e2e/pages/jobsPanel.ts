/** Page object: the jobs drawer. */
import type { Page } from 'playwright-core';
import type { PageDocument, PageElement } from '../support/pageDom.js';

declare const document: PageDocument;

export class JobsPanel {
  constructor(readonly page: Page) {}

  async open(): Promise<void> {
    if (!(await this.page.locator('[data-testid=jobs-panel]').isVisible())) await this.page.click('[data-testid=open-jobs]');
    await this.page.locator('[data-testid=jobs-panel]').waitFor({ state: 'visible' });
  }

  /** Starts a job from the form; returns the new job's id (the newest card). */
  async start(kind: 'index' | 'score' | 'embed' | 'explain', options: { model?: string } = {}): Promise<number> {
    const before = await this.jobIds();
    await this.page.click(`[data-testid=job-kind-${kind}]`);
    if (options.model) await this.page.selectOption('[data-testid=job-model]', options.model);
    await this.page.click('[data-testid=job-start]');
    await this.page.waitForFunction(
      (n) => document.querySelectorAll('[data-testid=job]').length > n,
      before.length,
      { timeout: 10_000 },
    );
    const after = await this.jobIds();
    return Math.max(...after.filter((id) => !before.includes(id)));
  }

  async jobIds(): Promise<number[]> {
    return this.page.$$eval('[data-testid=job]', (els) => els.map((e) => Number((e as PageElement).dataset.jobId)));
  }

  async status(id: number): Promise<string | null> {
    return this.page.getAttribute(`[data-testid=job][data-job-id="${id}"]`, 'data-status');
  }

  /** Waits for a job to leave "running"; returns its final status. */
  async waitFinished(id: number, timeout = 60_000): Promise<string> {
    await this.page.waitForSelector(`[data-testid=job][data-job-id="${id}"]:not([data-status=running])`, { timeout });
    return (await this.status(id)) ?? '';
  }
}
