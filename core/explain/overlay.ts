/**
 * Saliency overlays (issue 4): the original image, EXIF-oriented and at its own size, with the map drawn over
 * the part of it the model saw.
 * - stretch: the map covers the whole image;
 * - center-crop: the map covers the cropped region; the rest is dimmed, since the model never saw it;
 * - letterbox: the map covers the padded canvas, so only its image area is drawn.
 * One per-axis geometry does all three: each image pixel's centre goes to a tensor coordinate (imageToTensor),
 * which is inside [0, size) where the model saw that pixel, and the map is sampled there bilinearly
 * (align_corners=False, as torch/cv2 upsample a CAM to the input).
 * Colours come from d3-scale-chromatic's perceptually uniform maps (viridis, inferno, magma; turbo for those who
 * want a rainbow: it is smoother than jet but not uniform), blended at a fixed opacity.
 */
import { interpolateInferno, interpolateMagma, interpolateTurbo, interpolateViridis } from 'd3-scale-chromatic';
import path from 'node:path';
import sharp, { type OutputInfo } from 'sharp';
import type { Triple } from '../models/modelCard.js';
import { planResize } from '../models/preprocessResample.js';
import { imageToTensor, type ResizeGeometry } from './pointingGame.js';
import { sampleBilinear, tapsAt } from './upsample.js';

export type Colormap = 'viridis' | 'inferno' | 'magma' | 'turbo';

export const COLORMAPS: Record<Colormap, (t: number) => string> = {
  viridis: interpolateViridis,
  inferno: interpolateInferno,
  magma: interpolateMagma,
  turbo: interpolateTurbo,
};

/** File formats an overlay can be written as, by file extension. */
export const OVERLAY_FORMATS = { '.png': 'png', '.jpg': 'jpeg', '.jpeg': 'jpeg', '.webp': 'webp' } as const;
export type OverlayFormat = (typeof OVERLAY_FORMATS)[keyof typeof OVERLAY_FORMATS];

/** The format a file name asks for; other extensions are refused rather than given bytes they do not name. */
export function overlayFormatFor(file: string): OverlayFormat {
  const format = (OVERLAY_FORMATS as Record<string, OverlayFormat>)[path.extname(file).toLowerCase()];
  if (!format) throw new Error(`overlay ${file}: name the file ${Object.keys(OVERLAY_FORMATS).map((e) => `*${e}`).join(', ')}; its extension picks the format`);
  return format;
}

export interface OverlayOptions {
  /** The encoded format (default PNG). */
  format?: OverlayFormat;
  /** Weight of the colour over the image, 0..1 (default 0.5): 0 returns the image unchanged. */
  opacity?: number;
  colormap?: Colormap;
}

/** How much pixels the model did not see are darkened at full opacity (scaled by the opacity, like the colour). */
const UNSEEN_DIMMING = 0.6;
/** Rows per band: the full-resolution map of a 50-megapixel original is never held at once. */
const BAND_ROWS = 256;

/**
 * Renders the overlay (PNG unless options.format says otherwise) at the original's (oriented) size. `map` holds values 0..1 (reluMinMax output)
 * on `grid` = [height, width]; `cardInput` is the preprocessing the map was computed through. Transparent
 * images are flattened onto the card's pad colour when given (what the model saw), else white.
 */
