// The interpretable attributes every synthetic image is built from. Each one is drawn independently and
// uniformly in [0, 1], so they are uncorrelated and share one variance: a later feature-attribution check can
// compare regression weights directly against the known weights in truth.json. Higher always means "more of
// the named thing" (more noise, more symmetry, ...); whether that is good is the weights' business.
import type { SeededRandom } from './random.js';

export const attributeNames = [
  'saturation', // colour intensity: 0 near-grey, 1 vivid (sharp modulate)
  'contrast', // tonal spread around mid-grey: 0 flat, 1 punchy (linear around 128)
  'sharpness', // 0 strongly blurred, 1 crisp (gaussian blur sigma shrinks to none)
  'noise', // 0 clean, 1 heavy gaussian pixel noise
  'harmony', // palette hues: 0 random clashing hues, 1 a textbook colour scheme (analogous, complementary, ...)
  'subjectSize', // subject figure height: 0 small (20% of image height), 1 large (85%)
  'subjectX', // subject box position left (0) to right (1) within the room left by its width
  'subjectY', // subject box position top (0) to bottom (1) within the room left by its height
  'symmetry', // background arrangement: 0 independent halves, 1 mirror-symmetric about the vertical centre line
  'resolution', // pixel size: 0 renders the long side at half of --size, 1 at the full --size
] as const;

export type AttributeName = (typeof attributeNames)[number];
export type ImageAttributes = Record<AttributeName, number>;

/** Rounded to 6 decimals before use, so the values in truth.json are exactly the ones that made the image. */
export function round6(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

export function drawAttributes(rng: SeededRandom): ImageAttributes {
  const out = {} as ImageAttributes;
  for (const name of attributeNames) out[name] = round6(rng.next());
  return out;
}

/** Concrete image-processing settings that realise the attributes; see attributeNames for what each means. */
export interface RenderParameters {
  /** Written image size in pixels. */
  width: number;
  height: number;
  /** Multiplier for sharp's modulate({ saturation }). */
  saturationFactor: number;
  /** Slope of the linear contrast map around mid-grey: out = factor * (in - 128) + 128. */
  contrastFactor: number;
  /** Gaussian blur sigma in pixels; 0 means no blur. */
  blurSigma: number;
  /** Standard deviation of the added per-channel gaussian noise, in 0-255 pixel units. */
  noiseSigma: number;
  /** Subject box height as a fraction of the image height. */
  subjectHeightFraction: number;
}

/** The scale factor between the smallest (resolution 0) and largest (resolution 1) images. */
export const minResolutionScale = 0.5;

/**
 * @param aspect width / height of this image (drawn separately, mildly varied, not an attribute)
 */
export function renderParameters(attributes: ImageAttributes, baseSize: number, aspect: number): RenderParameters {
  const scale = minResolutionScale + (1 - minResolutionScale) * attributes.resolution;
  const longSide = Math.max(32, Math.round(baseSize * scale));
  const width = aspect >= 1 ? longSide : Math.max(24, Math.round(longSide * aspect));
  const height = aspect >= 1 ? Math.max(24, Math.round(longSide / aspect)) : longSide;
  // Blur is specified relative to a 512-px long side so the look of "sharpness 0.3" doesn't depend on --size.
  const sigma = (1 - attributes.sharpness) * 4 * (longSide / 512);
  return {
    width,
    height,
    saturationFactor: 0.15 + 1.45 * attributes.saturation,
    contrastFactor: 0.45 + 1.0 * attributes.contrast,
    // sharp rejects sigma below 0.3, and such a small blur is invisible anyway.
    blurSigma: sigma < 0.3 ? 0 : sigma,
    noiseSigma: 32 * attributes.noise,
    subjectHeightFraction: 0.2 + 0.65 * attributes.subjectSize,
  };
}
