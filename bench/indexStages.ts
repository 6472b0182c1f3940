/**
 * Where does Miru's indexing time go? Two views over the same files:
 *  1. each stage of core/library/probeImage.ts's per-file pipeline in isolation (one lane, inputs already in
 *     memory), as CPU ms per image: read, hash, header, decode to the working copy, gray grid, statistics,
 *     thumbnail encode and write, next to the baseline's single pipeline;
 *  2. whole-pipeline alternatives at the benchmark's concurrency, each a full pass between baseline passes.
 * The pipelines here are copies made for measuring; the real one lives in core/ and changes go through its owners.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp, { type OutputInfo } from 'sharp';
import { contentHash } from '../core/util/contentHash.js';
import { computeImageStats, SHARPNESS_GRID } from '../core/library/imageStats.js';
import { readImageFile, measureImage } from '../core/library/probeImage.js';
import { thumbnailPath, THUMBNAIL_SIZE } from '../core/library/thumbnails.js';
import { mapConcurrent } from '../core/util/mapConcurrent.js';
import { openLibrary } from '../core/library/openLibrary.js';
import { scanFolder } from '../core/library/scanFolders.js';
import { fmtMs, now, printTable } from './benchUtil.js';
import type { BenchFile } from './benchIndex.js';

type Raw = { data: Buffer; info: OutputInfo };
const rawOf = (r: Raw) => ({ raw: { width: r.info.width, height: r.info.height, channels: r.info.channels } }) as const;

/** core's working copy: longest side 512, sRGB, 8-bit. */
const decodeWorking = (buffer: Buffer, size: number, fit: 'inside' | 'outside' = 'inside'): Promise<Raw> =>
  sharp(buffer, { limitInputPixels: 268_402_689, failOn: 'error', sequentialRead: true })
    .rotate()
    .resize(size, size, { fit, withoutEnlargement: true })
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });

/** core's gray grid: flatten onto mid grey, fill-resize to 256x256, greyscale. */
const grayGrid = (color: Raw): Promise<Raw> =>
  sharp(color.data, rawOf(color)).flatten({ background: '#808080' }).resize(SHARPNESS_GRID, SHARPNESS_GRID, { fit: 'fill' }).greyscale().raw().toBuffer({ resolveWithObject: true });

const stats = (color: Raw, gray: Raw) =>
  computeImageStats(
    { data: color.data, width: color.info.width, height: color.info.height, channels: color.info.channels },
    { data: gray.data, width: gray.info.width, height: gray.info.height, channels: 1 },
  );

/**
 * Experiment: the 256x256 gray grid computed in JS from the working copy (area average over each output pixel's
 * footprint, alpha flattened onto mid grey, Rec. 601 luma), instead of a third sharp pipeline. Not identical to
 * libvips' lanczos3 + greyscale, so absolute sharpness values would shift (the ordering of images is what the
 * statistic is for).
 */
function grayGridJs(color: Raw): Raw {
  const { width: w, height: h, channels: ch } = color.info;
  const src = color.data;
  const n = SHARPNESS_GRID;
  const out = Buffer.allocUnsafe(n * n);
  const x0 = new Int32Array(n + 1);
  const y0 = new Int32Array(n + 1);
  for (let i = 0; i <= n; i++) {
    x0[i] = Math.min(w, Math.floor((i * w) / n));
    y0[i] = Math.min(h, Math.floor((i * h) / n));
  }
  // Luma per source row, computed once (integer 299/587/114 weights, alpha flattened onto 128).
  const luma = new Float32Array(w * h);
  for (let p = 0, i = 0; p < w * h; p++, i += ch) {
    let y = (299 * src[i]! + 587 * src[i + 1]! + 114 * src[i + 2]!) / 1000;
    if (ch === 4) {
      const a = src[i + 3]! / 255;
      y = y * a + 128 * (1 - a);
    }
    luma[p] = y;
  }
  for (let oy = 0; oy < n; oy++) {
    const ya = y0[oy]!;
    const yb = Math.max(ya + 1, y0[oy + 1]!);
    for (let ox = 0; ox < n; ox++) {
      const xa = x0[ox]!;
      const xb = Math.max(xa + 1, x0[ox + 1]!);
      let sum = 0;
      for (let y = ya; y < yb && y < h; y++) {
        const row = y * w;
        for (let x = xa; x < xb && x < w; x++) sum += luma[row + x]!;
      }
      out[oy * n + ox] = Math.round(sum / ((Math.min(yb, h) - ya) * (Math.min(xb, w) - xa)));
    }
  }
  return { data: out, info: { width: n, height: n, channels: 1 } as OutputInfo };
}

