/**
 * Perturbation saliency (issue 4): occlusion (Captum's Occlusion) and RISE (Petsiuk et al. 2018). Both only score
 * modified inputs, so they explain any model ONNX Runtime can run, gradients or not.
 *
 * Also the two primitives the other forward-only methods and the faithfulness metrics share: scoring many
 * tensors in batches (the scorer is a model run, the expensive part) and masking an input toward the baseline.
 */
import { SeededRandom } from '../synth/random.js';
import type { InputImage, InputScorer, RawMap } from './explainTypes.js';
import { resizeTaps, sampleBilinear } from './upsample.js';

/** Scorer calls carry this many tensors unless the caller says otherwise. */
export const DEFAULT_BATCH = 32;

// ------------------------------------------------------------------------------------------ shared primitives

/**
 * Scores `count` tensors in batches of `batch`. `build(i)` is called once per index, in increasing order, right
 * before its batch is scored, so a caller can make each tensor from the previous one (deletion curves) and only
 * one batch of tensors is alive at a time. `afterBatch(first, scores)` sees each batch's scores as they arrive.
 * Returns all `count` scores.
 */
export async function scoreInBatches(
  count: number,
  build: (index: number) => Float32Array,
  scorer: (tensors: Float32Array[]) => Promise<Float32Array>,
  options: { batch?: number; what: string; afterBatch?: (first: number, scores: Float32Array) => void },
): Promise<Float32Array> {
  const batch = checkBatch(options.batch, options.what);
  const all = new Float32Array(count);
  for (let first = 0; first < count; first += batch) {
    const size = Math.min(batch, count - first);
    const tensors: Float32Array[] = [];
    for (let i = 0; i < size; i++) tensors.push(build(first + i));
    const scores = await scorer(tensors);
    if (!scores || scores.length !== size) {
      throw new Error(`${options.what}: the scorer returned ${scores?.length ?? 'nothing'} scores for a batch of ${size} tensors; it must return one score per tensor`);
    }
    for (let i = 0; i < size; i++) {
      if (!Number.isFinite(scores[i]!)) throw new Error(`${options.what}: the scorer returned ${scores[i]} for tensor ${first + i}; check the model's output for NaN or infinity`);
    }
    all.set(scores, first);
    options.afterBatch?.(first, scores);
  }
  return all;
}

/** A batch size option checked: a positive integer, DEFAULT_BATCH when absent. */
export function checkBatch(batch: number | undefined, what: string): number {
  const value = batch ?? DEFAULT_BATCH;
  if (!Number.isInteger(value) || value < 1) throw new Error(`${what}: batch must be a positive integer, got ${batch}`);
  return value;
}

/** Checks that an input's tensor holds 3 * height * width values. */
export function checkInput(input: InputImage, what: string): void {
  const expected = 3 * input.height * input.width;
  if (input.tensor.length !== expected) {
    throw new Error(`${what}: the input tensor has ${input.tensor.length} values, not 3x${input.height}x${input.width} = ${expected}`);
  }
}

/** Index step between a pixel's channels and between pixels, for the input's layout. */
export function pixelStrides(input: InputImage): { channel: number; pixel: number } {
  const n = input.height * input.width;
  return input.layout === 'NCHW' ? { channel: n, pixel: 1 } : { channel: 1, pixel: 3 };
}

/**
 * The input masked toward the baseline: t' = b + (t - b) * m for each tensor channel, with m a height x width
 * map (1 keeps the pixel, 0 replaces it by the baseline, InputImage.baseline: tensor zero, as the PyTorch
 * references multiply the normalised tensor by the mask).
 */
export function maskInput(input: InputImage, mask: ArrayLike<number>, out = new Float32Array(input.tensor.length)): Float32Array {
  const n = input.height * input.width;
  if (mask.length !== n) throw new Error(`maskInput: the mask has ${mask.length} values, not ${input.height}x${input.width} = ${n}`);
  const { channel, pixel } = pixelStrides(input);
  const t = input.tensor;
  for (let c = 0; c < 3; c++) {
    const b = input.baseline[c]!;
    for (let i = 0, q = c * channel; i < n; i++, q += pixel) out[q] = b + (t[q]! - b) * mask[i]!;
  }
  return out;
}

