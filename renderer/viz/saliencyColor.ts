/**
 * Saliency maps arrive at the model's grid resolution (e.g. 14x14) as base64 Float32 in 0..1. They are upsampled
 * here, bilinearly on the values (pixel centres aligned, as torch's align_corners=false), and only then coloured
 * with a perceptually uniform colormap, so the colours never interpolate through hues the map does not contain.
 */
import { interpolateInferno, interpolateMagma, interpolatePlasma, interpolateTurbo, interpolateViridis } from 'd3-scale-chromatic';

export const COLORMAPS = {
  inferno: interpolateInferno,
  viridis: interpolateViridis,
  magma: interpolateMagma,
  plasma: interpolatePlasma,
  turbo: interpolateTurbo,
} as const;
export type ColormapName = keyof typeof COLORMAPS;

const lutCache = new Map<ColormapName, Uint8Array>();

/** 256 RGB entries sampled from a d3 interpolator ("#rrggbb" or "rgb(r, g, b)" strings). */
export function colormapLut(name: ColormapName): Uint8Array {
  const cached = lutCache.get(name);
  if (cached) return cached;
  const lut = new Uint8Array(256 * 3);
  const interpolate = COLORMAPS[name];
  for (let i = 0; i < 256; i++) {
    const [r, g, b] = parseColor(interpolate(i / 255));
    lut[i * 3] = r;
    lut[i * 3 + 1] = g;
    lut[i * 3 + 2] = b;
  }
  lutCache.set(name, lut);
  return lut;
}

function parseColor(text: string): [number, number, number] {
  if (text.startsWith('#') && text.length === 7) return [parseInt(text.slice(1, 3), 16), parseInt(text.slice(3, 5), 16), parseInt(text.slice(5, 7), 16)];
  const m = /rgba?\((\d+),\s*(\d+),\s*(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
}

/** base64 little-endian Float32 -> Float32Array (copied, so alignment never matters). */
export function decodeF32(base64: string): Float32Array {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  const view = new DataView(bytes.buffer);
  const out = new Float32Array(bytes.length >> 2);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

/** Bilinear upsampling of a row-major [gh, gw] map to [outH, outW], pixel centres aligned. */
export function upsampleBilinear(map: Float32Array, gh: number, gw: number, outH: number, outW: number): Float32Array {
  const out = new Float32Array(outH * outW);
  const sy = gh / outH;
  const sx = gw / outW;
  for (let y = 0; y < outH; y++) {
    const fy = Math.min(gh - 1, Math.max(0, (y + 0.5) * sy - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(gh - 1, y0 + 1);
    const wy = fy - y0;
    for (let x = 0; x < outW; x++) {
      const fx = Math.min(gw - 1, Math.max(0, (x + 0.5) * sx - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(gw - 1, x0 + 1);
      const wx = fx - x0;
      const top = map[y0 * gw + x0]! * (1 - wx) + map[y0 * gw + x1]! * wx;
      const bottom = map[y1 * gw + x0]! * (1 - wx) + map[y1 * gw + x1]! * wx;
      out[y * outW + x] = top * (1 - wy) + bottom * wy;
    }
  }
  return out;
}

/**
 * Colours an upsampled map into RGBA pixels. Alpha rises with the value over the lowest tenth so the least
 * salient areas stay see-through; the overall blend is the canvas' opacity (the UI's slider).
 */
export function colorize(values: Float32Array, width: number, height: number, colormap: ColormapName): ImageData {
  const lut = colormapLut(colormap);
  const image = new ImageData(width, height);
  const px = image.data;
  for (let i = 0; i < values.length; i++) {
    const v = Math.min(1, Math.max(0, Number.isFinite(values[i]!) ? values[i]! : 0));
    const k = Math.round(v * 255) * 3;
    px[i * 4] = lut[k]!;
    px[i * 4 + 1] = lut[k + 1]!;
    px[i * 4 + 2] = lut[k + 2]!;
    px[i * 4 + 3] = Math.round(255 * Math.min(1, v * 10));
  }
  return image;
}

/** Size of the overlay canvas: the image's aspect, at most `longSide` px (the browser scales it further). */
export function overlaySize(imageW: number, imageH: number, longSide = 768): [number, number] {
  const s = Math.min(1, longSide / Math.max(imageW, imageH));
  return [Math.max(1, Math.round(imageW * s)), Math.max(1, Math.round(imageH * s))];
}

/** A CSS gradient for the legend. */
export function colormapGradient(name: ColormapName): string {
  const stops = Array.from({ length: 11 }, (_, i) => COLORMAPS[name](i / 10));
  return `linear-gradient(to right, ${stops.join(', ')})`;
}
