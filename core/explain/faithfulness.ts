/**
 * Faithfulness metrics for saliency maps (issue 4): does the model's score follow the map?
 * - Deletion and insertion AUC, the RISE protocol (Petsiuk et al. 2018, their evaluation.py CausalMetric):
 *   pixels ranked by the map (upsampled to the input size), moved in equal steps from a start image to a finish
 *   image, the score recorded before the first step and after each; AUC by the trapezoid rule over the fraction
 *   0..1, normalised by the number of steps. Deletion goes from the input to the baseline (InputImage.baseline): a faithful map drops the
 *   score early (low AUC is good). Insertion goes from a Gaussian-blurred copy to the input: a faithful map
 *   brings the score back early (high AUC is good).
 * - Average drop and increase in confidence (Chattopadhay et al., Grad-CAM++, WACV 2018): the input masked by the
 *   map toward the baseline; drop = mean(max(0, y - o) / y) * 100, increase = % of images with o > y.
 * Every score goes through the caller's InputScorer, in batches.
 */
import type { InputImage, InputScorer } from './explainTypes.js';
import { checkBatch, checkInput, maskInput, pixelStrides, scoreInBatches } from './perturbationMethods.js';
import { upsampleBilinear } from './upsample.js';

/** One image, its map (any scale; 0-1 for the confidence metrics) and the map's [height, width]. */
export interface FaithfulnessCase {
  input: InputImage;
  map: Float32Array;
  grid: [number, number];
}

/** One deletion or insertion run. */
export interface CausalCurve {
  /** Fraction of pixels moved before each score: 0, 1/steps, ..., 1 (steps + 1 values). */
  fractions: Float32Array;
  /** The score at each fraction; scores[0] is the start image's. */
  scores: Float32Array;
  /** Trapezoid area under scores over fractions (RISE's auc()): in the score's units. */
  auc: number;
}

export interface CausalMetricOptions {
  /**
   * Number of steps (default 100); each moves ceil(pixels / steps) pixels, so a few fewer steps may be run when
   * that does not divide evenly (RISE fixes pixels per step instead; its 224 x 224 runs use 224 steps).
   */
  steps?: number;
  batch?: number;
  /** Insertion's blur (defaults as RISE: an 11-tap kernel, sigma 5, i.e. radius 5). */
  blurRadius?: number;
  blurSigma?: number;
}

/** Deletion: the input's pixels replaced by the baseline, most salient first. */
export async function deletionCurve(input: InputImage, map: Float32Array, grid: [number, number], score: InputScorer, options: CausalMetricOptions = {}): Promise<CausalCurve> {
  checkInput(input, 'deletion');
  return causalCurve(input, input.tensor, baselineTensor(input), map, grid, score, options, 'deletion');
}

/** Insertion: the input's pixels pasted onto a blurred copy, most salient first. */
export async function insertionCurve(input: InputImage, map: Float32Array, grid: [number, number], score: InputScorer, options: CausalMetricOptions = {}): Promise<CausalCurve> {
  checkInput(input, 'insertion');
  const blurred = gaussianBlur(input, options.blurRadius ?? 5, options.blurSigma ?? 5);
  return causalCurve(input, blurred, input.tensor, map, grid, score, options, 'insertion');
}

export interface CausalSummary {
  /** Mean AUC over the images. */
  meanAuc: number;
  curves: CausalCurve[];
}

/** Deletion and insertion for many images: mean AUCs and each image's curves. */
export async function deletionInsertion(
  cases: FaithfulnessCase[],
  score: InputScorer,
  options: CausalMetricOptions = {},
): Promise<{ deletion: CausalSummary; insertion: CausalSummary }> {
  if (cases.length === 0) throw new Error('deletion/insertion: no images given');
  const deletion: CausalCurve[] = [];
  const insertion: CausalCurve[] = [];
  for (const c of cases) {
    deletion.push(await deletionCurve(c.input, c.map, c.grid, score, options));
    insertion.push(await insertionCurve(c.input, c.map, c.grid, score, options));
  }
  const mean = (curves: CausalCurve[]) => curves.reduce((sum, curve) => sum + curve.auc, 0) / curves.length;
  return { deletion: { meanAuc: mean(deletion), curves: deletion }, insertion: { meanAuc: mean(insertion), curves: insertion } };
}

