/**
 * The embedding map's frame time with 1,000,000 points in headless Chromium (WebGL; SwiftShader where there is no
 * GPU, as on CI), against `miru serve` on bench:query's generated million-image library with a synthetic
 * projection stored beside it (clustered 2-D points). Measured in the page through the map engine itself:
 * render plus a 1-pixel read-back per frame, so the time includes the GPU's (or SwiftShader's) work, while
 * panning and while zooming. Same-run baseline: the same page with a 10,000-point projection.
 * Also: the time from navigation to the first drawn million-point frame (points fetched as one binary frame).
 */
import { copyFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { openLibrary } from '../../core/library/openLibrary.js';
import { saveAnalysis, findAnalysis } from '../../core/analysis/analysisStore.js';
import { createMiruService } from '../../core/api/miruService.js';
import { startHttpHost } from '../../core/api/httpHost.js';
import { ensureQueryDb } from '../queryDb.js';
import { BENCH_DIR, gaussian, median, now, percentile, rng } from '../benchUtil.js';
import type { BenchRow } from './benchRow.js';

// The in-page functions run in Chromium; the Node project compiles without the DOM library, so the few shapes
// they touch are declared here.
interface PageStage {
  dataset: Record<string, string | undefined>;
  getBoundingClientRect(): { left: number; top: number; width: number; height: number };
}
interface PageGl {
  getExtension(name: string): { UNMASKED_RENDERER_WEBGL: number } | null;
  getParameter(p: number): unknown;
  RENDERER: number;
}
declare const document: {
  querySelector(selector: string): PageStage | null;
  createElement(tag: 'canvas'): { getContext(kind: 'webgl2'): PageGl | null };
};
declare const window: unknown;

const MAP_DB = path.join(BENCH_DIR, 'map-1m.db');
const CHROMIUM = process.env.MIRU_CHROMIUM ?? '/usr/bin/chromium';
const FRAMES = Number(process.env.MIRU_BENCH_FRAMES ?? 40);

/** A stored projection of `count` points in a few Gaussian clusters (the shape UMAP maps tend to have). */
function ensureProjection(dbPath: string, count: number): number {
  const db = openLibrary(dbPath);
  try {
    const params = { method: 'synthetic-bench', count };
    const existing = findAnalysis(db, 'projection', null, params);
    if (existing) return existing.id;
    const ids = db.prepare(`SELECT id FROM images WHERE status = 'ok' ORDER BY id LIMIT ?`).pluck().all(count) as number[];
    const random = rng(7);
    const centres = Array.from({ length: 12 }, () => [random() * 40 - 20, random() * 40 - 20, 0.5 + random() * 2.5]);
    const started = now();
    const id = saveAnalysis(db, {
      kind: 'projection',
      sourceRunId: null,
      params,
      summary: { note: 'bench:analysis map points' },
      values: ids.map((imageId) => {
        const [cx, cy, spread] = centres[Math.floor(random() * centres.length)]!;
        return { imageId, value: null, extra: Float32Array.of(cx! + gaussian(random) * spread!, cy! + gaussian(random) * spread!) };
      }),
    });
    console.log(`stored a ${count.toLocaleString('en-US')}-point projection in ${((now() - started) / 1000).toFixed(1)} s`);
    return id;
  } finally {
    db.close();
  }
}

interface FrameStats {
  loadMs: number;
  pan: number[];
  zoom: number[];
  full: number[];
  drawn: number[];
  points: number;
  renderer: string;
}

async function measure(page: Page, baseUrl: string, mapId: number): Promise<FrameStats> {
  const url = new URL(baseUrl);
  url.searchParams.set('view', 'map');
  url.searchParams.set('map', String(mapId));
  url.searchParams.set('color', 'brightness');
  const started = now();
  await page.goto(url.toString());
  await page.waitForFunction(() => {
    const stage = document.querySelector('[data-testid=map-stage]');
    const map = (window as unknown as { miruMap?: { frameTimes: number[] } }).miruMap;
    return !!stage && Number(stage.dataset.points) > 0 && !stage.dataset.loading && !!map && map.frameTimes.length > 0;
  }, undefined, { timeout: 180_000 });
  const loadMs = now() - started;
  // Let the colour values arrive and draw before timing frames.
  await page.waitForSelector('[data-testid=map-legend]', { timeout: 60_000 });
  return page.evaluate((frames) => {
    type Engine = { renderNow(moving?: boolean): number; panBy(x: number, y: number): void; zoomAt(x: number, y: number, f: number): void; drawnPoints: number };
    const map = (window as unknown as { miruMap: Engine }).miruMap;
    const stage = document.querySelector('[data-testid=map-stage]')!;
    const rect = stage.getBoundingClientRect();
    map.renderNow(); // warm: shaders compiled, buffers uploaded
    // Moving frames, as a drag or a wheel draws them (the engine adapts how many points fit its frame budget).
    const pan: number[] = [];
    const drawn: number[] = [];
    for (let i = 0; i < frames; i++) {
      map.panBy(i % 2 ? -6 : 6, 3);
      pan.push(map.renderNow(true));
      drawn.push(map.drawnPoints);
    }
    const zoom: number[] = [];
    for (let i = 0; i < frames; i++) {
      map.zoomAt(rect.left + rect.width / 2, rect.top + rect.height / 2, i < frames / 2 ? 1.08 : 1 / 1.08);
      zoom.push(map.renderNow(true));
      drawn.push(map.drawnPoints);
    }
    // Resting frames: every point.
    const full: number[] = [];
    for (let i = 0; i < Math.max(5, frames / 8); i++) full.push(map.renderNow(false));
    const canvas = document.createElement('canvas');
    const gl = canvas.getContext('webgl2');
    const info = gl?.getExtension('WEBGL_debug_renderer_info');
    const renderer = gl ? String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER)) : 'no WebGL2';
    return { loadMs: 0, pan, zoom, full, drawn, points: Number(stage.dataset.points), renderer };
  }, FRAMES).then((stats) => ({ ...stats, loadMs }));
}