/** Experiment: luma plane in JS (one band), then libvips' own lanczos3 fill-resize to 256x256 on that band. */
async function grayGridLumaVips(color: Raw): Promise<Raw> {
  const { width: w, height: h, channels: ch } = color.info;
  const src = color.data;
  const luma = Buffer.allocUnsafe(w * h);
  for (let p = 0, i = 0; p < w * h; p++, i += ch) {
    let y = 299 * src[i]! + 587 * src[i + 1]! + 114 * src[i + 2]!;
    if (ch === 4) y = (y * src[i + 3]! + 128000 * (255 - src[i + 3]!)) / 255;
    luma[p] = (y + 500) / 1000;
  }
  return sharp(luma, { raw: { width: w, height: h, channels: 1 } }).resize(SHARPNESS_GRID, SHARPNESS_GRID, { fit: 'fill' }).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true });
}

/** Experiment: the working copy's own luma plane (no resize) as the gray image for sharpness and edge density. */
function lumaPlane(color: Raw): Raw {
  const { width: w, height: h, channels: ch } = color.info;
  const src = color.data;
  const out = Buffer.allocUnsafe(w * h);
  for (let p = 0, i = 0; p < w * h; p++, i += ch) {
    let y = 299 * src[i]! + 587 * src[i + 1]! + 114 * src[i + 2]!;
    if (ch === 4) y = (y * src[i + 3]! + 128000 * (255 - src[i + 3]!)) / 255;
    out[p] = (y + 500) / 1000;
  }
  return { data: out, info: { width: w, height: h, channels: 1 } as OutputInfo };
}

/** core's thumbnail: from the working copy, 256 inside, WebP q80. */
const thumbnail = (color: Raw): Promise<Buffer> =>
  sharp(color.data, rawOf(color)).resize(THUMBNAIL_SIZE, THUMBNAIL_SIZE, { fit: 'inside', withoutEnlargement: true }).webp({ quality: 80 }).toBuffer();

async function writeAtomically(file: string, data: Buffer): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await fs.writeFile(tmp, data);
  await fs.rename(tmp, file);
}

const cpuMs = (start: NodeJS.CpuUsage) => {
  const c = process.cpuUsage(start);
  return (c.user + c.system) / 1000;
};

