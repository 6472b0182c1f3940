// The ground-truth aesthetic function and the ordinal scale.
//
// Formula. With attributes a_k in [0, 1] and signed weights w_k whose absolute values sum to 1:
//
//     score(a) = sum_k w_k * a_k  +  sum_{k: w_k < 0} |w_k|
//
// The second term shifts the score so it spans exactly [0, 1] (a negative weight, like noise's, counts 1 - a_k).
// It is linear on purpose: attributes are independent and uniform, so a regression of ratings on attributes
// recovers the weights' order, which is what attribution features get checked against.
//
// Groups. Raters belong to preference groups, each with its own weights (below). The population weights, the
// ones behind trueScore, are the mean of the group weights: what a rater of a random group values on average.
// subjectX and subjectY have weight 0 everywhere: they are null controls that an attribution must not pick up.
import type { AttributeName, ImageAttributes } from './attributes.js';
import { attributeNames } from './attributes.js';

export type AttributeWeights = Record<AttributeName, number>;

export const preferenceGroupNames = ['vivid', 'clean', 'composition'] as const;
export type PreferenceGroup = (typeof preferenceGroupNames)[number];

// Each group's top three (by |weight|) are distinct and well separated from its fourth, so each group's top 3
// can be recovered in order: vivid = saturation > contrast > harmony; clean = sharpness > noise(-) > harmony;
// composition = subjectSize > symmetry > resolution.
export const groupWeights: Readonly<Record<PreferenceGroup, Readonly<AttributeWeights>>> = {
  vivid: {
    saturation: 0.42, contrast: 0.26, harmony: 0.14, sharpness: 0.05, resolution: 0.04,
    subjectSize: 0.03, symmetry: 0.03, noise: -0.03, subjectX: 0, subjectY: 0,
  },
  clean: {
    sharpness: 0.34, noise: -0.26, harmony: 0.16, resolution: 0.08, contrast: 0.06,
    saturation: 0.04, subjectSize: 0.03, symmetry: 0.03, subjectX: 0, subjectY: 0,
  },
  composition: {
    subjectSize: 0.4, symmetry: 0.26, resolution: 0.14, harmony: 0.07, sharpness: 0.05,
    contrast: 0.04, saturation: 0.02, noise: -0.02, subjectX: 0, subjectY: 0,
  },
};

/** Weights in the fixed attribute order, so truth.json lists them the same way every time. */
function ordered(weights: Readonly<AttributeWeights>): AttributeWeights {
  const out = {} as AttributeWeights;
  for (const name of attributeNames) out[name] = Math.round(weights[name] * 1e6) / 1e6;
  return out;
}

export const populationWeights: Readonly<AttributeWeights> = ordered(
  Object.fromEntries(
    attributeNames.map((name) => [
      name,
      preferenceGroupNames.reduce((sum, group) => sum + groupWeights[group][name], 0) / preferenceGroupNames.length,
    ]),
  ) as AttributeWeights,
);

export function orderedGroupWeights(): Record<PreferenceGroup, AttributeWeights> {
  const out = {} as Record<PreferenceGroup, AttributeWeights>;
  for (const group of preferenceGroupNames) out[group] = ordered(groupWeights[group]);
  return out;
}

/** The formula above; in [0, 1] for any attributes in [0, 1]. */
export function weightedScore(attributes: ImageAttributes, weights: Readonly<AttributeWeights>): number {
  let total = 0;
  let absSum = 0;
  for (const name of attributeNames) {
    const w = weights[name];
    total += w * attributes[name] + (w < 0 ? -w : 0);
    absSum += Math.abs(w);
  }
  // Dividing by the absolute sum keeps the [0, 1] range even if weights are edited and no longer sum to 1.
  return absSum > 0 ? total / absSum : 0;
}

/**
 * Share of each class, lowest first. Bell-shaped like real aesthetics datasets: middle classes common,
 * extremes rare but present.
 */
export function classProportions(classes: 5 | 7): number[] {
  return classes === 5 ? [0.1, 0.2, 0.4, 0.2, 0.1] : [0.05, 0.1, 0.2, 0.3, 0.2, 0.1, 0.05];
}

/** Cumulative upper bounds of classProportions: class c (1-based) covers quantiles up to cuts[c - 1]. */
export function quantileCuts(classes: 5 | 7): number[] {
  let acc = 0;
  return classProportions(classes).map((p) => (acc += p));
}

/** The class (1..classes) of a quantile position q; values outside [0, 1] fall into the end classes. */
export function classOfQuantile(q: number, classes: 5 | 7): number {
  const cuts = quantileCuts(classes);
  for (let c = 0; c < cuts.length - 1; c++) if (q < cuts[c]) return c + 1;
  return classes;
}

/**
 * Classes by rank: the lowest-scoring images get class 1 in the proportions of classProportions. Counts are
 * rounded with at least one image per class whenever there are at least as many images as classes, so every
 * class is used; ties in score go by image order, which keeps it deterministic.
 */
export function classesByRank(scores: readonly number[], classes: 5 | 7): number[] {
  const n = scores.length;
  const proportions = classProportions(classes);
  const counts = proportions.map((p) => Math.round(p * n));
  if (n >= classes) for (let c = 0; c < classes; c++) counts[c] = Math.max(1, counts[c]);
  // Absorb rounding differences in the largest (middle) classes, never pushing a class below its floor.
  const floor = n >= classes ? 1 : 0;
  let diff = n - counts.reduce((a, b) => a + b, 0);
  const byShare = proportions.map((p, c) => ({ p, c })).sort((x, y) => y.p - x.p || x.c - y.c);
  for (let i = 0; diff !== 0; i = (i + 1) % classes) {
    const c = byShare[i].c;
    if (diff > 0) {
      counts[c]++;
      diff--;
    } else if (counts[c] > floor) {
      counts[c]--;
      diff++;
    }
  }
  const order = scores.map((s, i) => ({ s, i })).sort((x, y) => x.s - y.s || x.i - y.i);
  const out = new Array<number>(n);
  let rank = 0;
  for (let c = 0; c < classes; c++) {
    for (let k = 0; k < counts[c]; k++) out[order[rank++].i] = c + 1;
  }
  return out;
}

/** Rank positions in (0, 1) of each score among all scores: (rank + 0.5) / n, ties broken by index. */
export function quantilePositions(scores: readonly number[]): number[] {
  const n = scores.length;
  const order = scores.map((s, i) => ({ s, i })).sort((x, y) => x.s - y.s || x.i - y.i);
  const out = new Array<number>(n);
  order.forEach(({ i }, rank) => (out[i] = (rank + 0.5) / n));
  return out;
}
