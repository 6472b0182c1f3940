import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';

/** Project root, from this file's place in dist/core/cli/commands. */
const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

export type ElectronLocation = { ok: true; binary: string } | { ok: false; reason: string };

/**
 * The `electron` npm package's main export is the path of its binary (it reads path.txt, written after the
 * download). Absent package, a failed download (no path.txt: it throws) and a path with no file behind it are the
 * three ways it is missing.
 */
export function locateElectron(requireFrom: (id: string) => unknown = createRequire(path.join(projectRoot, 'package.json')), exists: (file: string) => boolean = existsSync): ElectronLocation {
  let exported: unknown;
  try {
    exported = requireFrom('electron');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { ok: false, reason: code === 'MODULE_NOT_FOUND' ? 'the optional `electron` package is not installed' : `the \`electron\` package is incomplete (${(error as Error).message.split('\n')[0]})` };
  }
  if (typeof exported !== 'string' || exported === '') return { ok: false, reason: 'the `electron` package did not name a binary' };
  if (!exists(exported)) return { ok: false, reason: `the Electron binary ${exported} is missing (its download did not finish)` };
  return { ok: true, binary: exported };
}

export function missingElectronMessage(reason: string, dbPath: string): string {
  return [
    `cannot open the desktop app: ${reason}.`,
    'Electron is an optional dependency whose binary comes from GitHub at install time, so installs without internet skip it. To get it:',
    '  - with internet:      npm install electron',
    '  - through a mirror:   ELECTRON_MIRROR=https://<mirror>/electron/ npm install electron',
    '  - offline:            put electron-v<version>-<platform>-<arch>.zip (from the Electron releases) in a folder, then',
    '                        electron_config_cache=<folder> npm install electron',
    '  then, once:           npm run electron:rebuild   (better-sqlite3 for Electron\'s ABI; the Node build stays as it is)',
    `Without Electron the same UI runs in a browser: miru serve --db ${dbPath}`,
  ].join('\n');
}

export interface AppCommandOptions {
  db: string;
}

/** Checks what `miru app` needs before starting Electron, so the user gets one clear message instead of an empty window. */
export function prepareAppLaunch(opts: AppCommandOptions, locate: () => ElectronLocation = () => locateElectron()): { binary: string; args: string[] } {
  const dbPath = path.resolve(opts.db);
  if (!existsSync(dbPath)) {
    throw new Error(`No library at ${dbPath}. Create one with \`miru index <folder> --db ${opts.db}\` (or \`npm run demo\` for the demo library).`);
  }
  const electron = locate();
  if (!electron.ok) throw new Error(missingElectronMessage(electron.reason, opts.db));
  const main = path.join(projectRoot, 'dist', 'electron', 'main.js');
  if (!existsSync(main)) throw new Error('The desktop host is not compiled. Run `npm run build`.');
  if (!existsSync(path.join(projectRoot, 'dist', 'renderer', 'index.html'))) {
    throw new Error(`The UI is not built (no dist/renderer/index.html). Run \`npm run build\`, or use \`miru serve --db ${opts.db}\` once it is built.`);
  }
  return { binary: electron.binary, args: [main, '--db', dbPath] };
}

export function registerApp(program: Command): void {
  program
    .command('app')
    .description('Open the desktop workbench (Electron) on a library. Without Electron, `miru serve` offers the same UI in a browser.')
    .requiredOption('--db <path>', 'library database file')
    .action(async (opts: AppCommandOptions) => {
      const launch = prepareAppLaunch(opts);
      // ELECTRON_RUN_AS_NODE would turn the binary into a plain Node and run main.js without a window.
      const env = { ...process.env };
      delete env.ELECTRON_RUN_AS_NODE;
      const code = await new Promise<number>((resolve, reject) => {
        const child = spawn(launch.binary, launch.args, { stdio: 'inherit', env });
        child.on('error', (error) => reject(new Error(`cannot start Electron (${launch.binary}): ${error.message}`)));
        child.on('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
      });
      if (code !== 0) throw new Error(`the desktop app exited with code ${code}.`);
    });
}
