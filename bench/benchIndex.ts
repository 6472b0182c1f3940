/**
 * bench:index — Miru's index throughput against a baseline in the same process:
 *   baseline: for each file sharp(file).rotate().resize(256, 256, { fit: 'inside' }).webp().toBuffer(), written to
 *             a temp folder, driven by core/util/mapConcurrent at the same concurrency as Miru;
 *   miru:     indexLibrary into a fresh database and cache folder each run.
 * Runs alternate (baseline, miru, baseline, miru, ...) and the best and median of each are compared; the goal is
 * Miru >= 0.8x the baseline. A second Miru pass over the unchanged folder measures incremental indexing.
 *
 * Environment: BENCH_ROUNDS (default 2), BENCH_CONCURRENCY (default: Miru's own default).
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { openLibrary, cacheDirFor } from '../core/library/openLibrary.js';
import { indexLibrary, type IndexSummary } from '../core/library/indexLibrary.js';
import { scanFolder } from '../core/library/scanFolders.js';
import { mapConcurrent } from '../core/util/mapConcurrent.js';
import { ensureIndexImages, DEFAULT_INDEX_IMAGE_PARAMS } from './indexImages.js';
import { fmtBytes, fmtMs, heading, median, now, printTable } from './benchUtil.js';

const GOAL = 0.8;

export interface BenchFile {
  absPath: string;
  relPath: string;
  bytes: number;
}

async function main(): Promise<void> {
  const totalStarted = now();
  const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
  // Miru's default (indexLibrary): max(2, availableParallelism). Passed explicitly to both sides.
  const concurrency = Number(process.env.BENCH_CONCURRENCY ?? Math.max(2, os.availableParallelism()));

  heading('bench:index setup');
  console.log(`node ${process.version}, sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips}), ${os.cpus().length} CPUs (availableParallelism ${os.availableParallelism()}), ${fmtBytes(os.totalmem())} RAM`);
  console.log(`sharp.concurrency() = ${sharp.concurrency()} (libvips threads per image), UV_THREADPOOL_SIZE = ${process.env.UV_THREADPOOL_SIZE ?? 'unset (libuv default 4)'}, sharp.simd() = ${sharp.simd()}`);
  console.log(`concurrency (lanes, both sides) = ${concurrency}, rounds = ${rounds}`);

  const { dir, generatedMs } = await ensureIndexImages();
  if (generatedMs !== null) console.log(`generated image folder ${dir} in ${fmtMs(generatedMs)}`);
  else console.log(`using cached image folder ${dir} (params ${JSON.stringify(DEFAULT_INDEX_IMAGE_PARAMS)})`);

  // The same file list Miru's own scan sees.
  const scan = await scanFolder(dir);
  const files: BenchFile[] = scan.files.map((f) => ({ absPath: f.absPath, relPath: f.relPath, bytes: f.bytes }));
  const totalBytes = files.reduce((s, f) => s + f.bytes, 0);
  const byExt = new Map<string, { n: number; bytes: number }>();
  for (const f of files) {
    const ext = path.extname(f.relPath).slice(1);
    const e = byExt.get(ext) ?? { n: 0, bytes: 0 };
    e.n++;
    e.bytes += f.bytes;
    byExt.set(ext, e);
  }
  console.log(`${files.length} files, ${fmtBytes(totalBytes)}: ${[...byExt].map(([ext, e]) => `${ext} ${e.n} (${fmtBytes(e.bytes)})`).join(', ')}`);

  // Warm the page cache so neither side pays for the first disk read.
  let t = now();
  await mapConcurrent(files, 8, async (f) => void (await fs.readFile(f.absPath)));
  console.log(`page-cache warm-up read: ${fmtMs(now() - t)}`);

  const tmpRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'miru-bench-index-'));
  try {
    const results: { side: 'baseline' | 'miru'; ms: number; cpuMs: number }[] = [];
    let lastMiru: { dbPath: string; summary: IndexSummary } | null = null;

    heading('alternating runs');
    for (let round = 0; round < rounds; round++) {
      // Alternate which side goes first each round so drift on a shared machine does not favour one side.
      const order: ('baseline' | 'miru')[] = round % 2 === 0 ? ['baseline', 'miru'] : ['miru', 'baseline'];
      for (const side of order) {
        const runDir = path.join(tmpRoot, `${side}-${round}`);
        await fs.mkdir(runDir, { recursive: true });
        if (side === 'baseline') {
          const { ms, cpuMs } = await runBaseline(files, runDir, concurrency);
          results.push({ side, ms, cpuMs });
          console.log(`round ${round + 1}  baseline  ${fmtMs(ms).padStart(9)}  ${(files.length / (ms / 1000)).toFixed(1).padStart(7)} img/s  CPU ${(cpuMs / files.length).toFixed(1)} ms/img, ${(cpuMs / ms).toFixed(2)} cores busy`);
        } else {
          const { ms, cpuMs, dbPath, summary } = await runMiru(dir, runDir, concurrency);
          results.push({ side, ms, cpuMs });
          const problems = summary.errors.length ? `  (${summary.errors.length} errors! first: ${summary.errors[0]!.path}: ${summary.errors[0]!.error})` : '';
          console.log(`round ${round + 1}  miru      ${fmtMs(ms).padStart(9)}  ${(files.length / (ms / 1000)).toFixed(1).padStart(7)} img/s  CPU ${(cpuMs / files.length).toFixed(1)} ms/img, ${(cpuMs / ms).toFixed(2)} cores busy; added ${summary.added}, indexed ${summary.indexed}${problems}`);
          if (lastMiru) await fs.rm(path.dirname(lastMiru.dbPath), { recursive: true, force: true });
          lastMiru = { dbPath, summary };
        }
        if (side === 'baseline') await fs.rm(runDir, { recursive: true, force: true });
      }
    }

    // Incremental pass: same database, unchanged folder.
    let incrementalMs = NaN;
    let incremental: IndexSummary | null = null;
    if (lastMiru) {
      t = now();
      const db = openLibrary(lastMiru.dbPath);
      incremental = await indexLibrary(db, [dir], { cacheDir: cacheDirFor(lastMiru.dbPath), concurrency });
      db.pragma('optimize');
      db.close();
      incrementalMs = now() - t;
    }

    heading('results');
    const base = results.filter((r) => r.side === 'baseline').map((r) => r.ms);
    const miru = results.filter((r) => r.side === 'miru').map((r) => r.ms);
    const row = (label: string, ms: number) => [
      label,
      fmtMs(ms),
      (files.length / (ms / 1000)).toFixed(1),
      (totalBytes / (1 << 20) / (ms / 1000)).toFixed(1),
    ];
    printTable([
      ['run', 'time', 'images/s', 'MB/s'],
      row('baseline best', Math.min(...base)),
      row('baseline median', median(base)),
      row('miru best', Math.min(...miru)),
      row('miru median', median(miru)),
      row('miru incremental (2nd pass, unchanged)', incrementalMs),
    ]);
    const ratioBest = Math.min(...base) / Math.min(...miru);
    const ratioMedian = median(base) / median(miru);
    const verdict = (r: number) => (r >= GOAL ? 'PASS' : 'FAIL');
    console.log(`\nmiru/baseline throughput ratio: best ${ratioBest.toFixed(2)}x, median ${ratioMedian.toFixed(2)}x  (goal >= ${GOAL}x): ${verdict(ratioBest)} (best), ${verdict(ratioMedian)} (median)`);
    // CPU time per image is much less sensitive than wall time to other work on a shared machine.
    const cpuBase = median(results.filter((r) => r.side === 'baseline').map((r) => r.cpuMs)) / files.length;
    const cpuMiru = median(results.filter((r) => r.side === 'miru').map((r) => r.cpuMs)) / files.length;
    console.log(`CPU per image (median, all threads): baseline ${cpuBase.toFixed(2)} ms, miru ${cpuMiru.toFixed(2)} ms -> work ratio ${(cpuBase / cpuMiru).toFixed(2)}x`);
    if (incremental) {
      console.log(
        `incremental pass: ${fmtMs(incrementalMs)} (${(median(miru) / incrementalMs).toFixed(0)}x faster than a full index); ` +
          `unchanged ${incremental.unchanged}, added ${incremental.added}, updated ${incremental.updated}, missing ${incremental.missing}, errors ${incremental.errors.length}`,
      );
    }
  } finally {
    await fs.rm(tmpRoot, { recursive: true, force: true });
  }
  console.log(`\nbench:index finished in ${fmtMs(now() - totalStarted)}`);
}

/** The baseline: plain sharp decode + 256-px WebP thumbnail of each file, same lanes as Miru. */
export async function runBaseline(files: readonly BenchFile[], outDir: string, concurrency: number): Promise<{ ms: number; cpuMs: number }> {
  const started = now();
  const cpu0 = process.cpuUsage();
  await mapConcurrent(files, concurrency, async (f, i) => {
    const thumb = await sharp(f.absPath).rotate().resize(256, 256, { fit: 'inside' }).webp().toBuffer();
    await fs.writeFile(path.join(outDir, `${i}.webp`), thumb);
  });
  return { ms: now() - started, cpuMs: cpuSince(cpu0) };
}

function cpuSince(start: NodeJS.CpuUsage): number {
  const cpu = process.cpuUsage(start);
  return (cpu.user + cpu.system) / 1000;
}

/** Miru: a fresh library (database + thumbnail cache) indexing the folder, as `miru index` does. */
async function runMiru(folder: string, runDir: string, concurrency: number): Promise<{ ms: number; cpuMs: number; dbPath: string; summary: IndexSummary }> {
  const dbPath = path.join(runDir, 'library.db');
  const started = now();
  const cpu0 = process.cpuUsage();
  const db = openLibrary(dbPath);
  const summary = await indexLibrary(db, [folder], { cacheDir: cacheDirFor(dbPath), concurrency });
  db.pragma('optimize');
  db.close();
  return { ms: now() - started, cpuMs: cpuSince(cpu0), dbPath, summary };
}

await main();