// ------------------------------------------------------------------------------------------------- occlusion

export interface OcclusionOptions {
  /** Window [height, width] (or one side for a square), in input pixels. Default: an eighth of the shorter side. */
  window?: number | [number, number];
  /** Step between windows [y, x] (or one for both). Default: half the window. Must not exceed the window. */
  stride?: number | [number, number];
  batch?: number;
}

/**
 * Captum's Occlusion with its default baseline (tensor zero, InputImage.baseline): a window of it slid over the input with the stride; each pixel's
 * attribution is the mean of (y - y_occluded) over the windows covering it. As in Captum, there are
 * ceil((side - window) / stride) + 1 windows per axis and the last one is cut at the edge, so every pixel is
 * covered. Returned at input resolution (grid = [height, width]): the per-pixel mean over overlapping windows is
 * Captum's definition, and a map at stride cells would throw away the overlap smoothing.
 */
export async function occlusion(input: InputImage, score: InputScorer, options: OcclusionOptions = {}): Promise<RawMap> {
  const what = 'occlusion';
  checkInput(input, what);
  const { height: H, width: W } = input;
  const side = Math.max(1, Math.round(Math.min(H, W) / 8));
  const [wh, ww] = pair(options.window ?? side, 'window');
  const [sh, sw] = pair(options.stride ?? [Math.max(1, Math.round(wh / 2)), Math.max(1, Math.round(ww / 2))], 'stride');
  const rows = windowStarts(H, wh, sh, 'height');
  const cols = windowStarts(W, ww, sw, 'width');
  const windows = rows.length * cols.length;
  const { channel, pixel } = pixelStrides(input);
  // Index 0 is the unoccluded input: its score is y.
  const scores = await scoreInBatches(
    windows + 1,
    (index) => {
      const t = input.tensor.slice();
      if (index === 0) return t;
      const y0 = rows[Math.floor((index - 1) / cols.length)]!;
      const x0 = cols[(index - 1) % cols.length]!;
      for (let y = y0; y < Math.min(y0 + wh, H); y++) {
        for (let x = x0; x < Math.min(x0 + ww, W); x++) {
          const p = (y * W + x) * pixel;
          for (let c = 0; c < 3; c++) t[p + c * channel] = input.baseline[c]!;
        }
      }
      return t;
    },
    score,
    { batch: options.batch, what },
  );
  const total = new Float64Array(H * W);
  const covered = new Uint32Array(H * W);
  for (let r = 0; r < rows.length; r++) {
    for (let c = 0; c < cols.length; c++) {
      const delta = scores[0]! - scores[1 + r * cols.length + c]!;
      const y0 = rows[r]!;
      const x0 = cols[c]!;
      for (let y = y0; y < Math.min(y0 + wh, H); y++) {
        for (let x = x0; x < Math.min(x0 + ww, W); x++) {
          total[y * W + x] += delta;
          covered[y * W + x]!++;
        }
      }
    }
  }
  const raw = new Float32Array(H * W);
  for (let i = 0; i < raw.length; i++) raw[i] = total[i]! / covered[i]!;
  return { grid: [H, W], raw };
}

function pair(value: number | [number, number], name: string): [number, number] {
  const [a, b] = typeof value === 'number' ? [value, value] : value;
  if (!Number.isInteger(a) || !Number.isInteger(b) || a < 1 || b < 1) throw new Error(`occlusion: ${name} must be positive integers, got ${String(value)}`);
  return [a, b];
}