/** Part 1: each stage alone, sequentially, CPU and wall ms per image. */
async function isolatedStages(files: readonly BenchFile[], folder: string, tmpRoot: string): Promise<void> {
  const buffers: Buffer[] = [];
  for (const f of files) buffers.push(await fs.readFile(f.absPath));
  const working: Raw[] = [];
  const working256: Raw[] = [];
  const grays: Raw[] = [];
  const thumbs: Buffer[] = [];
  const rows: string[][] = [['stage (one lane, inputs in memory)', 'CPU ms/img', 'wall ms/img']];
  const stage = async (name: string, fn: (i: number) => Promise<unknown> | unknown) => {
    const t = now();
    const c = process.cpuUsage();
    for (let i = 0; i < files.length; i++) await fn(i);
    rows.push([name, (cpuMs(c) / files.length).toFixed(2), ((now() - t) / files.length).toFixed(2)]);
  };
  const outDir = path.join(tmpRoot, 'isolated');
  await stage('baseline whole: decode -> 256 -> webp (from buffer)', (i) => sharp(buffers[i]).rotate().resize(256, 256, { fit: 'inside' }).webp().toBuffer());
  await stage('  baseline decode only: -> 256 raw', (i) => sharp(buffers[i]).rotate().resize(256, 256, { fit: 'inside' }).raw().toBuffer());
  await stage('read file (fs.readFile)', (i) => fs.readFile(files[i]!.absPath));
  await stage('xxhash64', (i) => contentHash(buffers[i]!));
  await stage('metadata() header parse', (i) => sharp(buffers[i], { limitInputPixels: false }).metadata());
  await stage('decode -> 512 working copy (core)', async (i) => void (working[i] = await decodeWorking(buffers[i]!, 512)));
  await stage('gray grid 256x256 from working copy (core)', async (i) => void (grays[i] = await grayGrid(working[i]!)));
  await stage('  same without flatten()', (i) => sharp(working[i]!.data, rawOf(working[i]!)).resize(SHARPNESS_GRID, SHARPNESS_GRID, { fit: 'fill' }).greyscale().raw().toBuffer());
  await stage('  raw in -> raw out, no operation (per-pipeline overhead)', (i) => sharp(working[i]!.data, rawOf(working[i]!)).raw().toBuffer());
  await stage('  alt: gray grid in JS (area average)', (i) => grayGridJs(working[i]!));
  await stage('  alt: JS luma plane + libvips lanczos3 fill (1 band)', (i) => grayGridLumaVips(working[i]!));
  await stage('computeImageStats on 512 working copy (JS, main thread)', (i) => stats(working[i]!, grays[i]!));
  await stage('thumbnail from working copy: resize 256 + webp q80 (core)', async (i) => void (thumbs[i] = await thumbnail(working[i]!)));
  await stage('thumbnail write: mkdir + write tmp + rename (core)', (i) => writeAtomically(thumbnailPath(outDir, `${String(i).padStart(16, '0')}`), thumbs[i]!));
  await dbWriteStage(files.length, folder, tmpRoot, rows);
  await stage('alt: decode -> 256 working copy (fit inside)', async (i) => void (working256[i] = await decodeWorking(buffers[i]!, 256)));
  await stage('alt: decode -> 256 working copy (fit outside, short side 256)', (i) => decodeWorking(buffers[i]!, 256, 'outside'));
  await stage('alt: gray grid from 256 working copy', (i) => grayGrid(working256[i]!));
  await stage('alt: computeImageStats on 256 working copy', (i) => stats(working256[i]!, grays[i]!));
  await stage('alt: luma plane of the 256 working copy + computeImageStats', (i) => stats(working256[i]!, lumaPlane(working256[i]!)));
  await stage('alt: webp q80 of the 256 working copy (no resize)', (i) => sharp(working256[i]!.data, rawOf(working256[i]!)).webp({ quality: 80 }).toBuffer());
  await fs.rm(outDir, { recursive: true, force: true });
  printTable(rows);

  // How far do the alternatives move the statistics? Rank correlation with core's values over the same files.
  const core = files.map((_, i) => stats(working[i]!, grays[i]!));
  const altA = files.map((_, i) => stats(working[i]!, grayGridJs(working[i]!)));
  const altB = files.map((_, i) => stats(working256[i]!, grayGridJs(working256[i]!)));
  const altC: ReturnType<typeof stats>[] = [];
  const altD: ReturnType<typeof stats>[] = [];
  const altE: ReturnType<typeof stats>[] = [];
  const altF = files.map((_, i) => stats(working256[i]!, lumaPlane(working256[i]!)));
  for (let i = 0; i < files.length; i++) {
    altC.push(stats(working[i]!, await grayGridLumaVips(working[i]!)));
    altD.push(stats(working256[i]!, await grayGrid(working256[i]!)));
    altE.push(stats(working256[i]!, await grayGridLumaVips(working256[i]!)));
  }
  const keys = ['brightness', 'contrast', 'saturation', 'colorfulness', 'entropy', 'sharpness', 'edgeDensity'] as const;
  const agreement: string[][] = [[
    'Spearman vs core',
    'A: 512 copy, JS box grid',
    'C: 512 copy, JS luma + vips grid',
    'D: 256 copy, core grid',
    'E: 256 copy, JS luma + vips grid',
    'B: 256 copy, JS box grid',
    'F: 256 copy, its own luma',
  ]];
  for (const k of keys) {
    const c = core.map((x) => x[k]);
    agreement.push([k, ...[altA, altC, altD, altE, altB, altF].map((alt) => spearman(c, alt.map((x) => x[k])).toFixed(4))]);
  }
  console.log(`\nHow much would each alternative change the statistics? Rank correlation with core's values over the same ${files.length} files:`);
  printTable(agreement);
}

function spearman(a: readonly number[], b: readonly number[]): number {
  const rank = (v: readonly number[]) => {
    const order = v.map((x, i) => [x, i] as const).sort((p, q) => p[0] - q[0]);
    const r = new Array<number>(v.length);
    for (let i = 0; i < order.length; ) {
      let j = i;
      while (j + 1 < order.length && order[j + 1]![0] === order[i]![0]) j++;
      for (let k = i; k <= j; k++) r[order[k]![1]] = (i + j) / 2;
      i = j + 1;
    }
    return r;
  };
  const ra = rank(a);
  const rb = rank(b);
  const n = a.length;
  const mean = (n - 1) / 2;
  let num = 0;
  let da = 0;
  let db = 0;
  for (let i = 0; i < n; i++) {
    num += (ra[i]! - mean) * (rb[i]! - mean);
    da += (ra[i]! - mean) ** 2;
    db += (rb[i]! - mean) ** 2;
  }
  return da && db ? num / Math.sqrt(da * db) : 1;
}

