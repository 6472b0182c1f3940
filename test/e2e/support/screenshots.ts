/**
 * Screenshots of the end-to-end tests: every one goes to test-output/e2e/<name>.png; the ones the docs show are
 * also copied to docs/screenshots/ when MIRU_UPDATE_SCREENSHOTS=1.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { repoRoot } from '../../helpers/paths.js';

const OUTPUT = path.join(repoRoot, 'test-output', 'e2e');
const DOCS = path.join(repoRoot, 'docs', 'screenshots');

/** Closes the notices (they would cover part of the picture). */
export async function dismissToasts(page: Page): Promise<void> {
  const close = page.locator('[data-testid=toast] button[aria-label=Dismiss]').first();
  // Notices also leave on their own, so each click may find its notice gone.
  while ((await close.count()) > 0) await close.click({ timeout: 1000 }).catch(() => undefined);
}

/** Saves the page as test-output/e2e/<name>.png; with `docs` (the default), also docs/screenshots/ when asked. */
export async function screenshot(page: Page, name: string, options: { docs?: boolean } = {}): Promise<string> {
  mkdirSync(OUTPUT, { recursive: true });
  const file = path.join(OUTPUT, `${name}.png`);
  await page.screenshot({ path: file });
  if ((options.docs ?? true) && process.env.MIRU_UPDATE_SCREENSHOTS === '1') {
    mkdirSync(DOCS, { recursive: true });
    copyFileSync(file, path.join(DOCS, `${name}.png`));
  }
  return file;
}
