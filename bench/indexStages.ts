/**
 * Where does Miru's indexing time go? Runs cumulative copies of core/library/probeImage.ts's per-file pipeline
 * (read, hash, header, decode, statistics, thumbnail) over the same files at the same concurrency, each as a
 * full pass timed by wall clock, next to the baseline; the difference between consecutive rows is the marginal
 * cost of a stage. Also measures a few alternatives (smaller working size, more lanes). These are experiments:
 * the real pipeline lives in core/ and changes go through its owners.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp, { type OutputInfo } from 'sharp';
import { contentHash } from '../core/util/contentHash.js';
import { computeImageStats, SHARPNESS_GRID } from '../core/library/imageStats.js';
import { readImageFile, measureImage } from '../core/library/probeImage.js';
import { thumbnailPath, THUMBNAIL_SIZE } from '../core/library/thumbnails.js';
import { mapConcurrent } from '../core/util/mapConcurrent.js';
import { fmtMs, now, printTable } from './benchUtil.js';
import type { BenchFile } from './benchIndex.js';

interface Variant {
  name: string;
  lanes?: number;
  work: (f: BenchFile, i: number, outDir: string) => Promise<void>;
}

interface PipelineOptions {
  hash: boolean;
  metadata: boolean;
  /** Longest side of the decoded working copy; null = stop before decoding. */
  decode: number | null;
  stats: boolean;
  thumb: 'none' | 'encode' | 'write';
}

/** A copy of measureImage's steps, cut off after a given stage. */
function pipeline(o: PipelineOptions): Variant['work'] {
  return async (f, _i, outDir) => {
    const buffer = await fs.readFile(f.absPath);
    const hash = o.hash ? await contentHash(buffer) : `${_i}`.padStart(16, '0');
    if (o.metadata) await sharp(buffer, { limitInputPixels: false }).metadata();
    if (o.decode === null) return;
    const color = await sharp(buffer, { limitInputPixels: 268_402_689, failOn: 'error', sequentialRead: true })
      .rotate()
      .resize(o.decode, o.decode, { fit: 'inside', withoutEnlargement: true })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    const rawInput = { raw: { width: color.info.width, height: color.info.height, channels: color.info.channels } } as const;
    if (o.stats) {
      const gray = await sharp(color.data, rawInput).resize(SHARPNESS_GRID, SHARPNESS_GRID, { fit: 'fill' }).greyscale().raw().toBuffer({ resolveWithObject: true });
      computeImageStats(
        { data: color.data, width: color.info.width, height: color.info.height, channels: color.info.channels },
        { data: gray.data, width: gray.info.width, height: gray.info.height, channels: 1 },
      );
    }
    if (o.thumb === 'none') return;
    const thumb = await sharp(color.data, rawInput).resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE, { fit: 'inside', withoutEnlargement: true }).webp({ quality: 80 }).toBuffer();
    if (o.thumb === 'write') {
      const file = thumbnailPath(outDir, hash);
      await fs.mkdir(path.dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      await fs.writeFile(tmp, thumb);
      await fs.rename(tmp, file);
    }
  };
}

const baselineWork: Variant['work'] = async (f, i, outDir) => {
  const thumb = await sharp(f.absPath).rotate().resize(256, 256, { fit: 'inside' }).webp().toBuffer();
  await fs.writeFile(path.join(outDir, `${i}.webp`), thumb);
};

