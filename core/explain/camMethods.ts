/**
 * The gradient CAM family from a layer's activations A and the target's gradient G (both C x h x w), as
 * pytorch-grad-cam defines them. Each returns the raw map sum_k w_k A_k (or its elementwise form) before ReLU
 * and normalisation; saliencyMaps.reluMinMax finishes it.
 */
import type { ActivationMap } from './explainTypes.js';
import { weightedSum } from './saliencyMaps.js';

export const GRADIENT_CAMS = ['gradcam', 'hirescam', 'xgradcam', 'gradcam++', 'layercam'] as const;
export type GradientCam = (typeof GRADIENT_CAMS)[number];

/** Grad-CAM weights from the per-channel sums a numeric fallback measures (see numericGradients.ts). */
export function camFromChannelWeights(acts: ActivationMap, weights: Float64Array): Float32Array {
  return weightedSum(acts, weights);
}

export function gradientCam(method: GradientCam, acts: ActivationMap, grads: ActivationMap): Float32Array {
  const plane = acts.height * acts.width;
  const a = acts.data;
  const g = grads.data;
  switch (method) {
    case 'gradcam':
      return weightedSum(acts, channelReduce(acts.channels, plane, (k, i) => g[k * plane + i]!, 1 / plane));
    case 'xgradcam': {
      const weights = new Float64Array(acts.channels);
      for (let k = 0; k < acts.channels; k++) {
        let sumAG = 0;
        let sumA = 0;
        for (let i = 0; i < plane; i++) {
          sumAG += a[k * plane + i]! * g[k * plane + i]!;
          sumA += a[k * plane + i]!;
        }
        weights[k] = sumAG / (sumA + 1e-7);
      }
      return weightedSum(acts, weights);
    }
    case 'gradcam++': {
      // Chattopadhay et al. with the exponential-output simplification pytorch-grad-cam uses:
      // a = g^2 / (2 g^2 + sum_ij(A) g^3), w_k = sum_ij relu(g) a.
      const weights = new Float64Array(acts.channels);
      for (let k = 0; k < acts.channels; k++) {
        let sumA = 0;
        for (let i = 0; i < plane; i++) sumA += a[k * plane + i]!;
        let w = 0;
        for (let i = 0; i < plane; i++) {
          const gi = g[k * plane + i]!;
          if (gi === 0) continue;
          const g2 = gi * gi;
          const alpha = g2 / (2 * g2 + sumA * g2 * gi + 1e-7);
          w += Math.max(gi, 0) * alpha;
        }
        weights[k] = w;
      }
      return weightedSum(acts, weights);
    }
    case 'hirescam':
    case 'layercam': {
      const out = new Float32Array(plane);
      const relu = method === 'layercam';
      for (let k = 0; k < acts.channels; k++) {
        for (let i = 0; i < plane; i++) {
          const gi = g[k * plane + i]!;
          out[i] += (relu && gi < 0 ? 0 : gi) * a[k * plane + i]!;
        }
      }
      return out;
    }
  }
}

function channelReduce(channels: number, plane: number, value: (k: number, i: number) => number, factor: number): Float64Array {
  const out = new Float64Array(channels);
  for (let k = 0; k < channels; k++) {
    let s = 0;
    for (let i = 0; i < plane; i++) s += value(k, i);
    out[k] = s * factor;
  }
  return out;
}