export async function runMapBench(): Promise<BenchRow[]> {
  if (!existsSync(CHROMIUM)) return [{ name: 'map frame (1M points)', baseline: null, value: null, ratio: null, note: `skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)` }];
  const query = await ensureQueryDb();
  if (!existsSync(MAP_DB)) copyFileSync(query.path, MAP_DB);
  const big = ensureProjection(MAP_DB, 1_000_000);
  const small = ensureProjection(MAP_DB, 10_000);
  const service = createMiruService(MAP_DB);
  const host = await startHttpHost(service);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--enable-unsafe-swiftshader'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const baseline = await measure(page, host.url, small);
    const million = await measure(page, host.url, big);
    console.log(`WebGL renderer: ${million.renderer}`);
    const row = (name: string, a: number, b: number, note: string): BenchRow => ({ name, baseline: a, value: b, ratio: b / a, note });
    const points = million.points.toLocaleString('en-US');
    return [
      row(`map frame while panning (${points} points), median ms`, median(baseline.pan), median(million.pan), `p95 ${percentile(million.pan, 95).toFixed(1)} ms; draws a median ${Math.round(median(million.drawn)).toLocaleString('en-US')} points (level of detail); baseline ${baseline.points.toLocaleString('en-US')} points`),
      row('map frame while zooming, median ms', median(baseline.zoom), median(million.zoom), `p95 ${percentile(million.zoom, 95).toFixed(1)} ms`),
      row(`map frame at rest (all ${points} points), median ms`, median(baseline.full), median(million.full), 'drawn once the view settles'),
      row('map open to first frame, ms', baseline.loadMs, million.loadMs, 'navigation → points fetched (binary frame) and drawn'),
    ];
  } finally {
    await browser.close();
    await host.close();
    await service.close();
  }
}
