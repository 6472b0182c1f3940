/**
 * Controlled perturbations of a decoded image for sensitivity probes (issue 4, `miru probe`). Each transform
 * takes interleaved 8-bit RGB and one strength and returns new RGB of the same size; its identity strength
 * returns the input unchanged. Definitions (L is Rec. 601 luma 0.299 R + 0.587 G + 0.114 B, results rounded
 * to the nearest level and clamped to 0..255):
 *
 * - saturation s >= 0:   c' = L + s (c - L) per pixel: a blend with the pixel's own luma, PIL's
 *                        ImageEnhance.Color. 1 = identity, 0 = grey, > 1 oversaturates. Chroma (max - min)
 *                        scales by exactly s where nothing clips.
 * - contrast c >= 0:     p' = M + c (p - M) with M the image's mean luma: a blend with the mean grey, PIL's
 *                        ImageEnhance.Contrast. 1 = identity, 0 = a flat grey image.
 * - blur sigma% >= 0:    Gaussian blur with sigma = (strength / 100) * the image's short side in pixels, edges
 *                        replicated. 0 = identity. libvips' gaussblur (float precision, mask to 1% of its peak)
 *                        where sigma >= 0.3 px, which libvips requires; a separable JS kernel (radius ceil(3
 *                        sigma)) below that, so tiny images still get a tiny blur.
 * - jpeg q:              encode as baseline JPEG at quality q (1..100, libjpeg-turbo via sharp, 4:2:0 chroma
 *                        subsampling) and decode. 0 = identity: the original pixels, not re-encoded (no quality
 *                        is lossless).
 * - resolution f:        downscale each side to max(1, round(f * side)) with Lanczos-3 (antialiased, as a
 *                        low-resolution capture) and back up to the original size with Catmull-Rom cubic.
 *                        0 < f <= 1; 1 = identity.
 * - patch-shuffle n:     cut the image into an n x n grid of tiles floor(W/n) x floor(H/n) pixels (the < n
 *                        leftover columns on the right and rows at the bottom stay in place) and move the tiles
 *                        by a seeded derangement, so every tile leaves its place: local texture is kept, global
 *                        structure destroyed. Whole n from 1 to 64; 1 = identity. The permutation depends on
 *                        (seed, n, key), key being the image's id, so a probe is reproducible.
 * - grayscale a in 0..1: c' = (1 - a) c + a L: a blend toward luma by amount a (the same pixels as saturation
 *                        1 - a, on the scale of "how much colour was removed"). 0 = identity, 1 = grey.
 */
import sharp from 'sharp';
import { LUMA_WEIGHTS_601 } from '../library/imageStats.js';
import { SeededRandom } from '../synth/random.js';

/** Interleaved 8-bit RGB, width * height * 3 bytes, already oriented, no alpha. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

export const TRANSFORM_NAMES = ['saturation', 'contrast', 'blur', 'jpeg', 'resolution', 'patch-shuffle', 'grayscale'] as const;
export type TransformName = (typeof TRANSFORM_NAMES)[number];

export interface PerturbOptions {
  /** Seeds the patch-shuffle permutation (other transforms are deterministic). */
  seed?: number;
  /** Distinguishes images within a seed (the image id), so each image gets its own permutation. */
  key?: number;
}

export interface TransformSpec {
  name: TransformName;
  /** What a strength means, for help and reports. */
  unit: string;
  /** The strength that leaves the image unchanged. */
  identity: number;
  /** Strengths probed when none are given: identity first or in natural order, increasing damage. */
  defaults: readonly number[];
  /** Why a strength is not valid, or null when it is. */
  check: (strength: number) => string | null;
}

const factor = (what: string, zero: string) => (s: number) => (Number.isFinite(s) && s >= 0 && s <= 100 ? null : `${what} must be a number from 0 to 100 (1 = identity, 0 = ${zero})`);

