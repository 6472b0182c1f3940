/**
 * Bilinear resampling of small maps (activation grids, RISE masks, saliency maps) to larger grids, one
 * implementation for every explanation method (issue 4).
 *
 * Default semantics are torch's interpolate(mode='bilinear', align_corners=False) and cv2.resize(INTER_LINEAR):
 * output sample i sits at source coordinate (i + 0.5) * src / dst - 0.5, clamped to [0, src - 1], so edges
 * replicate. pytorch-grad-cam's ScoreCAM alone uses nn.UpsamplingBilinear2d, which is align_corners=True
 * (i * (src - 1) / (dst - 1)); the option exists so Score-CAM matches its reference.
 */

/** For each output sample along one axis: the two source samples it mixes and the weight of the second. */
export interface AxisTaps {
  lo: Int32Array;
  hi: Int32Array;
  frac: Float32Array;
}

/**
 * The taps for arbitrary source coordinates (in source sample units, sample centres at integers), clamped to
 * the source so positions beyond the edge repeat the edge sample.
 */
export function tapsAt(sourceLength: number, positions: ArrayLike<number>): AxisTaps {
  if (!(sourceLength >= 1)) throw new Error(`bilinear taps: the source axis has ${sourceLength} samples; it needs at least one`);
  const n = positions.length;
  const taps: AxisTaps = { lo: new Int32Array(n), hi: new Int32Array(n), frac: new Float32Array(n) };
  const last = sourceLength - 1;
  for (let i = 0; i < n; i++) {
    const p = Math.min(Math.max(positions[i]!, 0), last);
    const lo = Math.floor(p);
    taps.lo[i] = lo;
    taps.hi[i] = Math.min(lo + 1, last);
    taps.frac[i] = p - lo;
  }
  return taps;
}

export interface ResizeAxisOptions {
  /** torch's align_corners (default false). */
  alignCorners?: boolean;
  /**
   * Sample only output positions [offset, offset + count) of the full `targetLength` axis: a crop of the
   * upsampled axis without computing the rest (RISE's shifted masks).
   */
  offset?: number;
  count?: number;
}

/** The taps that resize an axis of `sourceLength` samples to `targetLength` (or a window of it). */
export function resizeTaps(sourceLength: number, targetLength: number, options: ResizeAxisOptions = {}): AxisTaps {
  const offset = options.offset ?? 0;
  const count = options.count ?? targetLength - offset;
  const positions = new Float64Array(count);
  const alignScale = targetLength > 1 ? (sourceLength - 1) / (targetLength - 1) : 0;
  const scale = sourceLength / targetLength;
  for (let i = 0; i < count; i++) {
    const o = offset + i;
    positions[i] = options.alignCorners ? o * alignScale : (o + 0.5) * scale - 0.5;
  }
  return tapsAt(sourceLength, positions);
}

/**
 * Samples a row-major grid of [height, width] at the rows and columns the taps name: out[r, c] mixes the four
 * neighbours of (rows[r], cols[c]). Separable: columns first into a scratch of source rows, then rows.
 */
export function sampleBilinear(source: ArrayLike<number>, grid: readonly [number, number], rows: AxisTaps, cols: AxisTaps): Float32Array {
  const [h, w] = grid;
  if (source.length !== h * w) throw new Error(`bilinear sampling: the map has ${source.length} values, not ${h}x${w} = ${h * w}`);
  const outW = cols.lo.length;
  const outH = rows.lo.length;
  // Each source row resampled horizontally once, then rows mixed: (h + outH) * outW work instead of 4 * outH * outW lookups.
  const horizontal = new Float32Array(h * outW);
  for (let y = 0; y < h; y++) {
    const row = y * w;
    const base = y * outW;
    for (let c = 0; c < outW; c++) {
      const a = source[row + cols.lo[c]!]!;
      const b = source[row + cols.hi[c]!]!;
      horizontal[base + c] = a + (b - a) * cols.frac[c]!;
    }
  }
  const out = new Float32Array(outH * outW);
  for (let r = 0; r < outH; r++) {
    const top = rows.lo[r]! * outW;
    const bottom = rows.hi[r]! * outW;
    const f = rows.frac[r]!;
    const base = r * outW;
    for (let c = 0; c < outW; c++) {
      const a = horizontal[top + c]!;
      out[base + c] = a + (horizontal[bottom + c]! - a) * f;
    }
  }
  return out;
}

/** Resizes a row-major [h, w] map to [height, width] bilinearly (align_corners=False unless asked). */
export function upsampleBilinear(
  source: ArrayLike<number>,
  grid: readonly [number, number],
  size: readonly [number, number],
  options: { alignCorners?: boolean } = {},
): Float32Array {
  const [h, w] = grid;
  const [height, width] = size;
  return sampleBilinear(source, grid, resizeTaps(h, height, options), resizeTaps(w, width, options));
}
