/**
 * Starts the real browser host, `miru serve --json`, as a child process (as a person would run it) and reads its
 * one JSON line {"url", "port", "token"} from stdout. Stops it with SIGTERM and waits for the exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from '../../helpers/paths.js';

export interface ServeHandle {
  url: string;
  origin: string;
  port: number;
  token: string;
  stderr(): string;
  stop(): Promise<void>;
}

export function startServe(dbPath: string, options: { timeoutMs?: number; extraArgs?: string[] } = {}): Promise<ServeHandle> {
  const child: ChildProcess = spawn(process.execPath, [path.join(repoRoot, 'bin/miru.js'), 'serve', '--db', dbPath, '--port', '0', '--json', '--ep', 'cpu', ...(options.extraArgs ?? [])], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise<ServeHandle>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`miru serve printed no URL within ${options.timeoutMs ?? 20000} ms.\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, options.timeoutMs ?? 20000);
    const onEarlyExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`miru serve exited (code ${code}) before printing its URL.\nstdout: ${stdout}\nstderr: ${stderr}`));
    };
    child.once('exit', onEarlyExit);
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      const line = stdout.split('\n').find((l) => l.trim().startsWith('{'));
      if (!line || !stdout.includes('\n')) return;
      clearTimeout(timer);
      child.off('exit', onEarlyExit);
      let info: { url: string; port: number; token: string };
      try {
        info = JSON.parse(line) as typeof info;
      } catch (error) {
        child.kill('SIGKILL');
        reject(new Error(`miru serve --json printed a line that is not JSON: ${line} (${(error as Error).message})`));
        return;
      }
      resolve({
        url: info.url,
        origin: new URL(info.url).origin,
        port: info.port,
        token: info.token,
        stderr: () => stderr,
        stop: async () => {
          if (child.exitCode === null && child.signalCode === null) {
            child.kill('SIGTERM');
            const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
            await exited;
            clearTimeout(killer);
          }
        },
      });
    });
  });
}
