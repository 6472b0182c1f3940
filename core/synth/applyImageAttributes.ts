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

/** Adds independent N(0, sigma) noise to every channel of every pixel, rounding and clamping to 0..255. */
export function addGaussianNoise(pixels: Buffer, sigma: number, rng: SeededRandom): void {
  // A clamped view does the rounding and the 0..255 clamp on assignment.
  const view = new Uint8ClampedArray(pixels.buffer, pixels.byteOffset, pixels.length);
  for (let i = 0; i < view.length; i++) view[i] = view[i] + sigma * rng.normal();
}