export async function profileStages(allFiles: readonly BenchFile[], tmpRoot: string, concurrency: number): Promise<void> {
  // Every 4th file keeps the profile short; the mix of sizes and formats is the same.
  const files = allFiles.filter((_, i) => i % 4 === 0);
  const bytes = files.reduce((s, f) => s + f.bytes, 0);
  console.log(`${files.length} files (every 4th one), ${concurrency} lanes unless stated; each row is one full pass, wall clock.`);

  const full: PipelineOptions = { hash: true, metadata: true, decode: 512, stats: true, thumb: 'write' };
  const variants: Variant[] = [
    { name: 'baseline: sharp(file) -> 256 webp -> write', work: baselineWork },
    { name: 'read file', work: pipeline({ ...full, hash: false, metadata: false, decode: null }) },
    { name: '+ xxhash64', work: pipeline({ ...full, metadata: false, decode: null }) },
    { name: '+ metadata() header parse', work: pipeline({ ...full, decode: null }) },
    { name: '+ decode to 512 raw (working copy)', work: pipeline({ ...full, stats: false, thumb: 'none' }) },
    { name: '+ 256 gray grid + computeImageStats', work: pipeline({ ...full, thumb: 'none' }) },
    { name: '+ thumbnail encode (webp 256 from raw)', work: pipeline({ ...full, thumb: 'encode' }) },
    { name: '+ thumbnail write (tmp + rename) = measureImage copy', work: pipeline(full) },
    {
      name: 'core readImageFile + measureImage (no db)',
      work: async (f, _i, outDir) => {
        const read = await readImageFile(f.absPath);
        if (read.ok) await measureImage(read.buffer, read.contentHash, f.absPath, { cacheDir: outDir });
      },
    },
    { name: 'alt: same pipeline, decode to 256 working copy', work: pipeline({ ...full, decode: 256 }) },
    { name: 'alt: decode 512, no metadata() call', work: pipeline({ ...full, metadata: false }) },
    { name: `alt: measureImage copy at ${concurrency * 2} lanes`, lanes: concurrency * 2, work: pipeline(full) },
    { name: `baseline at ${concurrency * 2} lanes`, lanes: concurrency * 2, work: baselineWork },
    { name: 'baseline (again, drift check)', work: baselineWork },
  ];

  const rows: string[][] = [['stage (cumulative)', 'time', 'img/s', 'MB/s', 'vs baseline', 'marginal', 'CPU ms/img', 'cores busy']];
  let baselineMs = NaN;
  let previous = NaN;
  for (const [k, v] of variants.entries()) {
    const outDir = path.join(tmpRoot, `profile-${k}`);
    await fs.mkdir(outDir, { recursive: true });
    const started = now();
    const cpu0 = process.cpuUsage();
    await mapConcurrent(files, v.lanes ?? concurrency, (f, i) => v.work(f, i, outDir));
    const ms = now() - started;
    const cpu = process.cpuUsage(cpu0);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    await fs.rm(outDir, { recursive: true, force: true });
    if (k === 0) baselineMs = ms;
    const cumulative = k >= 1 && k <= 7;
    rows.push([
      v.name,
      fmtMs(ms),
      (files.length / (ms / 1000)).toFixed(1),
      (bytes / (1 << 20) / (ms / 1000)).toFixed(1),
      `${(baselineMs / ms).toFixed(2)}x`,
      cumulative && k > 1 ? `+${fmtMs(ms - previous)}` : '',
      (cpuMs / files.length).toFixed(2),
      (cpuMs / ms).toFixed(2),
    ]);
    if (cumulative) previous = ms;
  }
  printTable(rows);

  // Main-thread cost of the JS statistics alone (these block the event loop between decodes).
  const sample = files.slice(0, 200);
  const decoded: { color: { data: Buffer; info: OutputInfo }; gray: { data: Buffer; info: OutputInfo } }[] = [];
  for (const f of sample) {
    const color = await sharp(f.absPath).rotate().resize(512, 512, { fit: 'inside', withoutEnlargement: true }).toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    const gray = await sharp(color.data, { raw: { width: color.info.width, height: color.info.height, channels: color.info.channels } })
      .resize(SHARPNESS_GRID, SHARPNESS_GRID, { fit: 'fill' }).greyscale().raw().toBuffer({ resolveWithObject: true });
    decoded.push({ color, gray });
  }
  const t = now();
  for (const { color, gray } of decoded) {
    computeImageStats(
      { data: color.data, width: color.info.width, height: color.info.height, channels: color.info.channels },
      { data: gray.data, width: gray.info.width, height: gray.info.height, channels: 1 },
    );
  }
  console.log(`computeImageStats alone (main thread): ${fmtMs((now() - t) / sample.length)} per image over ${sample.length} images`);
  const h = now();
  let hashed = 0;
  for (const f of sample) {
    const buffer = await fs.readFile(f.absPath);
    const t0 = now();
    await contentHash(buffer);
    hashed += now() - t0;
    void h;
  }
  const sampleBytes = sample.reduce((s, f) => s + f.bytes, 0);
  console.log(`xxhash64 alone (main thread): ${fmtMs(hashed / sample.length)} per file, ${(sampleBytes / (1 << 20) / (hashed / 1000)).toFixed(0)} MB/s`);
}
