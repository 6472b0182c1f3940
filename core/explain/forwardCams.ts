/**
 * Forward-only CAM methods (issue 4): Ablation-CAM, Score-CAM and Eigen-CAM, following pytorch-grad-cam
 * (jacobgil/pytorch-grad-cam). They need no gradients: Ablation-CAM scores the head on modified activations,
 * Score-CAM scores the whole model on masked inputs, Eigen-CAM only looks at the activations.
 * Each returns the raw map at the activation grid; reluMinMax (saliencyMaps.ts) is the caller's last step.
 */
import type { ActivationMap, ActivationScorer, InputImage, InputScorer, RawMap } from './explainTypes.js';
import { checkInput, maskInput, scoreInBatches } from './perturbationMethods.js';
import { SeededRandom } from '../synth/random.js';
import { minMax, weightedSum } from './saliencyMaps.js';
import { upsampleBilinear } from './upsample.js';

/** A raw map with the per-channel weights that made it (sum_k weights[k] * A_k). */
export interface WeightedRawMap extends RawMap {
  weights: Float32Array;
}

function checkActivations(acts: ActivationMap, what: string): void {
  const expected = acts.channels * acts.height * acts.width;
  if (acts.data.length !== expected || expected === 0) {
    throw new Error(`${what}: the activation map has ${acts.data.length} values, not ${acts.channels}x${acts.height}x${acts.width} = ${expected}`);
  }
}

/**
 * Ablation-CAM (Desai & Ramaswamy, WACV 2020): channel k set to 0, weight_k = (y - y_k) / y, raw = sum_k w_k A_k.
 * pytorch-grad-cam ablates to min(A) - 1e7 when activations can be negative; we keep the paper's 0, which is
 * "channel absent" for any layer and keeps the head in the range it was trained on.
 * y is divided by its magnitude: for y < 0 (a logit, a regression score) dividing by y itself would flip every
 * weight and invert the map; for y = 0 the weights are the plain drops y - y_k. Either way only a positive scale
 * changes, which the final min-max removes.
 */
export async function ablationCam(
  acts: ActivationMap,
  baseScore: number,
  scoreActs: ActivationScorer,
  options: { batch?: number } = {},
): Promise<WeightedRawMap> {
  const what = 'Ablation-CAM';
  checkActivations(acts, what);
  if (!Number.isFinite(baseScore)) throw new Error(`${what}: the base score is ${baseScore}; score the unmodified activations first`);
  const plane = acts.height * acts.width;
  const ablated = await scoreInBatches(
    acts.channels,
    (k) => {
      const copy = acts.data.slice();
      copy.fill(0, k * plane, (k + 1) * plane);
      return copy;
    },
    scoreActs,
    { batch: options.batch, what },
  );
  const scale = baseScore !== 0 ? Math.abs(baseScore) : 1;
  const weights = new Float32Array(acts.channels);
  for (let k = 0; k < acts.channels; k++) weights[k] = (baseScore - ablated[k]!) / scale;
  return { grid: [acts.height, acts.width], raw: weightedSum(acts, weights), weights };
}

/**
 * Score-CAM (Wang et al., CVPR-W 2020), as pytorch-grad-cam's ScoreCAM: each A_k upsampled bilinearly to the
 * input size with align_corners=True (its nn.UpsamplingBilinear2d), min-max normalised per channel, the input
 * multiplied by it, scored; weights = softmax over channels of the scores; raw = sum_k w_k A_k.
 * The mask moves pixels toward InputImage.baseline (maskInput; tensor zero, as the reference multiplies the
 * normalised tensor by the mask).
 */
export async function scoreCam(
  input: InputImage,
  acts: ActivationMap,
  scoreInputs: InputScorer,
  options: { batch?: number } = {},
): Promise<WeightedRawMap> {
  const what = 'Score-CAM';
  checkActivations(acts, what);
  checkInput(input, what);
  const plane = acts.height * acts.width;
  const scores = await scoreInBatches(
    acts.channels,
    (k) => {
      const channel = acts.data.subarray(k * plane, (k + 1) * plane);
      const upsampled = upsampleBilinear(channel, [acts.height, acts.width], [input.height, input.width], { alignCorners: true });
      // pytorch-grad-cam divides by (max - min + 1e-8): a constant channel becomes an all-zero mask.
      return maskInput(input, minMax(upsampled, 1e-8));
    },
    scoreInputs,
    { batch: options.batch, what },
  );
  const weights = softmax(scores);
  return { grid: [acts.height, acts.width], raw: weightedSum(acts, weights), weights };
}

function softmax(values: Float32Array): Float32Array {
  let max = -Infinity;
  for (const v of values) max = Math.max(max, v);
  let sum = 0;
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const e = Math.exp(values[i]! - max);
    out[i] = e;
    sum += e;
  }
  for (let i = 0; i < out.length; i++) out[i]! /= sum;
  return out;
}

// -------------------------------------------------------------------------------------------------- Eigen-CAM

/** Power iterations stop when the vector moves less than this (an angle of about 1e-9 rad)... */
const POWER_TOLERANCE = 1e-9;
/** ...or after this many (each costs n^2 for n = min(h * w, C) <= 1024 or so: ~0.5 s at n = 1024). */
const POWER_MAX_ITERATIONS = 500;

