/**
 * Generates (once) the image folder that bench:index measures: mixed sizes and formats with content that makes
 * decoding real work (gradients, filled shapes and per-pixel noise), cached under .bench/index-images/ with its
 * parameters in params.json; a folder whose params differ is regenerated.
 */
import { promises as fs, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import sharp from 'sharp';
import { mapConcurrent } from '../core/util/mapConcurrent.js';
import { BENCH_DIR, now, rng } from './benchUtil.js';

export const INDEX_IMAGES_DIR = path.join(BENCH_DIR, 'index-images');

export interface IndexImageParams {
  /** Bump when the generator's output changes, so stale folders are regenerated. */
  generator: number;
  seed: number;
  /** Ordinary images, sides uniform in [minSide, maxSide]. */
  count: number;
  minSide: number;
  maxSide: number;
  /** Extra 4000x4000 JPEGs. */
  bigCount: number;
  bigSide: number;
  folders: number;
}

export const DEFAULT_INDEX_IMAGE_PARAMS: IndexImageParams = {
  generator: 2,
  seed: 20240601,
  count: 2000,
  minSide: 256,
  maxSide: 2000,
  bigCount: 24,
  bigSide: 4000,
  folders: 20,
};

type Kind = 'jpeg' | 'jpeg-gray' | 'jpeg-rotated' | 'png' | 'png-alpha' | 'webp';

interface Spec {
  relPath: string;
  width: number;
  height: number;
  kind: Kind;
  seed: number;
  /** Per-pixel noise amplitude (0-255 units). */
  noise: number;
}

function planImages(p: IndexImageParams): Spec[] {
  const random = rng(p.seed);
  const specs: Spec[] = [];
  // Log-uniform sides: many small and mid-size images, fewer near the 2000-px end, as in real datasets.
  const side = () => Math.round(p.minSide * Math.pow(p.maxSide / p.minSide, random()));
  for (let i = 0; i < p.count; i++) {
    const r = random();
    // About half JPEG (a few grayscale, a few with EXIF rotation), 30% PNG (some with alpha), 20% WebP.
    const kind: Kind =
      r < 0.03 ? 'jpeg-gray' : r < 0.06 ? 'jpeg-rotated' : r < 0.5 ? 'jpeg' : r < 0.75 ? 'png' : r < 0.8 ? 'png-alpha' : 'webp';
    const isPng = kind === 'png' || kind === 'png-alpha';
    // PNGs are mostly illustration-like (flat or nearly flat, so they compress like real flat art); a few are
    // photo-like. JPEG and WebP carry visible noise so their entropy decoding is real work.
    const q = random();
    const noise = isPng ? (q < 0.6 ? 0 : q < 0.93 ? 1 + random() * 3 : 10 + random() * 10) : 4 + random() * 24;
    const ext = kind.startsWith('jpeg') ? 'jpg' : isPng ? 'png' : 'webp';
    const folder = `set_${String(i % p.folders).padStart(3, '0')}`;
    specs.push({ relPath: `${folder}/img_${String(i).padStart(6, '0')}.${ext}`, width: side(), height: side(), kind, seed: (random() * 2 ** 32) >>> 0, noise });
  }
  for (let i = 0; i < p.bigCount; i++) {
    specs.push({ relPath: `big/big_${String(i).padStart(3, '0')}.jpg`, width: p.bigSide, height: p.bigSide, kind: 'jpeg', seed: (random() * 2 ** 32) >>> 0, noise: 6 + random() * 14 });
  }
  return specs;
}

/** Paints gradient + shapes + noise into an interleaved 8-bit buffer. */
function paint(spec: Spec, channels: 3 | 4): Buffer {
  const { width: w, height: h } = spec;
  const random = rng(spec.seed);
  const data = Buffer.allocUnsafe(w * h * channels);
  const c0 = [random() * 255, random() * 255, random() * 255];
  const c1 = [random() * 255, random() * 255, random() * 255];
  const angle = random() * Math.PI * 2;
  const dx = Math.cos(angle) / w;
  const dy = Math.sin(angle) / h;
  const offset = Math.min(0, dx * w) + Math.min(0, dy * h);
  const span = Math.abs(dx * w) + Math.abs(dy * h) || 1;
  const amp = spec.noise;
  // xorshift32 inline for the per-pixel noise: the closure PRNG would dominate generation time.
  let s = (spec.seed | 1) >>> 0;
  for (let y = 0; y < h; y++) {
    let i = y * w * channels;
    for (let x = 0; x < w; x++, i += channels) {
      const t = (x * dx + y * dy - offset) / span;
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      const n = (((s & 0xff) - 127.5) / 127.5) * amp;
      data[i] = clamp(c0[0]! + (c1[0]! - c0[0]!) * t + n);
      data[i + 1] = clamp(c0[1]! + (c1[1]! - c0[1]!) * t + n);
      data[i + 2] = clamp(c0[2]! + (c1[2]! - c0[2]!) * t + ((((s >>> 8) & 0xff) - 127.5) / 127.5) * amp);
      if (channels === 4) data[i + 3] = 255;
    }
  }
  // Filled rectangles and discs with their own colour (and, with alpha, some transparent holes).
  const shapes = 4 + Math.floor(random() * 12);
  for (let k = 0; k < shapes; k++) {
    const cx = random() * w;
    const cy = random() * h;
    const r = (0.03 + random() * 0.25) * Math.min(w, h);
    const color = [random() * 255, random() * 255, random() * 255];
    const disc = random() < 0.5;
    const transparent = channels === 4 && random() < 0.3;
    const x0 = Math.max(0, Math.floor(cx - r));
    const x1 = Math.min(w - 1, Math.ceil(cx + r));
    const y0 = Math.max(0, Math.floor(cy - r));
    const y1 = Math.min(h - 1, Math.ceil(cy + r));
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        if (disc && (x - cx) ** 2 + (y - cy) ** 2 > r * r) continue;
        const i = (y * w + x) * channels;
        if (transparent) {
          data[i + 3] = 0;
          continue;
        }
        // Keep a little of the underlying noise so the shape is not perfectly flat.
        data[i] = clamp(color[0]! + (data[i]! - 128) * 0.15);
        data[i + 1] = clamp(color[1]! + (data[i + 1]! - 128) * 0.15);
        data[i + 2] = clamp(color[2]! + (data[i + 2]! - 128) * 0.15);
      }
    }
  }
  return data;
}

