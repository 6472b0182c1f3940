/**
 * Per-image statistics computed from raw pixels already decoded by sharp.
 *
 * Everything here is pure, synchronous and allocation-free per pixel (one
 * tight typed-array loop per input image) so that it costs well under 2 ms
 * per image on the intended inputs: a colour downsample of at most 512 px on
 * its longer side and a fixed 256x256 grayscale downsample.
 *
 * Expected caller pipeline (one decode per image, two resizes):
 *
 *   const color = await sharp(buf).rotate()
 *     .resize(512, 512, { fit: 'inside', withoutEnlargement: true })
 *     .toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
 *   const gray = await sharp(buf).rotate()
 *     .resize(SHARPNESS_GRID, SHARPNESS_GRID, { fit: 'fill' })
 *     .greyscale().raw().toBuffer({ resolveWithObject: true });
 *   computeImageStats(
 *     { data: color.data, width: color.info.width, height: color.info.height, channels: color.info.channels },
 *     { data: gray.data, width: gray.info.width, height: gray.info.height, channels: gray.info.channels });
 *
 * Documented choices
 * ------------------
 * - Luma is Rec. 601: Y = 0.299 R + 0.587 G + 0.114 B (the weights PIL's
 *   `convert('L')` and most aesthetics feature papers use). It is computed
 *   exactly in integers as 299R + 587G + 114B (units of 1/1000 level), so the
 *   brightness of a constant colour is exact and a white pixel is exactly 255.
 *   The entropy histogram bins luma rounded to the nearest integer level.
 * - Transparency: colour statistics (brightness, contrast, saturation,
 *   colorfulness, entropy, isGrayscale) count only pixels with alpha > 0, each
 *   with weight 1 (presence, not alpha-weighted; fully transparent pixels
 *   usually carry meaningless RGB). If no pixel is visible, all of those are 0
 *   (isGrayscale is then vacuously true) rather than NaN. alphaFraction always
 *   counts over ALL pixels, so an all-transparent image has alphaFraction 1.
 * - isGrayscale: true when every visible pixel has
 *   max(|R-G|, |G-B|, |R-B|) = max(R,G,B) - min(R,G,B) <= GRAYSCALE_TOLERANCE
 *   (8 of 255, ~3 %): absorbs JPEG chroma quantisation / rounding noise and
 *   resampling, while sepia or lightly tinted images (typically >= 15) are colour.
 * - Sharpness: variance of the 4-neighbour Laplacian
 *   L = up + down + left + right - 4*centre, in 0-255 units, over the interior
 *   (w-2)*(h-2) pixels of the fixed-size gray image.
 * - Edge density: fraction of interior gray pixels whose 3x3 Sobel gradient
 *   magnitude sqrt(Gx^2 + Gy^2) is strictly greater than
 *   SOBEL_EDGE_THRESHOLD = 100 (0-255 units; a clean vertical step of height h
 *   gives |G| = 4h, so this fires on steps of more than 25 levels, ~10 %).
 * - Tiny gray images (width or height < 3) have no interior pixels: sharpness
 *   and edgeDensity are 0 instead of throwing.
 * - The gray image may have 1 channel, or 2 (gray + alpha; only channel 0 is
 *   used). The colour image must have 3 (RGB) or 4 (RGBA) channels.
 * - Inputs are validated (throws Error): data must be a Uint8Array (Buffer is
 *   fine) of length exactly width*height*channels, width/height positive
 *   integers, channels in the allowed set.
 * - No output is ever NaN or Infinity.
 */