/**
 * The library writes of an index run, alone: a copy of indexLibrary's BatchWriter statements (INSERT, then the
 * UPDATE with every measured column) in transactions of 256 rows, into a fresh library made by openLibrary.
 */
async function dbWriteStage(count: number, folder: string, tmpRoot: string, rows: string[][]): Promise<void> {
  const n = Math.max(count, 2000);
  const db = openLibrary(path.join(tmpRoot, 'writes', 'library.db'));
  try {
    const rootId = Number(db.prepare('INSERT INTO roots (path, added_at) VALUES (?, ?)').run('/bench/root', new Date().toISOString()).lastInsertRowid);
    const insert = db.prepare(`INSERT INTO images (root_id, rel_path, status, bytes, mtime_ms, indexed_at) VALUES (@rootId, @relPath, 'ok', @bytes, @mtimeMs, @now)`);
    const update = db.prepare(`UPDATE images SET content_hash = @contentHash, bytes = @bytes, mtime_ms = @mtimeMs, width = @width, height = @height,
      format = @format, channels = @channels, has_alpha = @hasAlpha, bit_depth = @bitDepth, pages = @pages,
      status = 'ok', error = NULL, indexed_at = @now, brightness = @v, contrast = @v, saturation = @v,
      colorfulness = @v, sharpness = @v, entropy = @v, edge_density = @v,
      aspect_ratio = @v, megapixels = @v, alpha_fraction = @v, is_grayscale = 0 WHERE id = @id`);
    const t = now();
    const c = process.cpuUsage();
    for (let start = 0; start < n; start += 256) {
      const nowIso = new Date().toISOString();
      db.transaction(() => {
        for (let i = start; i < Math.min(n, start + 256); i++) {
          const id = Number(insert.run({ rootId, relPath: `set/img_${i}.jpg`, bytes: 100000 + i, mtimeMs: 1700000000000 + i, now: nowIso }).lastInsertRowid);
          update.run({ id, contentHash: i.toString(16).padStart(16, '0'), bytes: 100000 + i, mtimeMs: 1700000000000 + i, width: 1000, height: 800, format: 'jpeg', channels: 3, hasAlpha: 0, bitDepth: 'uchar', pages: 1, now: nowIso, v: Math.random() });
        }
      })();
    }
    rows.push([`library writes: insert + update, 256 per transaction (${n} rows)`, (cpuMs(c) / n).toFixed(2), ((now() - t) / n).toFixed(2)]);
  } finally {
    db.close();
  }
  const t = now();
  const c = process.cpuUsage();
  const scanned = await scanFolder(folder);
  rows.push([`scanFolder (walk + stat), per file over ${scanned.files.length} files`, (cpuMs(c) / scanned.files.length).toFixed(3), ((now() - t) / scanned.files.length).toFixed(3)]);
}
interface Pipeline {
  name: string;
  lanes?: number;
  work: (f: BenchFile, i: number, outDir: string) => Promise<void>;
}

const baselinePipeline: Pipeline = {
  name: 'baseline: sharp(file) -> 256 webp -> write',
  work: async (f, i, outDir) => {
    const thumb = await sharp(f.absPath).rotate().resize(256, 256, { fit: 'inside' }).webp().toBuffer();
    await fs.writeFile(path.join(outDir, `${i}.webp`), thumb);
  },
};

/** A copy of measureImage's steps with the working copy's size/fit as parameters. */
function miruCopy(size: number, fit: 'inside' | 'outside', jsGray = false): Pipeline['work'] {
  return async (f, _i, outDir) => {
    const buffer = await fs.readFile(f.absPath);
    const hash = await contentHash(buffer);
    await sharp(buffer, { limitInputPixels: false }).metadata();
    const color = await decodeWorking(buffer, size, fit);
    stats(color, jsGray ? grayGridJs(color) : await grayGrid(color));
    await writeAtomically(thumbnailPath(outDir, hash), await thumbnail(color));
  };
}

