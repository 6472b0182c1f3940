/**
 * Map arithmetic every method shares: the CAM family's final step (ReLU, then per-image min-max, as
 * pytorch-grad-cam's scale_cam_image) and a channel-weighted sum of activations.
 */
import type { ActivationMap } from './explainTypes.js';

/** ReLU then min-max to 0..1; an all-zero (or constant) map stays all zeros rather than dividing by zero. */
export function reluMinMax(raw: Float32Array): Float32Array {
  const out = new Float32Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw[i]! > 0 ? raw[i]! : 0;
  return minMax(out);
}

/**
 * Min-max to 0..1: (v - min) / (max - min + epsilon). pytorch-grad-cam uses 1e-7 for final maps (scale_cam_image)
 * and 1e-8 for Score-CAM's per-channel masks.
 */
export function minMax(values: Float32Array, epsilon = 1e-7): Float32Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const out = new Float32Array(values.length);
  const span = hi - lo;
  if (!(span > 0)) return out;
  for (let i = 0; i < values.length; i++) out[i] = (values[i]! - lo) / (span + epsilon);
  return out;
}

/** sum_k weights[k] * A_k, an h*w map. */
export function weightedSum(acts: ActivationMap, weights: ArrayLike<number>): Float32Array {
  const plane = acts.height * acts.width;
  const out = new Float32Array(plane);
  for (let k = 0; k < acts.channels; k++) {
    const w = weights[k]!;
    if (w === 0) continue;
    const base = k * plane;
    for (let i = 0; i < plane; i++) out[i] += w * acts.data[base + i]!;
  }
  return out;
}
