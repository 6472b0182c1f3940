/**
 * Entry point of the Electron main process: `electron dist/electron/main.js --db lib.db` (what `miru app` runs).
 * An ES module (Electron ≥ 28). The `electron` module is imported at runtime and typed structurally
 * (electronTypes.ts), so this compiles where the optional `electron` package is absent.
 * Ordering: Electron holds `ready` until the entry module's top level has finished (docs/tutorial/esm.md, "use
 * await generously before ready"). So the import is awaited at top level, and runDesktopApp, which registers the
 * privileged scheme and the sandbox synchronously before its first await, is called but NOT awaited here: awaiting
 * it would wait for `ready` inside the top level that `ready` waits for, and the app would never start.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { callApi, createMiruService } from '../core/api/miruService.js';
import { runDesktopApp } from './desktopApp.js';
import type { ElectronMainLike } from './electronTypes.js';
import { currentSqliteBinding } from './nativeModules.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const projectRoot = path.resolve(here, '../..');

async function loadElectron(): Promise<ElectronMainLike> {
  const specifier = 'electron'; // a variable, so the compiler does not look for the optional package's types
  let imported: unknown;
  try {
    imported = await import(specifier);
  } catch {
    imported = null;
  }
  const module = (imported as { default?: unknown } | null)?.default ?? imported;
  if (!module || typeof module !== 'object' || !('app' in module)) {
    // Under plain Node, `electron` is the npm package (a path string) or absent.
    console.error('miru: dist/electron/main.js runs inside Electron. Start the desktop app with `miru app --db <library>`.');
    process.exit(1);
  }
  return module as ElectronMainLike;
}

const electron = await loadElectron();
const binding = currentSqliteBinding(projectRoot);

runDesktopApp({
  electron,
  argv: process.argv.slice(1),
  appDir: path.join(projectRoot, 'dist', 'renderer'),
  preloadPath: path.join(here, 'preload.cjs'),
  startupError: binding.nativeBinding === null ? binding.message : null,
  openService: (dbPath) => createMiruService(dbPath, { nativeBinding: binding.nativeBinding ?? undefined }),
  callApi: (service, method, input) => callApi(service, method, input),
}).catch((error: unknown) => {
  console.error(`miru: the desktop app failed to start: ${(error as Error).stack ?? String(error)}`);
  electron.app.exit(1);
});