export const TRANSFORMS: Readonly<Record<TransformName, TransformSpec>> = {
  saturation: {
    name: 'saturation',
    unit: 'factor s: blend with the pixel luma, c\' = L + s(c - L); 1 = identity, 0 = grey',
    identity: 1,
    defaults: [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5],
    check: factor('a saturation factor', 'grey'),
  },
  contrast: {
    name: 'contrast',
    unit: 'factor c: blend with the mean grey, p\' = M + c(p - M); 1 = identity, 0 = flat grey',
    identity: 1,
    defaults: [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5],
    check: factor('a contrast factor', 'flat grey'),
  },
  blur: {
    name: 'blur',
    unit: 'Gaussian sigma in % of the short side; 0 = identity',
    identity: 0,
    defaults: [0, 0.5, 1, 2, 4],
    check: (s) => (Number.isFinite(s) && s >= 0 && s <= 50 ? null : 'a blur sigma is a percentage of the short side from 0 to 50 (0 = identity)'),
  },
  jpeg: {
    name: 'jpeg',
    unit: 'JPEG quality 1-100; 0 = identity (not re-encoded)',
    identity: 0,
    defaults: [0, 90, 70, 50, 30, 10],
    check: (s) => (Number.isInteger(s) && s >= 0 && s <= 100 ? null : 'a JPEG quality is a whole number from 1 to 100 (0 = not re-encoded)'),
  },
  resolution: {
    name: 'resolution',
    unit: 'fraction f of the size kept (down with Lanczos-3, back up with cubic); 1 = identity',
    identity: 1,
    defaults: [1, 0.75, 0.5, 0.25, 0.125],
    check: (s) => (Number.isFinite(s) && s > 0 && s <= 1 ? null : 'a resolution fraction must be more than 0 and at most 1 (1 = identity)'),
  },
  'patch-shuffle': {
    name: 'patch-shuffle',
    unit: 'grid n: n x n tiles moved by a seeded derangement; 1 = identity',
    identity: 1,
    defaults: [1, 2, 4, 8],
    check: (s) => (Number.isInteger(s) && s >= 1 && s <= 64 ? null : 'a patch-shuffle grid is a whole number from 1 to 64 (1 = identity)'),
  },
  grayscale: {
    name: 'grayscale',
    unit: 'amount a: blend toward luma, c\' = (1 - a)c + aL; 0 = identity, 1 = grey',
    identity: 0,
    defaults: [0, 0.25, 0.5, 0.75, 1],
    check: (s) => (Number.isFinite(s) && s >= 0 && s <= 1 ? null : 'a grayscale amount must be a number from 0 to 1 (0 = identity)'),
  },
};

export function isTransformName(name: string): name is TransformName {
  return (TRANSFORM_NAMES as readonly string[]).includes(name);
}

/**
 * Applies one transform at one strength. The identity strength returns the input object itself; anything else
 * returns new pixels. Throws for an invalid strength, or when the image cannot take it (a patch-shuffle grid
 * finer than the image).
 */
export async function perturbImage(image: RgbImage, transform: TransformName, strength: number, options: PerturbOptions = {}): Promise<RgbImage> {
  const spec = TRANSFORMS[transform];
  if (!spec) throw new Error(`Unknown transform ${JSON.stringify(transform)}; valid transforms: ${TRANSFORM_NAMES.join(', ')}.`);
  const why = spec.check(strength);
  if (why) throw new Error(`${transform} strength ${strength}: ${why}.`);
  checkImage(image);
  if (strength === spec.identity) return image;
  switch (transform) {
    case 'saturation':
      return blendWithLuma(image, strength);
    case 'grayscale':
      return blendWithLuma(image, 1 - strength);
    case 'contrast':
      return contrast(image, strength);
    case 'blur':
      return blur(image, (strength / 100) * Math.min(image.width, image.height));
    case 'jpeg':
      return jpegRoundTrip(image, strength);
    case 'resolution':
      return resolution(image, strength);
    case 'patch-shuffle':
      return patchShuffle(image, strength, options.seed ?? 1, options.key ?? 0);
  }
}

/** Decodes an image file as the model preprocessing does: EXIF orientation applied, 8-bit sRGB, alpha composited on `background`. */
export async function decodeRgb(input: string | Buffer, background: readonly [number, number, number] = [255, 255, 255]): Promise<RgbImage> {
  const meta = await sharp(input, { ignoreIcc: true }).metadata();
  let pipeline = sharp(input, { ignoreIcc: true }).autoOrient();
  const plain = meta.depth === 'uchar' && (meta.space === 'srgb' || (meta.space === 'b-w' && !meta.hasAlpha));
  if (!plain) pipeline = pipeline.pipelineColourspace('srgb');
  if (meta.hasAlpha) pipeline = pipeline.flatten({ background: { r: background[0], g: background[1], b: background[2] } });
  const { data, info } = await pipeline.removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`decoding gave ${info.channels} channels where 3 (RGB) were expected`);
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

// ----------------------------------------------------------------------------------------------- transforms

function checkImage(image: RgbImage): void {
  if (!Number.isInteger(image.width) || !Number.isInteger(image.height) || image.width < 1 || image.height < 1) throw new Error(`bad image size ${image.width}x${image.height}`);
  if (image.data.length !== image.width * image.height * 3) throw new Error(`${image.data.length} bytes is not ${image.width}x${image.height} interleaved RGB`);
}

const { r: WR, g: WG, b: WB } = LUMA_WEIGHTS_601;

/** c' = L + s (c - L): s = 1 keeps the pixel, 0 gives its luma grey. Uint8ClampedArray rounds half to even and clamps. */
function blendWithLuma(image: RgbImage, s: number): RgbImage {
  const src = image.data;
  const out = new Uint8ClampedArray(src.length);
  for (let p = 0; p < src.length; p += 3) {
    const r = src[p]!;
    const g = src[p + 1]!;
    const b = src[p + 2]!;
    const l = WR * r + WG * g + WB * b;
    out[p] = l + s * (r - l);
    out[p + 1] = l + s * (g - l);
    out[p + 2] = l + s * (b - l);
  }
  return { data: new Uint8Array(out.buffer), width: image.width, height: image.height };
}