/** RISE's auc(): (sum - first / 2 - last / 2) / steps. */
export function trapezoidAuc(scores: ArrayLike<number>): number {
  const n = scores.length - 1;
  if (n < 1) throw new Error(`trapezoidAuc: a curve needs at least two points, got ${scores.length}`);
  let sum = 0;
  for (let i = 0; i < scores.length; i++) sum += scores[i]!;
  return (sum - scores[0]! / 2 - scores[n]! / 2) / n;
}

async function causalCurve(
  input: InputImage,
  start: Float32Array,
  finish: Float32Array,
  map: Float32Array,
  grid: [number, number],
  score: InputScorer,
  options: CausalMetricOptions,
  what: string,
): Promise<CausalCurve> {
  const requested = options.steps ?? 100;
  if (!Number.isInteger(requested) || requested < 1) throw new Error(`${what}: steps must be a positive integer, got ${options.steps}`);
  checkBatch(options.batch, what);
  const pixels = input.height * input.width;
  const order = salientOrder(map, grid, input);
  const perStep = Math.ceil(pixels / requested);
  const steps = Math.ceil(pixels / perStep);
  const { channel, pixel } = pixelStrides(input);
  const current = start.slice();
  const scores = await scoreInBatches(
    steps + 1,
    (index) => {
      // Called in order: tensor i has the first i steps of pixels moved.
      if (index > 0) {
        for (let r = (index - 1) * perStep; r < Math.min(index * perStep, pixels); r++) {
          const p = order[r]! * pixel;
          for (let c = 0; c < 3; c++) current[p + c * channel] = finish[p + c * channel]!;
        }
      }
      return current.slice();
    },
    score,
    { batch: options.batch, what },
  );
  const fractions = new Float32Array(steps + 1);
  for (let i = 0; i <= steps; i++) fractions[i] = i / steps;
  return { fractions, scores, auc: trapezoidAuc(scores) };
}

/** Pixel indices by decreasing map value (upsampled to the input size); ties keep the lower index first. */
function salientOrder(map: Float32Array, grid: [number, number], input: InputImage): Uint32Array {
  const values = grid[0] === input.height && grid[1] === input.width ? map : upsampleBilinear(map, grid, [input.height, input.width]);
  if (values.length !== input.height * input.width) throw new Error(`faithfulness: the map has ${map.length} values, not ${grid[0]}x${grid[1]}`);
  const order = new Uint32Array(values.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  // NaN ranks last: it says nothing about the pixel.
  const key = (i: number) => (Number.isNaN(values[i]!) ? -Infinity : values[i]!);
  order.sort((a, b) => key(b) - key(a) || a - b);
  return order;
}

function baselineTensor(input: InputImage): Float32Array {
  return maskInput(input, new Float32Array(input.height * input.width));
}

/**
 * A separable Gaussian blur of each tensor channel (RISE's insertion substrate). RISE convolves with zero padding,
 * which darkens the border toward the normalised tensor's 0 (the mean colour); here the kernel is renormalised
 * over the taps inside the image, so the border stays a blur of the image.
 */
export function gaussianBlur(input: InputImage, radius: number, sigma: number): Float32Array {
  if (!Number.isInteger(radius) || radius < 0) throw new Error(`gaussianBlur: radius must be a non-negative integer, got ${radius}`);
  if (!(sigma > 0)) throw new Error(`gaussianBlur: sigma must be positive, got ${sigma}`);
  const kernel = Array.from({ length: 2 * radius + 1 }, (_, i) => Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)));
  const { height: H, width: W } = input;
  const { channel, pixel } = pixelStrides(input);
  const out = new Float32Array(input.tensor.length);
  const line = new Float32Array(H * W);
  for (let c = 0; c < 3; c++) {
    const base = c * channel;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        let sum = 0;
        let weight = 0;
        for (let d = -radius; d <= radius; d++) {
          const xx = x + d;
          if (xx < 0 || xx >= W) continue;
          const k = kernel[d + radius]!;
          sum += k * input.tensor[base + (y * W + xx) * pixel]!;
          weight += k;
        }
        line[y * W + x] = sum / weight;
      }
    }
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        let sum = 0;
        let weight = 0;
        for (let d = -radius; d <= radius; d++) {
          const yy = y + d;
          if (yy < 0 || yy >= H) continue;
          const k = kernel[d + radius]!;
          sum += k * line[yy * W + x]!;
          weight += k;
        }
        out[base + (y * W + x) * pixel] = sum / weight;
      }
    }
  }
  return out;
}

