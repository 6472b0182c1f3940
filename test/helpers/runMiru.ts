import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './paths.js';

export interface MiruRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real `miru` CLI (bin/miru.js) as a child process, as a user would. */
export function runMiru(args: string[], options: { cwd?: string; input?: string } = {}): Promise<MiruRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin/miru.js'), ...args], {
      cwd: options.cwd ?? repoRoot,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, FORCE_COLOR: '0' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** Runs miru with --json appended and parses stdout; fails with both streams when it is not JSON. */
export async function runMiruJson<T = Record<string, unknown>>(args: string[]): Promise<{ code: number; json: T; stderr: string }> {
  const run = await runMiru([...args, '--json']);
  try {
    return { code: run.code, json: JSON.parse(run.stdout) as T, stderr: run.stderr };
  } catch {
    throw new Error(`miru ${args.join(' ')} did not print JSON (exit ${run.code}).\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
  }
}

/** Runs miru and fails the test, with the command and its stderr, unless it exits 0. */
export async function miruOk(args: string[]): Promise<MiruRun> {
  const run = await runMiru(args);
  assert.equal(run.code, 0, `miru ${args.join(' ')} failed:\n${run.stderr}`);
  return run;
}
