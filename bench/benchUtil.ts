/**
 * Small helpers shared by the benchmark scripts (bench:index, bench:query). Benchmarks print figures and
 * ratios against a baseline measured in the same run, because the machines they run on are shared and noisy.
 */
import path from 'node:path';
import { existsSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { SeededRandom } from '../core/synth/random.js';

/** Repository root (the scripts run from dist/bench/). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Cache folder for generated benchmark inputs (gitignored). */
export const BENCH_DIR = path.join(REPO_ROOT, '.bench');

export const now = (): number => performance.now();

/** A seeded random source as a plain function (the generators take `() => number`): core's SeededRandom. */
export function rng(seed: number): () => number {
  const random = new SeededRandom(seed);
  return () => random.next();
}

/** Standard normal sample (Box-Muller). */
export function gaussian(random: () => number): number {
  const u = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** Beta(a, b) sample for small integer-ish shapes, via two gamma samples (Marsaglia-Tsang). */
export function beta(random: () => number, a: number, b: number): number {
  const x = gamma(random, a);
  const y = gamma(random, b);
  return x / (x + y);
}

function gamma(random: () => number, k: number): number {
  if (k < 1) return gamma(random, k + 1) * Math.pow(Math.max(random(), 1e-12), 1 / k);
  const d = k - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = gaussian(random);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = random();
    if (u < 1 - 0.0331 * x ** 4 || Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  // Nearest-rank: the p-th percentile is the smallest value with at least p% of samples at or below it.
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export const median = (values: readonly number[]): number => percentile(values, 50);

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

export function fmtBytes(bytes: number): string {
  if (bytes >= 1 << 30) return `${(bytes / (1 << 30)).toFixed(2)} GiB`;
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  if (bytes >= 1 << 10) return `${(bytes / (1 << 10)).toFixed(1)} KiB`;
  return `${bytes} B`;
}

/** Prints rows as an aligned text table (first row is the header). */
export function printTable(rows: string[][], rightAlignFrom = 1): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r.map((cell, i) => (i >= rightAlignFrom ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ');
  console.log(line(rows[0]!));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows.slice(1)) console.log(line(r));
}

export function heading(text: string): void {
  console.log(`\n== ${text} ${'='.repeat(Math.max(0, 100 - text.length))}`);
}

/**
 * The ConvNeXt-Tiny-size model at 448 px with random weights that bench:score and bench:explain measure,
 * generated once into .bench/ by scripts/models/make_convnext_tiny.py with Debian's torch (/usr/bin/python3).
 */
export function ensureConvnextTiny(): string {
  const python = '/usr/bin/python3';
  mkdirSync(BENCH_DIR, { recursive: true });
  const file = path.join(BENCH_DIR, 'convnext_tiny_448.onnx');
  if (existsSync(file)) return file;
  console.log('Generating a ConvNeXt-Tiny-size model (448 px, random weights) with Debian torch ...');
  try {
    execFileSync(python, [path.join(REPO_ROOT, 'scripts/models/make_convnext_tiny.py'), file, '--size', '448'], { stdio: 'inherit' });
  } catch {
    throw new Error(`Generating ${file} needs Debian's torch: apt-get install python3-torch python3-onnx (then ${python} has them).`);
  }
  return file;
}