export interface RawImage {
  /** Interleaved 8-bit samples, row-major, `channels` per pixel. */
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

export interface ImageStats {
  /** Mean Rec. 601 luma, in [0,1]. */
  brightness: number;
  /** RMS contrast: standard deviation of Rec. 601 luma in [0,1] units (max 0.5). */
  contrast: number;
  /** Mean HSV saturation (max-min)/max (0 where max == 0), in [0,1]. */
  saturation: number;
  /** Hasler & Süsstrunk (2003) colourfulness M on 0-255 values (>= 0, ~< 200). */
  colorfulness: number;
  /** Variance of the 4-neighbour Laplacian of the gray grid, 0-255 units, interior pixels. */
  sharpness: number;
  /** Shannon entropy (bits) of the 256-bin luma histogram, in [0,8]. */
  entropy: number;
  /** Fraction of interior gray pixels with Sobel magnitude > SOBEL_EDGE_THRESHOLD, in [0,1]. */
  edgeDensity: number;
  /** Fraction of all pixels with alpha < 255 (0 without alpha channel), in [0,1]. */
  alphaFraction: number;
  /** Every visible pixel has max(R,G,B) - min(R,G,B) <= GRAYSCALE_TOLERANCE. */
  isGrayscale: boolean;
}

/** Side of the square grayscale grid the caller should resize to (fit: 'fill'). */
export const SHARPNESS_GRID = 256;

/** Sobel magnitude (0-255 units) a pixel must strictly exceed to count as an edge. */
export const SOBEL_EDGE_THRESHOLD = 100;

/** Max per-pixel channel spread (0-255) still considered gray. */
export const GRAYSCALE_TOLERANCE = 8;

/** Rec. 601 luma weights (applied internally as exact integers 299/587/114 per 1000). */
export const LUMA_WEIGHTS_601 = { r: 0.299, g: 0.587, b: 0.114 } as const;

const COLOR_CHANNELS: readonly number[] = [3, 4];
const GRAY_CHANNELS: readonly number[] = [1, 2];

// Scratch buffers reused across calls (the functions are synchronous, so no
// re-entrancy issue). Reset at the start of every call.
const lumaHist = new Float64Array(256);
/** satNum[m] = sum of (max - min) over visible pixels whose max channel is m. */
const satNum = new Float64Array(256);

function validate(img: RawImage, label: string, allowed: readonly number[]): void {
  if (img === null || typeof img !== 'object') {
    throw new Error(`computeImageStats: ${label} image must be an object { data, width, height, channels }`);
  }
  const { data, width, height, channels } = img;
  if (!(data instanceof Uint8Array)) {
    throw new Error(`computeImageStats: ${label} image data must be a Uint8Array (or Buffer) of 8-bit samples`);
  }
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`computeImageStats: ${label} image width/height must be positive integers, got ${width}x${height}`);
  }
  if (!allowed.includes(channels)) {
    throw new Error(
      `computeImageStats: ${label} image channels must be one of ${allowed.join(', ')}, got ${channels}`,
    );
  }
  const expected = width * height * channels;
  if (data.length !== expected) {
    const hint = data.length === expected * 2 ? ' (looks like 16-bit samples; request 8-bit sRGB output from sharp)' : '';
    throw new Error(
      `computeImageStats: ${label} image data length ${data.length} does not match ` +
        `width*height*channels = ${width}*${height}*${channels}; expected length ${expected}${hint}`,
    );
  }
}

/** Finite, non-negative guard (belt and braces: every path below is already finite). */
function fin(x: number): number {
  return Number.isFinite(x) && x > 0 ? x : 0;
}

function clamp01(x: number): number {
  if (!(x > 0)) return 0; // also maps NaN to 0
  return x < 1 ? x : 1;
}

interface ColorPart {
  brightness: number;
  contrast: number;
  saturation: number;
  colorfulness: number;
  entropy: number;
  alphaFraction: number;
  isGrayscale: boolean;
}

function colorStats(img: RawImage): ColorPart {
  const data = img.data;
  const ch = img.channels;
  const hasAlpha = ch === 4;
  const total = img.width * img.height;
  const end = total * ch;

  lumaHist.fill(0);
  satNum.fill(0);

  // Shifted-data accumulation: subtract the first visible pixel's value from
  // each integer quantity so that constant images give exactly zero variance
  // and large sums of squares do not lose precision to cancellation.
  let first = -1;
  if (hasAlpha) {
    for (let i = 3; i < end; i += 4) {
      if (data[i] !== 0) {
        first = i - 3;
        break;
      }
    }
  } else {
    first = 0;
  }

  let translucent = 0;
  if (first < 0) {
    // Every pixel fully transparent: no colour information.
    return {
      brightness: 0,
      contrast: 0,
      saturation: 0,
      colorfulness: 0,
      entropy: 0,
      alphaFraction: total > 0 ? 1 : 0,
      isGrayscale: true,
    };
  }

  const r0 = data[first];
  const g0 = data[first + 1];
  const b0 = data[first + 2];
  const kY = 299 * r0 + 587 * g0 + 114 * b0; // luma * 1000
  const kRg = r0 - g0;
  const kYb = r0 + g0 - 2 * b0; // yb * 2

  let n = 0;
  let sY = 0;
  let sY2 = 0;
  let sRg = 0;
  let sRg2 = 0;
  let sYb = 0;
  let sYb2 = 0;
  let maxSpread = 0;

  for (let i = 0; i < end; i += ch) {
    if (hasAlpha) {
      const a = data[i + 3];
      if (a !== 255) {
        translucent++;
        if (a === 0) continue;
      }
    }
    const r = data[i];
    const g = data[i + 1];
    const b = data[i + 2];
    n++;

    const y = 299 * r + 587 * g + 114 * b; // luma * 1000, exact integer
    const dy = y - kY;
    sY += dy;
    sY2 += dy * dy;
    // round(y / 1000): the product by the double 0.001 (slightly above 1/1000)
    // never rounds below an exact multiple, so the truncation is exact.
    lumaHist[((y + 500) * 0.001) | 0]++;

    // Branchless max/min of r, g, b (data-dependent branches mispredict badly
    // on textured images): min(u - v, 0) = (u - v) & ((u - v) >> 31).
    const d1 = r - g;
    const m1 = d1 & (d1 >> 31); // min(r - g, 0)
    const hi = r - m1; // max(r, g)
    const lo = g + m1; // min(r, g)
    const d2 = hi - b;
    const mx = hi - (d2 & (d2 >> 31)); // max(hi, b)
    const d3 = lo - b;
    const mn = b + (d3 & (d3 >> 31)); // min(lo, b)
    const spread = mx - mn;
    satNum[mx] += spread;
    if (spread > maxSpread) maxSpread = spread;

    const drg = d1 - kRg;
    sRg += drg;
    sRg2 += drg * drg;
    const dyb = r + g - 2 * b - kYb;
    sYb += dyb;
    sYb2 += dyb * dyb;
  }

  // n >= 1 here (the first visible pixel is counted).
  const invN = 1 / n;

  const meanDy = sY * invN;
  const varY = sY2 * invN - meanDy * meanDy; // (luma*1000)^2 units
  const meanY = kY + meanDy; // luma * 1000
  const brightness = clamp01(meanY / 255000);
  const contrast = clamp01(Math.sqrt(fin(varY)) / 255000);

  let satSum = 0;
  for (let m = 1; m < 256; m++) {
    const s = satNum[m];
    if (s !== 0) satSum += s / m;
  }
  const saturation = clamp01(satSum * invN);

  const meanDrg = sRg * invN;
  const varRg = fin(sRg2 * invN - meanDrg * meanDrg);
  const meanRg = kRg + meanDrg;
  const meanDyb = sYb * invN;
  const varYb = fin(sYb2 * invN - meanDyb * meanDyb) / 4; // yb = (R+G-2B)/2
  const meanYb = (kYb + meanDyb) / 2;
  const colorfulness = fin(Math.sqrt(varRg + varYb) + 0.3 * Math.sqrt(meanRg * meanRg + meanYb * meanYb));

  let entropy = 0;
  for (let k = 0; k < 256; k++) {
    const c = lumaHist[k];
    if (c !== 0) {
      const p = c * invN;
      entropy -= p * Math.log2(p);
    }
  }
  entropy = entropy > 0 ? (entropy < 8 ? entropy : 8) : 0;

  return {
    brightness,
    contrast,
    saturation,
    colorfulness,
    entropy,
    alphaFraction: hasAlpha ? clamp01(translucent / total) : 0,
    isGrayscale: maxSpread <= GRAYSCALE_TOLERANCE,
  };
}