// ----------------------------------------------------------------------------- average drop, increase in confidence

export interface ConfidenceOptions {
  batch?: number;
  /**
   * The score that means "no evidence" (default 0). Both scores are taken relative to it: y - reference and
   * o - reference. The paper's scores are class probabilities, where 0 is that point; for an ordinal expected
   * score it is the lowest class value, for a logit or a regression head the score of the baseline image is a good
   * choice.
   */
  reference?: number;
}

export interface ConfidenceChange {
  /** y: the score of the unmodified input. */
  score: number;
  /** o: the score of the input masked by the map. */
  maskedScore: number;
  /**
   * max(0, y - o) / (y - reference) * 100; null where y <= reference (see confidenceChange). Above 100 when the
   * masked score falls below the reference (o < reference), which a probability with reference 0 never does.
   */
  drop: number | null;
  /** o > y. */
  increased: boolean;
}

export interface ConfidenceSummary {
  /** Mean drop over the images with a positive score (percent); NaN when none has one. */
  averageDrop: number;
  /** Percent of all images whose masked score beats the original. */
  increaseInConfidence: number;
  perImage: ConfidenceChange[];
  /** Indices of images left out of averageDrop because y <= reference. */
  skipped: number[];
}

/**
 * Average drop and increase in confidence over images. The image is masked by its map in pixel space
 * (b + (t - b) * m with b the baseline, m the map upsampled to the input and clamped to 0..1), so pass maps normalised to
 * 0..1 (reluMinMax).
 * Scores that can be <= 0: the drop divides by y, which is meaningless (and flips sign) unless y is above the
 * reference. Such images are left out of averageDrop and listed in `skipped`; increase in confidence compares o
 * and y only, so it counts every image.
 */
export async function confidenceChange(cases: FaithfulnessCase[], score: InputScorer, options: ConfidenceOptions = {}): Promise<ConfidenceSummary> {
  const what = 'average drop';
  if (cases.length === 0) throw new Error(`${what}: no images given`);
  const reference = options.reference ?? 0;
  cases.forEach((c) => checkInput(c.input, what));
  // Tensor 2i is image i, 2i + 1 the same image masked: pairs share a batch whenever the batch size allows.
  const scores = await scoreInBatches(
    cases.length * 2,
    (index) => {
      const c = cases[index >> 1]!;
      if (index % 2 === 0) return c.input.tensor.slice();
      const { height: H, width: W } = c.input;
      const up = c.grid[0] === H && c.grid[1] === W ? c.map.slice() : upsampleBilinear(c.map, c.grid, [H, W]);
      for (let i = 0; i < up.length; i++) up[i] = Number.isNaN(up[i]!) ? 0 : Math.min(1, Math.max(0, up[i]!));
      return maskInput(c.input, up);
    },
    score,
    { batch: options.batch, what },
  );
  const perImage: ConfidenceChange[] = [];
  const skipped: number[] = [];
  let dropSum = 0;
  let increased = 0;
  cases.forEach((_, i) => {
    const y = scores[2 * i]!;
    const o = scores[2 * i + 1]!;
    const base = y - reference;
    let drop: number | null = null;
    if (base > 0) {
      drop = (Math.max(0, y - o) / base) * 100;
      dropSum += drop;
    } else {
      skipped.push(i);
    }
    if (o > y) increased++;
    perImage.push({ score: y, maskedScore: o, drop, increased: o > y });
  });
  const counted = cases.length - skipped.length;
  return {
    averageDrop: counted > 0 ? dropSum / counted : Number.NaN,
    increaseInConfidence: (increased / cases.length) * 100,
    perImage,
    skipped,
  };
}