/** Window starts along one axis, Captum's way: the last window may run past the edge and is cut there. */
function windowStarts(length: number, window: number, stride: number, axisName: string): number[] {
  if (window >= length) return [0];
  if (stride > window) {
    throw new Error(`occlusion: a stride of ${stride} skips pixels between windows of ${window} along the ${axisName}; use a stride of at most ${window}`);
  }
  const count = Math.ceil((length - window) / stride) + 1;
  return Array.from({ length: count }, (_, i) => i * stride);
}

// ------------------------------------------------------------------------------------------------------ RISE

export interface RiseOptions {
  /** Number of random masks N (default 2000, the paper's count for ResNet-50). */
  masks?: number;
  /** Mask grid s x s before upsampling (default 7). */
  grid?: number;
  /** Probability p that a grid cell is kept (default 0.5). */
  keep?: number;
  /** Seed of the masks (default 0): the same seed gives the same masks, whatever the batch size. */
  seed?: number;
  batch?: number;
}

/**
 * RISE (Petsiuk et al., "RISE: Randomized Input Sampling for Explanation of Black-box Models", BMVC 2018), as
 * their generate_masks: binary s x s grids with keep probability p, upsampled bilinearly to (s + 1) * cell
 * (cell = ceil(side / s)), then cropped at a random shift in [0, cell) per axis; the input is masked toward
 * the baseline; saliency = sum_i y_i M_i / (N * p). Masks are made per batch rather than kept (2000 masks at 448 x 448
 * are 1.6 GB). Bilinear edges replicate (torch/cv2) where the reference's skimage resize reflects: the edge
 * half-cell differs slightly. Returned at input resolution.
 */
export async function rise(input: InputImage, score: InputScorer, options: RiseOptions = {}): Promise<RawMap> {
  const what = 'RISE';
  checkInput(input, what);
  const N = options.masks ?? 2000;
  const s = options.grid ?? 7;
  const p = options.keep ?? 0.5;
  const seed = options.seed ?? 0;
  if (!Number.isInteger(N) || N < 1) throw new Error(`${what}: masks must be a positive integer, got ${options.masks}`);
  if (!Number.isInteger(s) || s < 1) throw new Error(`${what}: grid must be a positive integer, got ${options.grid}`);
  if (!(p > 0 && p <= 1)) throw new Error(`${what}: keep must be a probability in (0, 1], got ${options.keep}`);
  const { height: H, width: W } = input;
  const cellH = Math.ceil(H / s);
  const cellW = Math.ceil(W / s);
  const pending: Float32Array[] = [];
  const saliency = new Float64Array(H * W);
  await scoreInBatches(
    N,
    (index) => {
      const mask = riseMask(seed, index, s, p, [H, W], [cellH, cellW]);
      pending.push(mask);
      return maskInput(input, mask);
    },
    score,
    {
      batch: options.batch,
      what,
      afterBatch: (_first, scores) => {
        pending.forEach((mask, i) => {
          const y = scores[i]!;
          for (let q = 0; q < mask.length; q++) saliency[q] += y * mask[q]!;
        });
        pending.length = 0;
      },
    },
  );
  const raw = new Float32Array(H * W);
  for (let q = 0; q < raw.length; q++) raw[q] = saliency[q]! / (N * p);
  return { grid: [H, W], raw };
}

/** Mask `index` of a RISE run: its own random stream, so masks don't depend on batching or order. */
function riseMask(seed: number, index: number, s: number, p: number, size: [number, number], cell: [number, number]): Float32Array {
  const random = SeededRandom.derive(seed, 'rise-mask', index);
  const cells = new Float32Array(s * s);
  for (let i = 0; i < cells.length; i++) cells[i] = random.next() < p ? 1 : 0;
  const shiftY = random.int(0, cell[0] - 1);
  const shiftX = random.int(0, cell[1] - 1);
  const rows = resizeTaps(s, (s + 1) * cell[0], { offset: shiftY, count: size[0] });
  const cols = resizeTaps(s, (s + 1) * cell[1], { offset: shiftX, count: size[1] });
  return sampleBilinear(cells, [s, s], rows, cols);
}
