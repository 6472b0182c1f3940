/**
 * The setup every browser test repeats: `miru serve` on a library, Chromium, and a page that collects its
 * uncaught errors (each test asserts at the end that there were none).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { repoRoot } from '../../helpers/paths.js';
import { chromiumMissing, launchChromium } from './browser.js';
import { startServe, type ServeHandle } from './miruServe.js';

/** Why the workbench tests cannot run here (no Chromium, or the UI not built), or null when they can. */
export function workbenchMissing(): string | null {
  return chromiumMissing() ?? (existsSync(path.join(repoRoot, 'dist/renderer/index.html')) ? null : 'the UI is not built (npm run build)');
}

export interface PageOptions {
  viewport?: { width: number; height: number };
  /** Playwright's default timeout for the page's actions; Playwright's own (30 s) when left out. */
  timeoutMs?: number;
}

/** A new page (1440 x 900 unless asked) whose uncaught errors land in `errors`. */
export async function openPage(browser: Browser, options: PageOptions = {}): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: options.viewport ?? { width: 1440, height: 900 } });
  if (options.timeoutMs !== undefined) page.setDefaultTimeout(options.timeoutMs);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  return { page, errors };
}

export interface Workbench {
  serve: ServeHandle;
  browser: Browser;
  page: Page;
  pageErrors: string[];
  /** Closes the browser, then stops the server. */
  close(): Promise<void>;
}

/** Serves `dbPath` with `miru serve`, launches Chromium and opens one page (not navigated yet). */
export async function openWorkbench(dbPath: string, options: PageOptions = {}): Promise<Workbench> {
  const serve = await startServe(dbPath);
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    const { page, errors } = await openPage(browser, options);
    const opened = browser;
    return {
      serve,
      browser: opened,
      page,
      pageErrors: errors,
      close: async () => {
        await opened.close();
        await serve.stop();
      },
    };
  } catch (error) {
    await browser?.close();
    await serve.stop();
    throw error;
  }
}
