// Simulated raters. Each non-spammer belongs to a preference group and sees an image through that group's
// weights: its perceived quality is the image's rank position (0..1) under the group's score, shifted by the
// rater's own bias and jittered by its own noise, then cut into classes with the same bell-shaped proportions
// as the true classes. Working on rank positions makes every group use the whole scale alike, so groups differ
// in *which* images they like, not in how generous they are (that is what bias is for).
//
// Oddities, each recorded in truth.json so later checks can find them:
// - spammers (about 7%, at least 1 when there are 10 or more raters) rate uniformly at random;
// - partial-scale raters (about 10%, at least 1 when there are 10 or more) clamp to a sub-range such as 2..4;
// - about 3% of non-spammer ratings are flipped to the mirror value (min + max - v) where that differs.
import type { PreferenceGroup } from './aestheticTruth.js';
import { classOfQuantile, preferenceGroupNames } from './aestheticTruth.js';
import { SeededRandom } from './random.js';

export interface RaterProfile {
  name: string;
  /** Preference group; null for spammers, who follow no preference. */
  group: PreferenceGroup | null;
  /** Added to the rank position (0..1) before cutting into classes; positive rates generously. 0 for spammers. */
  bias: number;
  /** Standard deviation of the per-rating jitter, in rank-position units. 0 for spammers (they are all noise). */
  noise: number;
  spammer: boolean;
  /** The classes this rater uses, inclusive; the full scale except for partial-scale raters. */
  scaleRange: [number, number];
}

export interface SimulatedRating {
  /** Index into the image list. */
  image: number;
  /** Index into the rater list. */
  rater: number;
  score: number;
  /** ISO 8601 time of the rating. */
  time: string;
}

export interface FlippedRatingRef {
  image: number;
  rater: number;
  original: number;
  flipped: number;
}

export const spammerShare = 0.07;
export const partialScaleShare = 0.1;
export const flippedShare = 0.03;
/** Each rater rates this share of all images, drawn per rater. */
export const coverageRange: [number, number] = [0.1, 0.4];
/** Images rated by fewer raters get extra raters added, so every image has a few ratings. */
export const minRatingsPerImage = 3;

/** Ratings happen within 60 days from this moment; a fixed start keeps timestamps reproducible. */
const ratingEpochMs = Date.UTC(2024, 0, 1);

function raterName(index: number, count: number): string {
  return `rater_${String(index + 1).padStart(Math.max(3, String(count).length), '0')}`;
}

function round4(value: number): number {
  return Math.round(value * 1e4) / 1e4;
}

export function makeRaters(count: number, classes: 5 | 7, seed: number): RaterProfile[] {
  const rng = SeededRandom.derive(seed, 'raters');
  const spammers = count >= 10 ? Math.max(1, Math.round(spammerShare * count)) : 0;
  const partial = count >= 10 ? Math.max(1, Math.round(partialScaleShare * count)) : 0;
  const order = rng.shuffle(Array.from({ length: count }, (_, i) => i));
  const spammerSet = new Set(order.slice(0, spammers));
  const nonSpammers = order.slice(spammers);
  const partialSet = new Set(nonSpammers.slice(0, partial));
  // Round-robin over a shuffled order keeps group sizes within one of each other.
  const groupOf = new Map<number, PreferenceGroup>();
  rng.shuffle(nonSpammers.slice()).forEach((rater, k) => groupOf.set(rater, preferenceGroupNames[k % preferenceGroupNames.length]));

  const raters: RaterProfile[] = [];
  for (let i = 0; i < count; i++) {
    const own = SeededRandom.derive(seed, 'rater', i);
    const name = raterName(i, count);
    if (spammerSet.has(i)) {
      raters.push({ name, group: null, bias: 0, noise: 0, spammer: true, scaleRange: [1, classes] });
      continue;
    }
    const bias = round4(Math.max(-0.15, Math.min(0.15, own.normal(0, 0.06))));
    const noise = round4(own.uniform(0.05, 0.15));
    let scaleRange: [number, number] = [1, classes];
    if (partialSet.has(i)) {
      // Three of five classes (2..4 style) or four of seven; where the window sits is the rater's habit.
      const span = classes === 5 ? 2 : 3;
      const lo = own.int(1, classes - span);
      scaleRange = [lo, lo + span];
    }
    raters.push({ name, group: groupOf.get(i) ?? null, bias, noise, spammer: false, scaleRange });
  }
  return raters;
}

