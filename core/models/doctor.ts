import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { providerStatuses, type ProviderStatus } from './executionProviders.js';

export interface DoctorReport {
  node: string;
  platform: string;
  cpu: { model: string; threads: number };
  memoryGiB: number;
  electron: { installed: boolean; version: string | null; note: string };
  providers: ProviderStatus[];
  gpus: string[];
  nativeModules: { name: string; ok: boolean; version: string | null; error?: string }[];
}

const require = createRequire(import.meta.url);

/** What Miru can use on this machine, and why not where it can't: the first thing to run when something is slow. */
export function runDoctor(): DoctorReport {
  const cpus = os.cpus();
  return {
    node: process.versions.node,
    platform: `${process.platform}/${process.arch}`,
    cpu: { model: cpus[0]?.model.trim() ?? 'unknown', threads: os.availableParallelism() },
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    electron: electronStatus(),
    providers: providerStatuses(),
    gpus: findGpus(),
    nativeModules: [
      probeModule('better-sqlite3', () => {
        const Database = require('better-sqlite3') as new (file: string) => { prepare: (sql: string) => { pluck: () => { get: () => unknown } }; close: () => void };
        const db = new Database(':memory:');
        const version = db.prepare('SELECT sqlite_version()').pluck().get();
        db.close();
        return `${packageVersion('better-sqlite3')} (SQLite ${String(version)})`;
      }),
      probeModule('sharp', () => {
        const sharp = require('sharp') as { versions: Record<string, string> };
        return `${sharp.versions.sharp} (libvips ${sharp.versions.vips})`;
      }),
      probeModule('onnxruntime-node', () => {
        require('onnxruntime-node');
        return packageVersion('onnxruntime-node');
      }),
    ],
  };
}

function packageVersion(name: string): string {
  return (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;
}

function probeModule(name: string, load: () => string): DoctorReport['nativeModules'][number] {
  try {
    return { name, ok: true, version: load() };
  } catch (error) {
    return { name, ok: false, version: null, error: `${(error as Error).message.split('\n')[0]} (reinstall with \`npm rebuild ${name}\`)` };
  }
}

/** Electron is optional: installs without internet beyond npm drop it, and `miru serve` needs none. */
function electronStatus(): DoctorReport['electron'] {
  let packageJson: string;
  try {
    packageJson = require.resolve('electron/package.json');
  } catch {
    return { installed: false, version: null, note: 'not installed (optional): `npm install electron` on a machine with internet; `miru serve` works without it' };
  }
  const version = (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;
  const pathFile = path.join(path.dirname(packageJson), 'path.txt');
  if (!existsSync(pathFile)) return { installed: false, version, note: 'the package is present but its binary was not downloaded: run `node node_modules/electron/install.js` with internet access' };
  return { installed: true, version, note: 'binary present' };
}

function findGpus(): string[] {
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=name,memory.total,driver_version', '--format=csv,noheader'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
    return out.trim().split('\n').filter(Boolean).map((line) => `NVIDIA ${line.trim()}`);
  } catch {
    // No NVIDIA tools; on Linux the DRM class list still names other adapters.
  }
  if (process.platform === 'linux' && existsSync('/sys/class/drm')) {
    try {
      const out = execFileSync('sh', ['-c', 'cat /sys/class/drm/card*/device/vendor 2>/dev/null'], { encoding: 'utf8', timeout: 2000 });
      const vendors: Record<string, string> = { '0x10de': 'NVIDIA', '0x1002': 'AMD', '0x8086': 'Intel' };
      return [...new Set(out.trim().split('\n').filter(Boolean).map((v) => `${vendors[v.trim()] ?? v.trim()} GPU (no vendor tools found)`))];
    } catch {
      return [];
    }
  }
  return [];
}
