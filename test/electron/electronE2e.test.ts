// End to end through a real Electron: launches dist/electron/main.js with playwright-core's `_electron` on a small
// library and checks the security properties from inside the page and the main process. Needs the Electron binary
// (the optional `electron` package), playwright-core, the built UI (dist/renderer) and the Electron-ABI
// better-sqlite3 (`npm run electron:rebuild`); where one is missing the test reports itself skipped with the reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { locateElectron } from '../../core/cli/commands/appCommand.js';
import { chooseSqliteBinding, installedBetterSqliteVersion } from '../../electron/nativeModules.js';
import { electronAbi, installedElectronVersion } from '../../electron/rebuildNative.js';
import { smallLibrary } from '../helpers/library.js';
import { repoRoot } from '../helpers/paths.js';

/** The slice of playwright-core's Electron API used here (typed locally: the test must compile without it). */
interface PageLike {
  url(): string;
  evaluate<T>(expression: string): Promise<T>;
  waitForLoadState(state: 'domcontentloaded' | 'load'): Promise<void>;
  waitForTimeout(ms: number): Promise<void>;
}
interface ElectronAppLike {
  firstWindow(): Promise<PageLike>;
  evaluate<T>(fn: (electron: never) => T): Promise<T>;
  windows(): PageLike[];
  close(): Promise<void>;
}
interface PlaywrightElectronLike {
  launch(options: { executablePath: string; args: string[]; env?: Record<string, string>; timeout?: number }): Promise<ElectronAppLike>;
}

async function loadPlaywrightElectron(): Promise<PlaywrightElectronLike | string> {
  const specifier = 'playwright-core';
  try {
    const module = (await import(specifier)) as { _electron?: PlaywrightElectronLike };
    return module._electron ?? 'playwright-core has no _electron export';
  } catch (error) {
    return `playwright-core is not installed (${(error as Error).message.split('\n')[0]})`;
  }
}

function nativeBuildProblem(): string | null {
  const version = installedElectronVersion(repoRoot);
  if (!version) return 'the electron package has no version';
  let abi: string;
  try {
    abi = electronAbi(repoRoot, version);
  } catch (error) {
    return `node-abi does not know Electron ${version} (${(error as Error).message})`;
  }
  const choice = chooseSqliteBinding({ versions: { electron: version, modules: abi }, platform: process.platform, arch: process.arch, projectRoot: repoRoot, betterSqliteVersion: installedBetterSqliteVersion(repoRoot) });
  return choice.nativeBinding === null ? choice.message : null;
}

test('the desktop app end to end in Electron (sandbox, bridge, protocol, navigation, CSP)', { timeout: 120_000 }, async (t) => {
  const electron = locateElectron();
  if (!electron.ok) {
    t.skip(`Electron binary not installed: ${electron.reason} (npm install electron needs the internet; see README "Desktop app")`);
    return;
  }
  const playwright = await loadPlaywrightElectron();
  if (typeof playwright === 'string') {
    t.skip(playwright);
    return;
  }
  if (!existsSync(path.join(repoRoot, 'dist/renderer/index.html'))) {
    t.skip('the UI is not built (no dist/renderer/index.html): run `npm run build`');
    return;
  }
  const native = nativeBuildProblem();
  if (native) {
    t.skip(native);
    return;
  }

  const lib = await smallLibrary(3);
  const hash = lib.db.prepare<[], string>("SELECT content_hash FROM images WHERE rel_path = 'img0.png'").pluck().get()!;
  lib.db.close();
  const env = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => typeof e[1] === 'string' && e[0] !== 'ELECTRON_RUN_AS_NODE'));
  const app = await playwright.launch({ executablePath: electron.binary, args: [path.join(repoRoot, 'dist/electron/main.js'), '--db', lib.dbPath], env, timeout: 60_000 });
  try {
    const page = await app.firstWindow();
    await page.waitForLoadState('domcontentloaded');
    assert.equal(page.url(), 'miru://app/index.html');

    // No Node in the page; the bridge is exactly what the preload exposes.
    assert.equal(await page.evaluate<string>('typeof require'), 'undefined');
    assert.equal(await page.evaluate<string>('typeof process'), 'undefined');
    assert.deepEqual(await page.evaluate<string[]>('Object.keys(window.miru).sort()'), ['call', 'onEvent', 'transport']);
    assert.equal(await page.evaluate<string>('window.miru.transport'), 'ipc');
    const info = await page.evaluate<{ images: number }>("window.miru.call('libraryInfo', {})");
    assert.equal(info.images, 3);
    assert.match(await page.evaluate<string>("window.miru.call('close', {}).then(() => 'resolved', (e) => e.message)"), /Unknown Miru API method/);

    // The window's preferences as Electron applied them.
    const prefs = await app.evaluate(({ BrowserWindow }: { BrowserWindow: { getAllWindows(): { webContents: { getLastWebPreferences(): Record<string, unknown> } }[] } }) =>
      BrowserWindow.getAllWindows()[0].webContents.getLastWebPreferences(),
    );
    assert.equal(prefs.sandbox, true);
    assert.equal(prefs.contextIsolation, true);
    assert.equal(prefs.nodeIntegration, false);
    assert.equal(prefs.webviewTag, false);

    // Images through the protocol; traversal refused.
    assert.equal(await page.evaluate<number>(`fetch('miru://thumb/${hash}').then((r) => r.status)`), 200);
    assert.equal(await page.evaluate<number>(`fetch('miru://app/..%2f..%2fpackage.json').then((r) => r.status)`), 400);

    // CSP: an injected inline script does not run.
    assert.equal(await page.evaluate<boolean>("(() => { const s = document.createElement('script'); s.textContent = 'window.__inline = 1'; document.head.append(s); return window.__inline === 1; })()"), false);

    // No new windows, no navigation away.
    assert.equal(await page.evaluate<boolean>("window.open('https://example.com/') === null"), true);
    await page.evaluate<void>("void (location.href = 'https://example.com/')");
    await page.waitForTimeout(500);
    assert.equal(page.url(), 'miru://app/index.html');
    assert.equal(app.windows().length, 1);
  } finally {
    await app.close();
  }
});