/**
 * Eigen-CAM (Muhammad & Yeasin, IJCNN 2020), as pytorch-grad-cam's get_2d_projection: activations as an
 * (h*w) x C matrix X, each channel centred by its mean over positions, projected on the first right singular
 * vector v1: raw = X v1 (= sigma1 u1).
 *
 * Sign: an SVD's singular vectors are defined up to sign, and pytorch-grad-cam keeps whatever LAPACK returns, so
 * its map can come out inverted (the subject cold). We flip the projection so it correlates positively with the
 * channel-summed activations, the map a layer "shows" without any weighting.
 *
 * How: power iteration on the smaller Gram matrix (X X^T, h*w square, or X^T X, C square), whose top eigenvector
 * is u1 or v1. A full SVD (ml-matrix) takes 4.4 s on a ViT's 784 x 768 map and computes every vector where one
 * is needed; the Gram matrix costs one pass and each iteration n^2. Power iteration converges as
 * (sigma2 / sigma1)^(2k): exact to float error when the first component stands out; where sigma2 ~ sigma1 the
 * first component itself is ill-defined (any SVD's choice there is arbitrary under noise), and 500 iterations
 * still return a vector in the top singular subspace.
 */
export function eigenCam(acts: ActivationMap): RawMap {
  checkActivations(acts, 'Eigen-CAM');
  const C = acts.channels;
  const n = acts.height * acts.width;
  // X[i, k] = A_k(i) - mean_i A_k, stored channel-major like the activations (x[k * n + i]); NaN -> 0 as the reference.
  const x = new Float64Array(C * n);
  for (let k = 0; k < C; k++) {
    let mean = 0;
    for (let i = 0; i < n; i++) {
      const v = acts.data[k * n + i]!;
      const value = Number.isNaN(v) ? 0 : v;
      x[k * n + i] = value;
      mean += value;
    }
    mean /= n;
    for (let i = 0; i < n; i++) x[k * n + i] -= mean;
  }
  const projection = new Float64Array(n);
  if (n <= C) {
    // u1 from X X^T (n x n); X v1 = sigma1 u1 with sigma1 = sqrt(lambda1).
    const gram = new Float64Array(n * n);
    for (let k = 0; k < C; k++) {
      const row = k * n;
      for (let i = 0; i < n; i++) {
        const xi = x[row + i]!;
        if (xi === 0) continue;
        for (let j = i; j < n; j++) gram[i * n + j] += xi * x[row + j]!;
      }
    }
    mirrorUpper(gram, n);
    const { vector, value } = topEigenvector(gram, n);
    const sigma = Math.sqrt(Math.max(value, 0));
    for (let i = 0; i < n; i++) projection[i] = sigma * vector[i]!;
  } else {
    // v1 from X^T X (C x C), then X v1 directly.
    const gram = new Float64Array(C * C);
    for (let a = 0; a < C; a++) {
      for (let b = a; b < C; b++) {
        let dot = 0;
        for (let i = 0; i < n; i++) dot += x[a * n + i]! * x[b * n + i]!;
        gram[a * C + b] = dot;
      }
    }
    mirrorUpper(gram, C);
    const { vector } = topEigenvector(gram, C);
    for (let k = 0; k < C; k++) {
      const vk = vector[k]!;
      for (let i = 0; i < n; i++) projection[i] += x[k * n + i]! * vk;
    }
  }
  // Sign: positive correlation with sum_k A_k. The projection has zero mean, so the covariance is a plain dot.
  let correlation = 0;
  for (let i = 0; i < n; i++) {
    let summed = 0;
    for (let k = 0; k < C; k++) summed += acts.data[k * n + i]! || 0;
    correlation += projection[i]! * summed;
  }
  const sign = correlation < 0 ? -1 : 1;
  const raw = new Float32Array(n);
  for (let i = 0; i < n; i++) raw[i] = sign * projection[i]!;
  return { grid: [acts.height, acts.width], raw };
}

function mirrorUpper(matrix: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) matrix[i * n + j] = matrix[j * n + i]!;
}

/**
 * The top eigenpair of a symmetric positive semi-definite n x n matrix by power iteration. The start is the
 * column with the largest diagonal (for a Gram matrix, the direction with the most energy) plus a small seeded
 * jitter, so it is deterministic and not orthogonal to the top eigenvector even where that column is.
 */
function topEigenvector(matrix: Float64Array, n: number): { vector: Float64Array; value: number } {
  let start = 0;
  let best = -1;
  for (let j = 0; j < n; j++) {
    const d = matrix[j * n + j]!; // a column's squared norm is largest where its diagonal is, for a Gram matrix
    if (d > best) {
      best = d;
      start = j;
    }
  }
  let v = new Float64Array(n);
  const jitter = new SeededRandom(0);
  const scale = 1e-3 * Math.max(best, 0); // |G_ij| <= max_j G_jj for a PSD matrix: the jitter is small next to the column
  for (let i = 0; i < n; i++) v[i] = matrix[i * n + start]! + scale * jitter.normal();
  if (!normalise(v)) return { vector: new Float64Array(n), value: 0 };
  let value = 0;
  for (let iteration = 0; iteration < POWER_MAX_ITERATIONS; iteration++) {
    const next = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let sum = 0;
      const row = i * n;
      for (let j = 0; j < n; j++) sum += matrix[row + j]! * v[j]!;
      next[i] = sum;
    }
    value = 0;
    for (let i = 0; i < n; i++) value += next[i]! * v[i]!;
    if (!normalise(next)) return { vector: new Float64Array(n), value: 0 };
    let change = 0;
    for (let i = 0; i < n; i++) change += (next[i]! - v[i]!) ** 2;
    v = next;
    if (Math.sqrt(change) < POWER_TOLERANCE) break;
  }
  return { vector: v, value };
}

function normalise(v: Float64Array): boolean {
  let norm = 0;
  for (const x of v) norm += x * x;
  norm = Math.sqrt(norm);
  if (!(norm > 0)) return false;
  for (let i = 0; i < v.length; i++) v[i]! /= norm;
  return true;
}