/** Which images each rater rates: a random share per rater, topped up so each image has a few ratings. */
function chooseRatedImages(raters: readonly RaterProfile[], imageCount: number, seed: number): number[][] {
  const rng = SeededRandom.derive(seed, 'coverage');
  const all = Array.from({ length: imageCount }, (_, i) => i);
  const chosen = raters.map(() => {
    const share = rng.uniform(coverageRange[0], coverageRange[1]);
    return new Set(rng.sample(all, Math.round(share * imageCount)));
  });
  const target = Math.min(minRatingsPerImage, raters.length);
  for (let image = 0; image < imageCount; image++) {
    let have = chosen.reduce((sum, set) => sum + (set.has(image) ? 1 : 0), 0);
    if (have >= target) continue;
    // Prefer real raters for the top-up: an image whose only ratings are random ones is no use to anybody.
    const missing = raters.map((_, r) => r).filter((r) => !chosen[r].has(image));
    const candidates = [
      ...rng.shuffle(missing.filter((r) => !raters[r].spammer)),
      ...rng.shuffle(missing.filter((r) => raters[r].spammer)),
    ];
    for (const r of candidates) {
      if (have >= target) break;
      chosen[r].add(image);
      have++;
    }
  }
  return chosen.map((set) => [...set].sort((a, b) => a - b));
}

/**
 * @param rankPositions per group, each image's rank position (0..1) under that group's weighted score
 * @returns ratings ordered by rater then time, and the flipped ones (already applied to `ratings`)
 */
export function simulateRatings(
  raters: readonly RaterProfile[],
  rankPositions: Readonly<Record<PreferenceGroup, readonly number[]>>,
  imageCount: number,
  classes: 5 | 7,
  seed: number,
): { ratings: SimulatedRating[]; flipped: FlippedRatingRef[] } {
  const rated = chooseRatedImages(raters, imageCount, seed);
  const ratings: SimulatedRating[] = [];
  raters.forEach((rater, r) => {
    const rng = SeededRandom.derive(seed, 'ratings', r);
    // A rater works through its images in its own order, a few seconds to a minute and a half apiece.
    const order = rng.shuffle(rated[r].slice());
    let t = ratingEpochMs + rng.int(0, 60 * 86400) * 1000;
    for (const image of order) {
      t += rng.int(4, 90) * 1000;
      let score: number;
      if (rater.spammer || rater.group === null) {
        score = rng.int(1, classes);
      } else {
        const perceived = rankPositions[rater.group][image] + rater.bias + rng.normal(0, rater.noise);
        score = classOfQuantile(perceived, classes);
        score = Math.min(rater.scaleRange[1], Math.max(rater.scaleRange[0], score));
      }
      ratings.push({ image, rater: r, score, time: new Date(t).toISOString() });
    }
  });

  const flipRng = SeededRandom.derive(seed, 'flips');
  const eligible: number[] = [];
  ratings.forEach((x, i) => {
    if (!raters[x.rater].spammer && 1 + classes - x.score !== x.score) eligible.push(i);
  });
  const flipCount = Math.min(eligible.length, Math.round(flippedShare * ratings.length));
  // Sorted by position so the truth file lists them in the CSV's order.
  const flipped = flipRng
    .sample(eligible, flipCount)
    .sort((a, b) => a - b)
    .map((i) => {
      const rating = ratings[i];
      const original = rating.score;
      rating.score = 1 + classes - original;
      return { image: rating.image, rater: rating.rater, original, flipped: rating.score };
    });
  return { ratings, flipped };
}
