/**
 * `npm run electron:rebuild`: puts an Electron-ABI build of better-sqlite3 beside the Node one (see
 * nativeModules.ts), without touching node_modules/better-sqlite3/build. Works in a temporary copy of the package:
 *   1. prebuild-install (already installed with better-sqlite3) fetches the prebuilt binary for Electron's ABI from
 *      better-sqlite3's GitHub releases, or takes it from a local folder / npm's prebuild cache / a mirror;
 *   2. failing that, node-gyp compiles it against Electron's headers (needs a C++ toolchain and the headers).
 * Options: --electron-version V (default: the installed `electron` package), --arch A, --platform P.
 * Offline: put `better-sqlite3-v<version>-electron-v<abi>-<platform>-<arch>.tar.gz` in .electron-native/prebuilds/,
 * or set npm_config_better_sqlite3_binary_host_mirror to a mirror of the releases.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ELECTRON_NATIVE_DIR, electronSqliteBindingPath, installedBetterSqliteVersion } from './nativeModules.js';

export interface RebuildTarget {
  electronVersion: string;
  abi: string;
  platform: string;
  arch: string;
}

export function prebuildInstallArgs(target: RebuildTarget, localPrebuilds: string): string[] {
  return ['--runtime', 'electron', '--target', target.electronVersion, '--arch', target.arch, '--platform', target.platform, '--local-prebuilds', localPrebuilds, '--verbose'];
}

export function nodeGypArgs(target: RebuildTarget): string[] {
  return ['rebuild', '--release', '--runtime=electron', `--target=${target.electronVersion}`, `--arch=${target.arch}`, '--dist-url=https://electronjs.org/headers'];
}

/** The version of the installed `electron` package, or null when it is absent (its binary download failed). */
export function installedElectronVersion(projectRoot: string): string | null {
  try {
    const require = createRequire(path.join(projectRoot, 'package.json'));
    return (JSON.parse(readFileSync(require.resolve('electron/package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return null;
  }
}

/** Electron's NODE_MODULE_VERSION from node-abi's registry (node-abi comes with prebuild-install). */
export function electronAbi(projectRoot: string, electronVersion: string): string {
  const fromRoot = createRequire(path.join(projectRoot, 'package.json'));
  const fromPrebuild = createRequire(fromRoot.resolve('prebuild-install/package.json'));
  const nodeAbi = fromPrebuild('node-abi') as { getAbi(target: string, runtime: string): string };
  return nodeAbi.getAbi(electronVersion, 'electron');
}

function findNodeGyp(): string | null {
  const candidates = [process.env.npm_config_node_gyp, path.join(path.dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js')];
  return candidates.find((file): file is string => typeof file === 'string' && existsSync(file)) ?? null;
}

function argValue(argv: string[], name: string): string | undefined {
  const index = argv.indexOf(name);
  if (index >= 0) return argv[index + 1];
  const inline = argv.find((arg) => arg.startsWith(`${name}=`));
  return inline?.slice(name.length + 1);
}

export function rebuildForElectron(projectRoot: string, argv: string[]): number {
  const electronVersion = argValue(argv, '--electron-version') ?? installedElectronVersion(projectRoot);
  if (!electronVersion) {
    console.error(
      'electron:rebuild: no Electron version. The `electron` package is not installed (its binary download needs the internet); ' +
        'install it first (`npm install electron`), or name the version you will run: `npm run electron:rebuild -- --electron-version 40.10.2`.',
    );
    return 1;
  }
  const target: RebuildTarget = {
    electronVersion,
    abi: electronAbi(projectRoot, electronVersion),
    platform: argValue(argv, '--platform') ?? process.platform,
    arch: argValue(argv, '--arch') ?? process.arch,
  };
  const betterSqliteVersion = installedBetterSqliteVersion(projectRoot);
  const destination = electronSqliteBindingPath(projectRoot, { betterSqliteVersion, ...target });
  const packageDir = path.dirname(createRequire(path.join(projectRoot, 'package.json')).resolve('better-sqlite3/package.json'));
  const localPrebuilds = path.join(projectRoot, ELECTRON_NATIVE_DIR, 'prebuilds');
  console.log(`Building better-sqlite3 ${betterSqliteVersion} for Electron ${electronVersion} (ABI ${target.abi}, ${target.platform}-${target.arch}) ...`);

  const work = mkdtempSync(path.join(os.tmpdir(), 'miru-electron-native-'));
  try {
    // 1. A prebuilt binary: prebuild-install needs only the package.json (name, version, repository) in its cwd.
    copyFileSync(path.join(packageDir, 'package.json'), path.join(work, 'package.json'));
    const prebuildBin = path.join(path.dirname(createRequire(path.join(projectRoot, 'package.json')).resolve('prebuild-install/package.json')), 'bin.js');
    const prebuild = spawnSync(process.execPath, [prebuildBin, ...prebuildInstallArgs(target, localPrebuilds)], { cwd: work, stdio: 'inherit' });
    let built = path.join(work, 'build', 'Release', 'better_sqlite3.node');
    if (prebuild.status !== 0 || !existsSync(built)) {
      // 2. Compile from the package's sources against Electron's headers.
      const nodeGyp = findNodeGyp();
      if (!nodeGyp) {
        console.error('electron:rebuild: no prebuilt binary could be fetched and node-gyp was not found (run this through `npm run`, which provides it).');
        return 1;
      }
      const source = path.join(work, 'source');
      for (const entry of ['package.json', 'binding.gyp', 'src', 'deps']) cpSync(path.join(packageDir, entry), path.join(source, entry), { recursive: true });
      const gyp = spawnSync(process.execPath, [nodeGyp, ...nodeGypArgs(target)], { cwd: source, stdio: 'inherit' });
      built = path.join(source, 'build', 'Release', 'better_sqlite3.node');
      if (gyp.status !== 0 || !existsSync(built)) {
        console.error(
          'electron:rebuild: compiling against Electron\'s headers failed (it needs g++, make, python3 and the headers from electronjs.org). ' +
            `Offline, place better-sqlite3-v${betterSqliteVersion}-electron-v${target.abi}-${target.platform}-${target.arch}.tar.gz in ${localPrebuilds} and run this again.`,
        );
        return 1;
      }
    }
    mkdirSync(path.dirname(destination), { recursive: true });
    copyFileSync(built, destination);
    console.log(`Electron build of better-sqlite3: ${destination}\n(node_modules/better-sqlite3/build, used by the CLI and tests, is unchanged.)`);
    return 0;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  process.exitCode = rebuildForElectron(projectRoot, process.argv.slice(2));
}
