/**
 * Debian's Chromium driven by playwright-core (never `npx playwright install`: CI reaches only npm and Debian).
 * `.ci/run` installs the package when /usr/bin/chromium is missing; a machine without it skips the browser tests
 * and says why.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.MIRU_CHROMIUM ?? '/usr/bin/chromium';

/** Why browser tests cannot run here, or null when they can. */
export function chromiumMissing(): string | null {
  return existsSync(CHROMIUM) ? null : `no Chromium at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (or set MIRU_CHROMIUM)`;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
  });
}
