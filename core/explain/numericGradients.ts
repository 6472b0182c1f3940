/**
 * The numeric fallback (issue 4): Grad-CAM needs only per-channel sums of the gradient, and a directional
 * derivative measures each sum directly. Shifting channel k by eps everywhere on the grid changes the target by
 * eps * sum_ij G_kij; scaling it by (1 + eps) changes it by eps * sum_ij A_kij G_kij (XGrad-CAM's numerator).
 * Central differences make both exact up to O(eps^2) and float error, for any head, with 2C head runs batched.
 */
import type { LayerLayout } from './layerMaps.js';
import { fromActivationMap, toActivationMap } from './layerMaps.js';
import type { ActivationMap } from './explainTypes.js';

/** Scores a batch of layer tensors (one image each, in the layer's own layout) through the head. */
export type LayerScorer = (layers: Float32Array[]) => Promise<Float32Array>;

export type DifferenceMode = 'shift' | 'scale';

/**
 * Per channel: sum_ij G_k (shift) or sum_ij A_k G_k (scale), by central differences.
 * `layer` is one image's layer values in the layer's layout.
 */
export async function channelSumsByDifferences(layer: Float32Array, layout: LayerLayout, scoreLayers: LayerScorer, mode: DifferenceMode, batch = 32): Promise<Float64Array> {
  const acts = toActivationMap(layer, layout, 0);
  const plane = acts.height * acts.width;
  // Step: 1e-2 of the layer's RMS for a shift (large enough that float32 rounding of the score stays far below
  // the change, small enough that curvature does not matter), 1e-2 relative for a scale.
  let sumSquares = 0;
  for (const v of acts.data) sumSquares += v * v;
  const rms = Math.sqrt(sumSquares / acts.data.length) || 1;
  const eps = mode === 'shift' ? 1e-2 * rms : 1e-2;
  const perturbed = (k: number, sign: 1 | -1): Float32Array => {
    const map = Float32Array.from(acts.data);
    for (let i = k * plane; i < (k + 1) * plane; i++) map[i] = mode === 'shift' ? map[i]! + sign * eps : map[i]! * (1 + sign * eps);
    return fromActivationMap(map, layer, layout);
  };
  const jobs: { k: number; sign: 1 | -1 }[] = [];
  for (let k = 0; k < acts.channels; k++) jobs.push({ k, sign: 1 }, { k, sign: -1 });
  const plus = new Float64Array(acts.channels);
  const minus = new Float64Array(acts.channels);
  for (let start = 0; start < jobs.length; start += batch) {
    const slice = jobs.slice(start, start + batch);
    const scores = await scoreLayers(slice.map((j) => perturbed(j.k, j.sign)));
    slice.forEach((j, i) => ((j.sign === 1 ? plus : minus)[j.k] = scores[i]!));
  }
  const sums = new Float64Array(acts.channels);
  for (let k = 0; k < acts.channels; k++) sums[k] = (plus[k]! - minus[k]!) / (2 * eps);
  return sums;
}

/** Grad-CAM or XGrad-CAM channel weights from the measured sums. */
export function weightsFromSums(method: 'gradcam' | 'xgradcam', sums: Float64Array, acts: ActivationMap): Float64Array {
  const plane = acts.height * acts.width;
  const weights = new Float64Array(acts.channels);
  for (let k = 0; k < acts.channels; k++) {
    if (method === 'gradcam') weights[k] = sums[k]! / plane;
    else {
      let sumA = 0;
      for (let i = k * plane; i < (k + 1) * plane; i++) sumA += acts.data[i]!;
      weights[k] = sums[k]! / (sumA + 1e-7);
    }
  }
  return weights;
}
