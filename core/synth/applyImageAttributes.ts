// Turns a scene's SVG into the written image with the attribute-controlled processing: saturation, contrast
// and blur in one sharp pipeline, then seeded gaussian noise on the raw pixels (after the blur, or the blur
// would wipe it out), then PNG or JPEG encoding.
import sharp from 'sharp';
import type { RenderParameters } from './attributes.js';
import type { SeededRandom } from './random.js';

export type SynthImageFormat = 'png' | 'jpeg';

export async function renderImageFile(
  svg: string,
  params: RenderParameters,
  noiseRng: SeededRandom,
  format: SynthImageFormat,
  filePath: string,
): Promise<void> {
  let pipeline = sharp(Buffer.from(svg))
    .removeAlpha()
    .modulate({ saturation: params.saturationFactor })
    // Contrast as a line through mid-grey: out = f * (in - 128) + 128.
    .linear(params.contrastFactor, 128 * (1 - params.contrastFactor));
  if (params.blurSigma > 0) pipeline = pipeline.blur(params.blurSigma);
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  if (info.width !== params.width || info.height !== params.height) {
    // librsvg sizes the output from the SVG's width/height; a mismatch would make truth.json lie.
    throw new Error(`synth: rendered ${info.width}x${info.height}, expected ${params.width}x${params.height}`);
  }

  if (params.noiseSigma > 0) addGaussianNoise(data, params.noiseSigma, noiseRng);

  const image = sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } });
  const encoded = format === 'png' ? image.png({ compressionLevel: 6 }) : image.jpeg({ quality: 92 });
  await encoded.toFile(filePath);
}

/**
 * Adds independent N(0, sigma) noise to every channel of every pixel, rounding and clamping to 0..255.
 * Box-Muller per value made this the slowest step of the whole generator (it runs on the main thread), so
 * deviates come from a table of normal quantiles indexed by 16 random bits: two deviates per 32-bit draw,
 * a faithful gaussian at 1/65536 resolution.
 */
export function addGaussianNoise(pixels: Buffer, sigma: number, rng: SeededRandom): void {
  const table = normalQuantileTable();
  // A clamped view does the rounding and the 0..255 clamp on assignment.
  const view = new Uint8ClampedArray(pixels.buffer, pixels.byteOffset, pixels.length);
  const even = view.length - (view.length % 2);
  for (let i = 0; i < even; i += 2) {
    const bits = rng.nextUint32();
    view[i] = view[i] + sigma * table[bits & 0xffff];
    view[i + 1] = view[i + 1] + sigma * table[bits >>> 16];
  }
  if (even < view.length) view[even] = view[even] + sigma * table[rng.nextUint32() & 0xffff];
}

let quantileTable: Float64Array | null = null;

/** table[k] = the standard normal quantile at (k + 0.5) / 65536. */
function normalQuantileTable(): Float64Array {
  if (!quantileTable) {
    quantileTable = new Float64Array(65536);
    for (let k = 0; k < 65536; k++) quantileTable[k] = inverseNormalCdf((k + 0.5) / 65536);
  }
  return quantileTable;
}

/** Acklam's rational approximation of the standard normal quantile (relative error below 1.2e-9). */
function inverseNormalCdf(p: number): number {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - low) {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}