function grayStats(img: RawImage): { sharpness: number; edgeDensity: number } {
  const w = img.width;
  const h = img.height;
  if (w < 3 || h < 3) return { sharpness: 0, edgeDensity: 0 };

  const data = img.data;
  const s = img.channels; // pixel stride; channel 0 is the gray value
  const row = w * s;
  const thr2 = SOBEL_EDGE_THRESHOLD * SOBEL_EDGE_THRESHOLD;

  let sL = 0;
  let sL2 = 0;
  let edges = 0;

  for (let y = 1; y < h - 1; y++) {
    let c = y * row + s; // centre of (x=1, y)
    // Sliding 3x3 window: columns left (l), middle (m), right (r); rows t/m/b.
    let tl = data[c - row - s];
    let ml = data[c - s];
    let bl = data[c + row - s];
    let tm = data[c - row];
    let mm = data[c];
    let bm = data[c + row];
    for (let x = 1; x < w - 1; x++, c += s) {
      const tr = data[c - row + s];
      const mr = data[c + s];
      const br = data[c + row + s];

      const lap = tm + bm + ml + mr - 4 * mm;
      sL += lap;
      sL2 += lap * lap;

      const gx = tr + 2 * mr + br - (tl + 2 * ml + bl);
      const gy = bl + 2 * bm + br - (tl + 2 * tm + tr);
      if (gx * gx + gy * gy > thr2) edges++;

      tl = tm;
      ml = mm;
      bl = bm;
      tm = tr;
      mm = mr;
      bm = br;
    }
  }

  const m = (w - 2) * (h - 2);
  const meanL = sL / m;
  // Integer sums are exact in doubles for any realistic grid size.
  const sharpness = fin(sL2 / m - meanL * meanL);
  const edgeDensity = clamp01(edges / m);
  return { sharpness, edgeDensity };
}

/**
 * Compute per-image statistics. `color` is the <=512 px RGB/RGBA downsample
 * (colour, luma and alpha stats); `gray` is the fixed SHARPNESS_GRID x
 * SHARPNESS_GRID grayscale downsample (sharpness, edge density).
 * Throws on malformed inputs; never returns NaN/Infinity.
 */
export function computeImageStats(color: RawImage, gray: RawImage): ImageStats {
  validate(color, 'color', COLOR_CHANNELS);
  validate(gray, 'gray', GRAY_CHANNELS);
  const c = colorStats(color);
  const g = grayStats(gray);
  return {
    brightness: c.brightness,
    contrast: c.contrast,
    saturation: c.saturation,
    colorfulness: c.colorfulness,
    sharpness: g.sharpness,
    entropy: c.entropy,
    edgeDensity: g.edgeDensity,
    alphaFraction: c.alphaFraction,
    isGrayscale: c.isGrayscale,
  };
}
