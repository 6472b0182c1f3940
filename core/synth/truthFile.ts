// The shape of truth.json: everything a later feature needs to check itself against a synthetic dataset.
// Field names are a contract with those features (and with files already written): add, never rename.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { AttributeWeights, PreferenceGroup } from './aestheticTruth.js';
import type { AttributeName, ImageAttributes } from './attributes.js';
import type { PixelBox } from './renderIllustration.js';
import type { RaterProfile } from './raters.js';

export interface SynthTruth {
  /** Format version of this file; bumped on incompatible changes. */
  version: 1;
  /** The seed everything was drawn from (same as options.seed). */
  seed: number;
  /** The options the dataset was generated with (progress listener left out). */
  options: { images: number; raters: number; seed: number; size: number; classes: 5 | 7 };
  /** The ordinal rating scale, inclusive: 1..5 or 1..7. */
  scale: { min: number; max: number };
  /** Attribute names in a fixed order; every attribute is normalised to [0, 1]. */
  attributes: AttributeName[];
  /**
   * Signed weights of the linear truth (see aestheticTruth.ts): score = sum w*a + sum over negative w of |w|,
   * |w| summing to 1, so scores lie in [0, 1]. population drives trueScore; groups drive the raters.
   */
  weights: { population: AttributeWeights; groups: Record<PreferenceGroup, AttributeWeights> };
  images: SynthImageTruth[];
  raters: SynthRaterTruth[];
  /** Ratings deliberately replaced by their mirror value; ratings.csv holds the flipped value. */
  flipped: SynthFlippedRating[];
}

export interface SynthImageTruth {
  /** File name under images/, as ratings.csv names it (e.g. "img_00001.png"). */
  file: string;
  /** Pixel size of the written file. */
  width: number;
  height: number;
  /** The attributes that produced the image, each in [0, 1]. */
  attributes: ImageAttributes;
  /** The population truth score in [0, 1]. */
  trueScore: number;
  /** trueScore's class on the scale, assigned by rank with bell-shaped class shares. */
  trueClass: number;
  /** The subject figure's box in pixels of the written image. */
  subjectBox: PixelBox;
}

/** A simulated rater as truth.json records it: the same profile the generator rated with. */
export type SynthRaterTruth = RaterProfile;

export interface SynthFlippedRating {
  /** Image file name, as in ratings.csv. */
  image: string;
  /** Rater name, as in ratings.csv. */
  rater: string;
  /** The score the rater would have given. */
  original: number;
  /** The score written to ratings.csv: scale.min + scale.max - original. */
  flipped: number;
}

export const truthFileName = 'truth.json';
export const ratingsFileName = 'ratings.csv';
export const imagesFolderName = 'images';

/** Reads a synth dataset's truth.json, refusing files of another format version. */
export async function readSynthTruth(datasetDir: string): Promise<SynthTruth> {
  const file = path.join(datasetDir, truthFileName);
  const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
  if (typeof parsed !== 'object' || parsed === null || (parsed as { version?: unknown }).version !== 1) {
    throw new Error(`${file}: not a synth truth file of version 1; regenerate it with \`miru synth\`.`);
  }
  return parsed as SynthTruth;
}
