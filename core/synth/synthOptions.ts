// Options of `miru synth` and their checks. The limits keep a typo from asking for hours of work or more memory
// than a workstation has, and each error names the option and its allowed range so a person can fix the call.
import type { ProgressListener } from '../jobs/progress.js';

export interface SynthOptions {
  /** How many images to generate. */
  images: number;
  /** How many simulated raters. */
  raters: number;
  /** Seed of every random choice: the same seed and options give byte-identical output. */
  seed: number;
  /** Base size in pixels: each image's long side is a per-image fraction (0.5 to 1) of it. */
  size: number;
  /** Number of classes on the ordinal rating scale: 1..5 or 1..7. */
  classes: 5 | 7;
  onProgress?: ProgressListener;
}

export const defaultSynthOptions: Omit<SynthOptions, 'onProgress'> = {
  images: 200,
  raters: 30,
  seed: 1,
  size: 512,
  classes: 5,
};

/** Inclusive ranges of the integer options. */
export const synthOptionLimits = {
  images: { min: 1, max: 100_000 },
  raters: { min: 1, max: 1_000 },
  seed: { min: 0, max: 4_294_967_295 }, // the generator uses 32-bit seeds; larger ones would silently collide
  size: { min: 64, max: 8192 },
} as const;

function checkInteger(name: keyof typeof synthOptionLimits, value: unknown): number {
  const { min, max } = synthOptionLimits[name];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Invalid synth option "${name}": expected an integer from ${min} to ${max}, got ${String(value)}.`,
    );
  }
  return value;
}

/** Ratings are simulated in memory; this caps them at about 5 million (each rater rates 10-40% of images). */
export const maxImagesTimesRaters = 20_000_000;

/** Fills defaults and checks every option; throws a RangeError naming the first bad one. */
export function resolveSynthOptions(options: Partial<SynthOptions> = {}): SynthOptions {
  const merged = { ...defaultSynthOptions, ...stripUndefined(options) };
  const classes: unknown = merged.classes;
  if (classes !== 5 && classes !== 7) {
    throw new RangeError(`Invalid synth option "classes": expected 5 or 7, got ${String(classes)}.`);
  }
  if (merged.onProgress !== undefined && typeof merged.onProgress !== 'function') {
    throw new TypeError('Invalid synth option "onProgress": expected a function.');
  }
  const resolved: SynthOptions = {
    images: checkInteger('images', merged.images),
    raters: checkInteger('raters', merged.raters),
    seed: checkInteger('seed', merged.seed),
    size: checkInteger('size', merged.size),
    classes,
    onProgress: merged.onProgress,
  };
  if (resolved.images * resolved.raters > maxImagesTimesRaters) {
    throw new RangeError(
      `Invalid synth options "images" and "raters": images x raters must be at most ${maxImagesTimesRaters} ` +
        `(got ${resolved.images} x ${resolved.raters}); use fewer raters for a large image set.`,
    );
  }
  return resolved;
}

/** A CLI passes `undefined` for flags the user left out; those must not override the defaults. */
function stripUndefined(options: Partial<SynthOptions>): Partial<SynthOptions> {
  const out: Partial<SynthOptions> = {};
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined) (out as Record<string, unknown>)[key] = value;
  }
  return out;
}
