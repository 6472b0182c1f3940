/** Page object: the Raters view (renderer/components/RatersView.tsx) and what its data-* attributes expose. */
import type { Page } from 'playwright-core';
import type { PageCanvas, PageDocument } from '../support/pageDom.js';

declare const document: PageDocument;

/** The 2-D context calls the pixel probe makes, as the tests' Node types lack the DOM. */
interface PixelCanvas extends PageCanvas {
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } } | null;
}

export interface HeatmapInfo {
  raters: number;
  order: string[];
  cell: number;
  gridX: number;
  gridY: number;
}

export class RatersPage {
  constructor(readonly page: Page) {}

  /** Waits until the view shows a finished analysis (not a loading or updating one). */
  async waitReady(timeout = 20_000): Promise<void> {
    await this.page.waitForFunction(
      () => {
        const view = document.querySelector('[data-testid=raters-view]');
        return !!view && view.querySelector('[data-testid=raters-heatmap]') !== null && view.querySelector('[data-testid=raters-table]') !== null && !(view as unknown as { getAttribute(n: string): string | null }).getAttribute('aria-busy');
      },
      undefined,
      { timeout },
    );
  }

  /** Runs an action that changes the analysis' settings and waits for the new answer to be drawn. */
  async afterUpdate(action: () => Promise<void>): Promise<void> {
    const before = await this.page.getAttribute('[data-testid=raters-status]', 'data-computed');
    await action();
    await this.page.waitForFunction(
      (previous) => {
        const status = document.querySelector('[data-testid=raters-status]');
        const view = document.querySelector('[data-testid=raters-view]') as unknown as { getAttribute(n: string): string | null } | null;
        return !!status && status.dataset.computed !== previous && !view?.getAttribute('aria-busy');
      },
      before,
    );
  }

  async heatmap(): Promise<HeatmapInfo> {
    const canvas = this.page.locator('[data-testid=raters-heatmap]');
    const attr = async (name: string) => (await canvas.getAttribute(name)) ?? '';
    return {
      raters: Number(await attr('data-raters')),
      order: (await attr('data-order')).split(','),
      cell: Number(await attr('data-cell')),
      gridX: Number(await attr('data-grid-x')),
      gridY: Number(await attr('data-grid-y')),
    };
  }

  /** The colour drawn at the centre of heatmap cell (row, col), as [r, g, b] (canvas pixels, device ratio 1). */
  async cellColor(row: number, col: number): Promise<[number, number, number]> {
    const info = await this.heatmap();
    const x = Math.floor(info.gridX + (col + 0.5) * info.cell);
    const y = Math.floor(info.gridY + (row + 0.5) * info.cell);
    return this.page.$eval(
      '[data-testid=raters-heatmap]',
      (el, [px, py]) => {
        const canvas = el as unknown as PixelCanvas;
        const ratio = canvas.width / Number(canvas.dataset.width ?? canvas.width);
        const data = canvas.getContext('2d')!.getImageData(Math.floor(px! * ratio), Math.floor(py! * ratio), 1, 1).data;
        return [data[0]!, data[1]!, data[2]!] as [number, number, number];
      },
      [x, y],
    );
  }

  async tableRaters(): Promise<string[]> {
    return this.page.$$eval('[data-testid=raters-table] tbody tr', (rows) => rows.map((r) => (r as unknown as { dataset: Record<string, string> }).dataset.rater!));
  }

  async alpha(metric: 'nominal' | 'ordinal' | 'interval' | 'ratio'): Promise<{ value: number | null; text: string }> {
    const tile = this.page.locator(`[data-testid=raters-alpha-${metric}]`);
    const raw = await tile.getAttribute('data-value');
    return { value: raw ? Number(raw) : null, text: ((await tile.locator('.raters-alpha-value').textContent()) ?? '').trim() };
  }

  async mapPoints(): Promise<number> {
    return Number(await this.page.getAttribute('[data-testid=raters-map]', 'data-points'));
  }

  async clickRater(name: string): Promise<void> {
    await this.page.click(`[data-testid=raters-table] tbody tr[data-rater="${name}"]`);
  }

  async isSelected(name: string): Promise<boolean> {
    return ((await this.page.getAttribute(`[data-testid=raters-table] tbody tr[data-rater="${name}"]`, 'class')) ?? '').split(/\s+/).includes('selected');
  }

  async clickCluster(id: number): Promise<void> {
    await this.page.click(`[data-testid=raters-cluster-${id}]`);
  }

  async setClusters(k: number | 'auto'): Promise<void> {
    await this.page.click(`[data-testid=raters-k] button:text-is("${k === 'auto' ? 'Auto' : k}")`);
  }

  /** Moves the pointer over heatmap cell (row, col) and returns the hover card's text. */
  async hoverCell(row: number, col: number): Promise<string> {
    const info = await this.heatmap();
    await this.page.hover('[data-testid=raters-heatmap]', { position: { x: info.gridX + (col + 0.5) * info.cell, y: info.gridY + (row + 0.5) * info.cell } });
    return ((await this.page.locator('[data-testid=raters-hover]').textContent()) ?? '').trim();
  }
}
