import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { contentHash } from '../util/contentHash.js';
import { computeImageStats, grayGrid, SHARPNESS_GRID, type ImageStats, type RawImage } from './imageStats.js';
import { THUMBNAIL_SIZE, thumbnailPath } from './thumbnails.js';
import { describeFsError, REFUSED_EXTENSIONS } from './scanFolders.js';

/** libvips' own default input limit (0x3FFF squared): safe against decompression bombs on any workstation. */
export const DEFAULT_MAX_PIXELS = 268_402_689;
/**
 * Longest side of the working copy that statistics and the thumbnail are computed from (one decode and one resize
 * per image): the thumbnail's own size, so the thumbnail is that copy encoded as it is, with no second resize.
 */
const WORKING_SIZE = THUMBNAIL_SIZE;

export interface ProbedImage {
  contentHash: string;
  bytes: number;
  width: number;
  height: number;
  format: string;
  channels: number;
  hasAlpha: boolean;
  bitDepth: string;
  pages: number;
  stats: ImageStats & { aspectRatio: number; megapixels: number };
}

/** Why one file cannot be used; `vanished` when it was deleted between the scan and the read. */
export interface FileFailure {
  ok: false;
  vanished: boolean;
  error: string;
  contentHash: string | null;
  bytes: number;
}

export type ProbeOutcome = { ok: true; image: ProbedImage } | FileFailure;

export interface ProbeOptions {
  cacheDir: string;
  maxPixels?: number;
}

/** Largest file read: far above any real image (a 16-bit 100-megapixel TIFF is 600 MB). */
export const MAX_FILE_BYTES = 2 ** 30;

export type ReadOutcome = { ok: true; buffer: Buffer; contentHash: string } | FileFailure;

/** Reads a file and hashes it; the hash alone decides whether a new path is a moved, already-known image. */
export async function readImageFile(absPath: string): Promise<ReadOutcome> {
  let buffer: Buffer;
  try {
    // Files are read whole (to hash and decode them once), so a few in flight must fit in memory.
    const { size } = await fs.stat(absPath);
    if (size > MAX_FILE_BYTES) {
      return { ok: false, vanished: false, error: `file too large: ${(size / 2 ** 30).toFixed(1)} GiB exceeds the ${MAX_FILE_BYTES / 2 ** 30} GiB Miru reads; export a smaller copy`, contentHash: null, bytes: size };
    }
    buffer = await fs.readFile(absPath);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { ok: false, vanished: code === 'ENOENT', error: `cannot read file: ${describeFsError(error)}`, contentHash: null, bytes: 0 };
  }
  if (buffer.length === 0) return { ok: false, vanished: false, error: EMPTY_FILE, contentHash: null, bytes: 0 };
  return { ok: true, buffer, contentHash: await contentHash(buffer) };
}

/**
 * Decodes an image once and returns everything the library stores about it, or the reason it cannot be used.
 * Never throws for a bad file: every failure becomes a per-file error a person can act on.
 */
export async function measureImage(buffer: Buffer, hash: string, absPath: string, options: ProbeOptions): Promise<ProbeOutcome> {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const failed = (error: string, h: string | null): FileFailure => ({ ok: false, vanished: false, error, contentHash: h, bytes: buffer.length });
  let meta: Metadata;
  try {
    meta = await vipsStep(() => sharp(buffer, { limitInputPixels: false }).metadata());
  } catch (error) {
    return failed(describeDecodeError(error, absPath), hash);
  }
  if (!meta.width || !meta.height || !meta.format) return failed('corrupt header: no image size or format could be read', hash);
  // libvips sniffs the content, not the name: an SVG, PDF or HEIC saved as .png must meet the same refusal as its own extension.
  const contentFormat = meta.format === 'heif' && meta.compression !== 'av1' ? 'heic' : meta.format;
  if (!DECODED_FORMATS.has(contentFormat)) {
    const ext = path.extname(absPath).slice(1).toLowerCase();
    const reason = REFUSED_EXTENSIONS[`.${contentFormat}`] ?? 'not one of the formats Miru indexes (jpeg, png, webp, gif, avif, tiff)';
    return failed(`refused format: the content is ${contentFormat.toUpperCase()} although the name says .${ext}: ${reason}`, hash);
  }
  const pixels = meta.width * meta.height;
  if (pixels > maxPixels) {
    return failed(
      `too many pixels: ${meta.width}x${meta.height} = ${pixels.toLocaleString('en-US')} exceeds the limit of ` +
        `${maxPixels.toLocaleString('en-US')} (a guard against decompression bombs; raise it with --max-pixels if the file is genuine)`,
      hash,
    );
  }
  // EXIF orientations 5-8 rotate by 90 degrees: the stored size is what a viewer shows.
  const rotated = (meta.orientation ?? 1) >= 5;
  const width = rotated ? meta.height : meta.width;
  const height = rotated ? meta.width : meta.height;

  let color: { data: Buffer; info: OutputInfo };
  try {
    color = await vipsStep(() =>
      sharp(buffer, { limitInputPixels: maxPixels, failOn: 'error', sequentialRead: true })
        .rotate()
        .resize(WORKING_SIZE, WORKING_SIZE, { fit: 'inside', withoutEnlargement: true })
        .toColourspace('srgb')
        .raw({ depth: 'uchar' })
        .toBuffer({ resolveWithObject: true }),
    );
  } catch (error) {
    return failed(describeDecodeError(error, absPath), hash);
  }
  // TIFFs may carry extra samples (RGB + 2, gray + 2 ...): libvips keeps them, so the working copy can have 5+ bands.
  // Keep RGB plus the first extra band, which libvips treats as alpha; raw input and the statistics take at most 4.
  if (color.info.channels > 4) color = { data: keepBands(color.data, color.info.channels, 4), info: { ...color.info, channels: 4 } };
  const rawInput = { raw: { width: color.info.width, height: color.info.height, channels: color.info.channels } } as const;
  let stats: ImageStats;
  let thumb: Buffer | null = null;
  const thumbFile = thumbnailPath(options.cacheDir, hash);
  let encoding: Promise<Buffer> | null = null;
  try {
    if (!(await exists(thumbFile))) {
      // The working copy already fits inside THUMBNAIL_SIZE (never enlarged): encode it as it is. libvips encodes on
      // a worker thread while the statistics below run on this one; the result is awaited after them.
      encoding = vipsStep(() => sharp(color.data, rawInput).webp({ quality: 80 }).toBuffer());
    }
    const working: RawImage = { data: color.data, width: color.info.width, height: color.info.height, channels: color.info.channels };
    // The gray grid is computed in JS from the working copy (no third libvips pipeline); transparent areas are
    // composited onto mid grey, so sharpness sees the image's own edges, not a black halo.
    stats = computeImageStats(working, grayGrid(working, SHARPNESS_GRID));
    if (encoding) thumb = await encoding;
  } catch (error) {
    // If the statistics threw first, the encode still settles; its outcome no longer matters.
    encoding?.catch(() => {});
    // An image whose layout the statistics cannot handle is this file's problem, never the end of the run.
    return failed(`cannot compute statistics or thumbnail: ${((error as Error).message ?? String(error)).split('\n')[0]}`, hash);
  }
  // A cache folder that cannot be written is not one file's fault: that error stops the run.
  if (thumb) await writeAtomically(thumbFile, thumb);

  return {
    ok: true,
    image: {
      contentHash: hash,
      bytes: buffer.length,
      width,
      height,
      format: meta.format,
      channels: meta.channels ?? color.info.channels,
      hasAlpha: meta.hasAlpha ?? false,
      bitDepth: meta.depth ?? 'uchar',
      pages: meta.pages ?? 1,
      stats: { ...stats, aspectRatio: width / height, megapixels: pixels / 1e6 },
    },
  };
}