/** Working copy 256 inside; thumbnail = that copy encoded (no resize); gray image in JS from it (box grid or its own luma). */
function miruLean(gray: 'box' | 'own'): Pipeline['work'] {
  return async (f, _i, outDir) => {
    const buffer = await fs.readFile(f.absPath);
    const hash = await contentHash(buffer);
    await sharp(buffer, { limitInputPixels: false }).metadata();
    const color = await decodeWorking(buffer, THUMBNAIL_SIZE);
    stats(color, gray === 'own' ? lumaPlane(color) : grayGridJs(color));
    await writeAtomically(thumbnailPath(outDir, hash), await sharp(color.data, rawOf(color)).webp({ quality: 80 }).toBuffer());
  };
}

/** Part 2: whole pipelines at the benchmark's concurrency; each alternative sits between two baseline passes. */
async function wholePipelines(files: readonly BenchFile[], tmpRoot: string, concurrency: number): Promise<void> {
  const bytes = files.reduce((s, f) => s + f.bytes, 0);
  const alternatives: Pipeline[] = [
    {
      name: 'core: readImageFile + measureImage (no db)',
      work: async (f, _i, outDir) => {
        const read = await readImageFile(f.absPath);
        if (read.ok) await measureImage(read.buffer, read.contentHash, f.absPath, { cacheDir: outDir });
      },
    },
    { name: 'alt A: core pipeline, gray grid in JS', work: miruCopy(512, 'inside', true) },
    { name: 'alt B: A + working copy 256 inside, thumbnail = copy (no resize)', work: miruLean('box') },
    { name: `core measureImage at ${concurrency * 2} lanes (baseline also at ${concurrency * 2})`, lanes: concurrency * 2, work: async (f, _i, outDir) => {
      const read = await readImageFile(f.absPath);
      if (read.ok) await measureImage(read.buffer, read.contentHash, f.absPath, { cacheDir: outDir });
    } },
  ];
  const pass = async (p: Pipeline, lanes: number) => {
    const outDir = path.join(tmpRoot, `pass-${Math.random().toString(36).slice(2)}`);
    await fs.mkdir(outDir, { recursive: true });
    const t = now();
    const c = process.cpuUsage();
    await mapConcurrent(files, lanes, (f, i) => p.work(f, i, outDir));
    const result = { ms: now() - t, cpu: cpuMs(c) };
    await fs.rm(outDir, { recursive: true, force: true });
    return result;
  };
  const rows: string[][] = [['pipeline', 'lanes', 'time', 'img/s', 'MB/s', 'CPU ms/img', 'cores busy', 'vs baseline (wall)', 'vs baseline (CPU)']];
  const fmtRow = (name: string, lanes: number, r: { ms: number; cpu: number }, base?: { ms: number; cpu: number }) => [
    name,
    String(lanes),
    fmtMs(r.ms),
    (files.length / (r.ms / 1000)).toFixed(1),
    (bytes / (1 << 20) / (r.ms / 1000)).toFixed(1),
    (r.cpu / files.length).toFixed(2),
    (r.cpu / r.ms).toFixed(2),
    base ? `${(base.ms / r.ms).toFixed(2)}x` : '',
    base ? `${(base.cpu / r.cpu).toFixed(2)}x` : '',
  ];
  let before = await pass(baselinePipeline, concurrency);
  rows.push(fmtRow(baselinePipeline.name, concurrency, before));
  for (const alt of alternatives) {
    const lanes = alt.lanes ?? concurrency;
    if (lanes !== concurrency) {
      before = await pass(baselinePipeline, lanes);
      rows.push(fmtRow(baselinePipeline.name, lanes, before));
    }
    const r = await pass(alt, lanes);
    const after = await pass(baselinePipeline, lanes);
    // Compared with the mean of the baseline passes on either side (drift on a shared machine).
    const base = { ms: (before.ms + after.ms) / 2, cpu: (before.cpu + after.cpu) / 2 };
    rows.push(fmtRow(alt.name, lanes, r, base));
    rows.push(fmtRow(baselinePipeline.name, lanes, after));
    before = after;
  }
  printTable(rows);
}

export async function profileStages(allFiles: readonly BenchFile[], folder: string, tmpRoot: string, concurrency: number): Promise<void> {
  const isolated = allFiles.filter((_, i) => i % 8 === 0);
  console.log(`\n1. stages in isolation: ${isolated.length} files (every 8th), one at a time, inputs already in memory`);
  await isolatedStages(isolated, folder, tmpRoot);
  const whole = allFiles.filter((_, i) => i % 4 === 2);
  console.log(`\n2. whole pipelines: ${whole.length} files (every 4th), ${concurrency} lanes unless stated; each alternative between two baseline passes`);
  await wholePipelines(whole, tmpRoot, concurrency);
}