function clamp(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v | 0;
}

async function writeImage(dir: string, spec: Spec): Promise<void> {
  const channels = spec.kind === 'png-alpha' ? 4 : 3;
  const raw = { raw: { width: spec.width, height: spec.height, channels } } as const;
  let image = sharp(paint(spec, channels), raw);
  switch (spec.kind) {
    case 'jpeg':
      image = image.jpeg({ quality: 88 });
      break;
    case 'jpeg-gray':
      image = image.greyscale().jpeg({ quality: 88 });
      break;
    case 'jpeg-rotated':
      // EXIF orientation 6 (rotate 90 degrees on display): Miru and the baseline both honour it via rotate().
      image = image.jpeg({ quality: 88 }).withMetadata({ orientation: 6 });
      break;
    case 'png':
    case 'png-alpha':
      image = image.png({ compressionLevel: 3 });
      break;
    case 'webp':
      image = image.webp({ quality: 82, effort: 2 });
      break;
  }
  const file = path.join(dir, ...spec.relPath.split('/'));
  await fs.mkdir(path.dirname(file), { recursive: true });
  await image.toFile(file);
}

/** Returns the folder, generating it first when missing or made with other parameters. */
export async function ensureIndexImages(params: IndexImageParams = DEFAULT_INDEX_IMAGE_PARAMS): Promise<{ dir: string; generatedMs: number | null }> {
  const dir = INDEX_IMAGES_DIR;
  const paramsFile = path.join(dir, 'params.json');
  const wanted = JSON.stringify(params);
  const specs = planImages(params);
  if (existsSync(paramsFile)) {
    try {
      const recorded = JSON.parse(readFileSync(paramsFile, 'utf8')) as { params: IndexImageParams };
      if (JSON.stringify(recorded.params) === wanted && specs.every((s) => existsSync(path.join(dir, s.relPath)))) return { dir, generatedMs: null };
    } catch {
      // Unreadable params: regenerate below.
    }
    console.log(`Image folder ${dir} was made with other parameters (or is incomplete): regenerating.`);
  }
  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(dir, { recursive: true });
  const started = now();
  // Painting runs on the main thread and encoding on libuv's pool: a few lanes per core overlap the two.
  const lanes = Math.max(2, os.availableParallelism() * 2);
  let done = 0;
  await mapConcurrent(specs, lanes, async (spec) => {
    await writeImage(dir, spec);
    if (++done % 500 === 0) process.stdout.write(`  generated ${done}/${specs.length}\n`);
  });
  const generatedMs = now() - started;
  await fs.writeFile(paramsFile, JSON.stringify({ params, files: specs.length, generatedMs: Math.round(generatedMs), at: new Date().toISOString() }, null, 2));
  return { dir, generatedMs };
}
