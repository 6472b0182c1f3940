/** Page object: the map view (renderer/components/MapView.tsx) and its engine, reached through window.miruMap. */
import type { Page } from 'playwright-core';

interface MapEngine {
  highlightedCount: number;
  drawnPoints: number;
  frameTimes: number[];
  clientPointOf(index: number): { x: number; y: number } | null;
}
declare const window: { miruMap?: MapEngine };
declare const document: { querySelector(selector: string): { dataset: Record<string, string | undefined> } | null };

export class MapPage {
  constructor(readonly page: Page) {}

  /** Waits until the projection's points are loaded and drawn; returns how many there are. */
  async waitDrawn(): Promise<number> {
    const handle = await this.page.waitForFunction(() => {
      const stage = document.querySelector('[data-testid=map-stage]');
      const points = Number(stage?.dataset.points ?? 0);
      return points > 0 && !stage?.dataset.loading && (window.miruMap?.frameTimes.length ?? 0) > 0 ? points : false;
    });
    return (await handle.jsonValue()) as number;
  }

  async colourBy(field: string): Promise<void> {
    await this.page.selectOption('[data-testid=map-color]', field);
    await this.page.waitForSelector('[data-testid=map-legend]');
  }

  async clientPointOf(index: number): Promise<{ x: number; y: number }> {
    const p = await this.page.evaluate((i) => window.miruMap!.clientPointOf(i), index);
    if (!p) throw new Error(`point ${index} has no coordinates`);
    return p;
  }

  async highlightedCount(): Promise<number> {
    return this.page.evaluate(() => window.miruMap!.highlightedCount);
  }

  /** Draws a lasso through the given client points with Shift held, as a user would. */
  async lasso(points: { x: number; y: number }[]): Promise<void> {
    await this.page.keyboard.down('Shift');
    await this.page.mouse.move(points[0]!.x, points[0]!.y);
    await this.page.mouse.down();
    for (const p of points.slice(1)) await this.page.mouse.move(p.x, p.y, { steps: 4 });
    await this.page.mouse.move(points[0]!.x, points[0]!.y, { steps: 4 });
    await this.page.mouse.up();
    await this.page.keyboard.up('Shift');
  }
}