/** Turns libvips' messages into a reason a person understands, keeping the original text for diagnosis. */
const EMPTY_FILE = 'empty file (0 bytes): re-copy or re-export it';

/** libvips' decode error as a reason a user can act on; shared by indexing, scoring and explaining. */
export function describeDecodeError(error: unknown, absPath: string): string {
  const message = ((error as Error).message ?? String(error)).split('\n')[0]!.trim();
  const ext = path.extname(absPath).slice(1).toLowerCase();
  if (/buffer is empty/i.test(message)) return EMPTY_FILE;
  if (/unsupported image format/i.test(message)) return `not an image: the content is not a format Miru reads (the name says .${ext})`;
  if (/premature end|truncated|unexpected end|not enough data|read error|end of file|short read/i.test(message))
    return `truncated or damaged image data: ${message}`;
  if (/pixel limit/i.test(message)) return `too many pixels: ${message} (raise the limit with --max-pixels if the file is genuine)`;
  return `cannot decode image: ${message}`;
}

/**
 * libvips reports errors through one process-wide buffer that every failing call appends to and clears, so when
 * two decodes fail at once one gets the other's message or none ("Unknown error"; lovell/sharp#902): indexing a
 * folder of bad files four at a time, about 40% of the recorded reasons were wrong. Every sharp step here is shared; a
 * step that fails is repeated alone, once the steps in flight have finished and with new ones held back, so the
 * message recorded is this file's own. Only failures pay for this.
 */
let stepsInFlight = 0;
let aloneStep: Promise<unknown> | null = null;
let onDrained: (() => void) | null = null;
/** The lone retry in progress, if any (a function, so the checks below are not narrowed across awaits). */
const pendingAlone = (): Promise<unknown> | null => aloneStep;

async function vipsStep<T>(step: () => Promise<T>): Promise<T> {
  while (pendingAlone()) await pendingAlone()!.catch(() => {});
  stepsInFlight++;
  try {
    return await step();
  } catch {
    // Fall through to the lone retry below, after this step has stopped counting as in flight.
  } finally {
    if (--stepsInFlight === 0) onDrained?.();
  }
  while (pendingAlone()) await pendingAlone()!.catch(() => {});
  const retry = (async () => {
    if (stepsInFlight > 0) await new Promise<void>((resolve) => (onDrained = resolve));
    onDrained = null;
    return step();
  })();
  aloneStep = retry;
  try {
    return await retry;
  } finally {
    if (aloneStep === retry) aloneStep = null;
  }
}

/** Formats (as libvips names the content) that Miru indexes; 'heif' here means AVIF (AV1-compressed HEIF). */
const DECODED_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'heif', 'tiff']);

/** Copies the first `keep` of `channels` interleaved 8-bit bands of every pixel. */
function keepBands(data: Buffer, channels: number, keep: number): Buffer {
  const pixels = data.length / channels;
  const out = Buffer.allocUnsafe(pixels * keep);
  for (let p = 0, i = 0, o = 0; p < pixels; p++, i += channels) for (let c = 0; c < keep; c++) out[o++] = data[i + c]!;
  return out;
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

/** Write to a temporary name and rename, so a crash never leaves a half-written thumbnail under the real name. */
async function writeAtomically(file: string, data: Buffer): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await fs.writeFile(tmp, data);
  await fs.rename(tmp, file);
}