export async function renderOverlay(
  image: string | Buffer,
  map: Float32Array,
  grid: [number, number],
  cardInput: ResizeGeometry & { pad?: Triple },
  options: OverlayOptions = {},
): Promise<Buffer> {
  const opacity = options.opacity ?? 0.5;
  if (!(opacity >= 0 && opacity <= 1)) throw new Error(`overlay: opacity must be between 0 and 1, got ${options.opacity}`);
  const colormap = options.colormap ?? 'viridis';
  const interpolate = COLORMAPS[colormap];
  if (!interpolate) throw new Error(`overlay: unknown colormap "${colormap}"; use one of ${Object.keys(COLORMAPS).join(', ')}`);
  const [gh, gw] = grid;
  if (map.length !== gh * gw || map.length === 0) throw new Error(`overlay: the map has ${map.length} values, not ${gh}x${gw}`);

  const pad = cardInput.pad ?? [255, 255, 255];
  let decoded: { data: Buffer; info: OutputInfo };
  try {
    decoded = await sharp(image)
      .autoOrient()
      .flatten({ background: { r: pad[0], g: pad[1], b: pad[2] } })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    const name = typeof image === 'string' ? image : 'the image buffer';
    throw new Error(`overlay: could not decode ${name}: ${(error as Error).message}`);
  }
  const { width, height, channels } = decoded.info;
  if (channels !== 3) throw new Error(`overlay: decoding gave ${channels} channels where 3 (RGB) were expected`);
  const pixels = decoded.data;

  const plan = planResize(width, height, cardInput);
  const [H, W] = cardInput.size;
  // Per axis: each image pixel centre's position on the map grid, and whether the model saw it at all.
  const axis = (length: number, a: typeof plan.x, target: number, cells: number) => {
    const positions = new Float64Array(length);
    const seen = new Uint8Array(length);
    for (let i = 0; i < length; i++) {
      const t = imageToTensor(a, i + 0.5);
      seen[i] = t >= 0 && t < target ? 1 : 0;
      positions[i] = (t * cells) / target - 0.5;
    }
    return { taps: tapsAt(cells, positions), seen };
  };
  const xs = axis(width, plan.x, W, gw);
  const ys = axis(height, plan.y, H, gh);
  const lut = colourTable(interpolate);
  const keep = 1 - opacity;
  const dim = 1 - opacity * UNSEEN_DIMMING;

  const out = Buffer.alloc(pixels.length);
  for (let top = 0; top < height; top += BAND_ROWS) {
    const rows = Math.min(BAND_ROWS, height - top);
    const bandTaps = {
      lo: ys.taps.lo.subarray(top, top + rows),
      hi: ys.taps.hi.subarray(top, top + rows),
      frac: ys.taps.frac.subarray(top, top + rows),
    };
    const band = sampleBilinear(map, grid, bandTaps, xs.taps);
    for (let r = 0; r < rows; r++) {
      const y = top + r;
      for (let x = 0; x < width; x++) {
        const p = (y * width + x) * 3;
        if (ys.seen[y] && xs.seen[x]) {
          const v = band[r * width + x]!;
          const level = Number.isNaN(v) ? 0 : Math.round(Math.min(1, Math.max(0, v)) * 255) * 3;
          out[p] = Math.round(keep * pixels[p]! + opacity * lut[level]!);
          out[p + 1] = Math.round(keep * pixels[p + 1]! + opacity * lut[level + 1]!);
          out[p + 2] = Math.round(keep * pixels[p + 2]! + opacity * lut[level + 2]!);
        } else {
          out[p] = Math.round(dim * pixels[p]!);
          out[p + 1] = Math.round(dim * pixels[p + 1]!);
          out[p + 2] = Math.round(dim * pixels[p + 2]!);
        }
      }
    }
  }
  return sharp(out, { raw: { width, height, channels: 3 } }).toFormat(options.format ?? 'png').toBuffer();
}

/** 256 RGB entries of a d3 interpolator (it returns "#rrggbb" or "rgb(r, g, b)" strings). */
function colourTable(interpolate: (t: number) => string): Uint8Array {
  const table = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) table.set(parseCssColour(interpolate(i / 255)), i * 3);
  return table;
}

export function parseCssColour(css: string): [number, number, number] {
  const hex = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(css);
  if (hex) return [parseInt(hex[1]!, 16), parseInt(hex[2]!, 16), parseInt(hex[3]!, 16)];
  const rgb = /^rgb\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*\)$/.exec(css);
  if (rgb) return [Number(rgb[1]), Number(rgb[2]), Number(rgb[3])];
  throw new Error(`overlay: the colormap gave "${css}", which is neither #rrggbb nor rgb(r, g, b)`);
}
