/**
 * Native modules in two runtimes. better-sqlite3 is a NAN/V8 addon: a build works only in the runtime ABI it was
 * compiled for (NODE_MODULE_VERSION, `process.versions.modules`), and Electron's ABI differs from Node's. The
 * Node build in node_modules/better-sqlite3/build serves the CLI and the tests and is never touched; the desktop
 * host loads a second build, made by `npm run electron:rebuild` (electron/rebuildNative.ts) into
 *   .electron-native/better-sqlite3-<version>/electron-abi<abi>-<platform>-<arch>/better_sqlite3.node
 * and handed to better-sqlite3's `nativeBinding` option. The folder is keyed by the better-sqlite3 version (the
 * JS and the addon must match) and the ABI (Electron patch releases share one), so upgrades never load a stale
 * build: they ask for a rebuild instead.
 *
 * onnxruntime-node, sharp and hnswlib-node need nothing of the kind: all three are N-API addons (ABI-stable across
 * Node and Electron versions; hnswlib-node is built with node-addon-api and its addon.node exports only
 * napi_register_module_v1), so the same files load in both runtimes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export const ELECTRON_NATIVE_DIR = '.electron-native';

export interface BindingTarget {
  betterSqliteVersion: string;
  /** NODE_MODULE_VERSION of the Electron release (`process.versions.modules` inside it). */
  abi: string;
  platform: string;
  arch: string;
}

export function electronSqliteBindingPath(projectRoot: string, target: BindingTarget): string {
  return path.join(projectRoot, ELECTRON_NATIVE_DIR, `better-sqlite3-${target.betterSqliteVersion}`, `electron-abi${target.abi}-${target.platform}-${target.arch}`, 'better_sqlite3.node');
}

/** The installed better-sqlite3's version (the JS half of the pair). */
export function installedBetterSqliteVersion(projectRoot: string): string {
  const require = createRequire(path.join(projectRoot, 'package.json'));
  const file = require.resolve('better-sqlite3/package.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

export type SqliteBindingChoice =
  /** Plain Node (CLI, tests): better-sqlite3 finds its own build; pass no nativeBinding. */
  | { runtime: 'node'; nativeBinding: undefined }
  /** Inside Electron, with the Electron-ABI build present. */
  | { runtime: 'electron'; nativeBinding: string }
  /** Inside Electron without a matching build: what to run. */
  | { runtime: 'electron'; nativeBinding: null; expected: string; message: string };

export interface ChooseBindingInput {
  versions: { electron?: string; modules: string };
  platform: string;
  arch: string;
  projectRoot: string;
  betterSqliteVersion: string;
  exists?: (file: string) => boolean;
}

/** Which better-sqlite3 build this process must load; pure apart from the `exists` probe, so tests run it without Electron. */
export function chooseSqliteBinding(input: ChooseBindingInput): SqliteBindingChoice {
  if (!input.versions.electron) return { runtime: 'node', nativeBinding: undefined };
  const expected = electronSqliteBindingPath(input.projectRoot, { betterSqliteVersion: input.betterSqliteVersion, abi: input.versions.modules, platform: input.platform, arch: input.arch });
  if ((input.exists ?? existsSync)(expected)) return { runtime: 'electron', nativeBinding: expected };
  return {
    runtime: 'electron',
    nativeBinding: null,
    expected,
    message:
      `better-sqlite3 ${input.betterSqliteVersion} has no build for Electron ${input.versions.electron} (ABI ${input.versions.modules}, ${input.platform}-${input.arch}); ` +
      `expected ${expected}. Run \`npm run electron:rebuild\` once (it downloads a prebuilt binary, or compiles one against Electron's headers); ` +
      'the Node build used by the CLI and tests is not touched. Meanwhile `miru serve --db <library>` opens the same UI in a browser.',
  };
}

/** The choice for the current process. */
export function currentSqliteBinding(projectRoot: string): SqliteBindingChoice {
  return chooseSqliteBinding({
    versions: process.versions as { electron?: string; modules: string },
    platform: process.platform,
    arch: process.arch,
    projectRoot,
    betterSqliteVersion: installedBetterSqliteVersion(projectRoot),
  });
}