/** p' = M + c (p - M) with M the mean luma of the whole image. */
function contrast(image: RgbImage, c: number): RgbImage {
  const src = image.data;
  let sum = 0;
  for (let p = 0; p < src.length; p += 3) sum += WR * src[p]! + WG * src[p + 1]! + WB * src[p + 2]!;
  const mean = sum / (image.width * image.height);
  const out = new Uint8ClampedArray(src.length);
  for (let i = 0; i < src.length; i++) out[i] = mean + c * (src[i]! - mean);
  return { data: new Uint8Array(out.buffer), width: image.width, height: image.height };
}

/** The smallest sigma libvips' gaussblur accepts (sharp refuses less). */
const VIPS_MIN_SIGMA = 0.3;

async function blur(image: RgbImage, sigma: number): Promise<RgbImage> {
  if (sigma >= VIPS_MIN_SIGMA) {
    const { data, info } = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
      .blur({ sigma, precision: 'float', minAmplitude: 0.01 })
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
  }
  return gaussianBlurJs(image, sigma);
}

/** Separable Gaussian blur in JS with replicated edges, for sigmas below libvips' minimum. */
export function gaussianBlurJs(image: RgbImage, sigma: number): RgbImage {
  const { width, height } = image;
  if (!(sigma > 0)) return { data: Uint8Array.from(image.data), width, height };
  const radius = Math.max(1, Math.ceil(3 * sigma));
  const kernel = new Float64Array(2 * radius + 1);
  let total = 0;
  for (let k = -radius; k <= radius; k++) total += kernel[k + radius] = Math.exp(-(k * k) / (2 * sigma * sigma));
  for (let k = 0; k < kernel.length; k++) kernel[k] /= total;
  const rows = new Float64Array(width * height * 3);
  const src = image.data;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let k = -radius; k <= radius; k++) acc += kernel[k + radius]! * src[(y * width + clamp(x + k, width)) * 3 + c]!;
        rows[(y * width + x) * 3 + c] = acc;
      }
    }
  }
  const out = new Uint8ClampedArray(src.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let k = -radius; k <= radius; k++) acc += kernel[k + radius]! * rows[(clamp(y + k, height) * width + x) * 3 + c]!;
        out[(y * width + x) * 3 + c] = acc;
      }
    }
  }
  return { data: new Uint8Array(out.buffer), width, height };
}

function clamp(i: number, size: number): number {
  return i < 0 ? 0 : i >= size ? size - 1 : i;
}

async function jpegRoundTrip(image: RgbImage, quality: number): Promise<RgbImage> {
  const encoded = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .jpeg({ quality, chromaSubsampling: '4:2:0', mozjpeg: false })
    .toBuffer();
  const { data, info } = await sharp(encoded).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== image.width || info.height !== image.height) throw new Error(`the JPEG round trip gave ${info.width}x${info.height}x${info.channels}`);
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

async function resolution(image: RgbImage, f: number): Promise<RgbImage> {
  const { width, height } = image;
  const small = { width: Math.max(1, Math.round(width * f)), height: Math.max(1, Math.round(height * f)) };
  if (small.width === width && small.height === height) return { data: Uint8Array.from(image.data), width, height };
  const down = await sharp(image.data, { raw: { width, height, channels: 3 } })
    .resize({ ...small, fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const { data, info } = await sharp(down.data, { raw: { width: down.info.width, height: down.info.height, channels: 3 } })
    .resize({ width, height, fit: 'fill', kernel: 'cubic' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

/**
 * The tile order of an n x n patch shuffle: tile t of the output comes from tile order[t] of the input, and no
 * tile stays in place (rejection sampling of uniform permutations; about e tries on average).
 */
export function patchPermutation(n: number, seed: number, key: number): number[] {
  const count = n * n;
  const identity = Array.from({ length: count }, (_, i) => i);
  if (count < 2) return identity;
  const rng = SeededRandom.derive(seed, 'patch-shuffle', n, key);
  for (;;) {
    const order = rng.shuffle(identity.slice());
    if (order.every((from, to) => from !== to)) return order;
  }
}

function patchShuffle(image: RgbImage, n: number, seed: number, key: number): RgbImage {
  const { width, height } = image;
  const tileW = Math.floor(width / n);
  const tileH = Math.floor(height / n);
  if (tileW < 1 || tileH < 1) throw new Error(`a ${n} x ${n} patch-shuffle grid needs at least ${n} x ${n} pixels; the image is ${width}x${height}`);
  const order = patchPermutation(n, seed, key);
  const out = Uint8Array.from(image.data);
  const rowBytes = tileW * 3;
  for (let t = 0; t < order.length; t++) {
    const from = order[t]!;
    const fx = (from % n) * tileW;
    const fy = Math.floor(from / n) * tileH;
    const tx = (t % n) * tileW;
    const ty = Math.floor(t / n) * tileH;
    for (let row = 0; row < tileH; row++) {
      const start = ((fy + row) * width + fx) * 3;
      out.set(image.data.subarray(start, start + rowBytes), ((ty + row) * width + tx) * 3);
    }
  }
  return { data: out, width, height };
}
