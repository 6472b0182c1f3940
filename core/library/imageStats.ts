/**
 * Per-image statistics computed from raw pixels already decoded by sharp.
 *
 * Everything here is pure, synchronous and allocation-free per pixel: one
 * pass over the colour image (integer histograms only, reading whole 32-bit
 * words when the buffer is 4-byte aligned on a little-endian machine, else
 * bytes) and one sliding-window pass over the gray image. Intended inputs: a
 * colour working copy of at most 256 px on its longer side (the same pixels
 * the 256-px thumbnail is encoded from) and the fixed SHARPNESS_GRID x
 * SHARPNESS_GRID (128x128) grayscale grid that grayGrid() derives from it;
 * on a busy 2-vCPU Xeon VM a 256x256 call costs about 0.35-0.45 ms of CPU,
 * and grayGrid about 0.3-0.4 ms more.
 *
 * Expected caller pipeline (one decode per image, one resize, no second
 * libvips pipeline for the gray grid):
 *
 *   const color = await sharp(buf).rotate()
 *     .resize(256, 256, { fit: 'inside', withoutEnlargement: true })
 *     .toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
 *   const working = { data: color.data, width: color.info.width, height: color.info.height, channels: color.info.channels };
 *   computeImageStats(working, grayGrid(working, SHARPNESS_GRID));
 *
 * Documented choices
 * ------------------
 * - Luma is Rec. 601: Y = 0.299 R + 0.587 G + 0.114 B (the weights PIL's
 *   `convert('L')`, OpenCV's RGB2GRAY and most aesthetics feature papers use).
 *   brightness is the exact mean of Y / 255 (computed from exact integer
 *   channel statistics, so a constant colour gives exactly its luma).
 *   contrast (std of Y / 255) and entropy use the 8-bit luma histogram, i.e.
 *   Y rounded to the nearest level (fixed-point weights 19595/38470/7471 per
 *   65536, which sum to 65536 so grey and white stay exact), as a PIL 'L' or
 *   OpenCV gray image would; the rounding moves contrast by at most 0.5/255.
 * - Colourfulness and saturation are exact (integer histograms of R-G and
 *   R+G-2B; per-max-channel sums of max-min).
 * - Transparency: colour statistics (brightness, contrast, saturation,
 *   colorfulness, entropy, isGrayscale) count only pixels with alpha > 0, each
 *   with weight 1 (presence, not alpha-weighted; fully transparent pixels
 *   usually carry meaningless RGB). If no pixel is visible, all of those are 0
 *   (isGrayscale is then vacuously true) rather than NaN. alphaFraction always
 *   counts over ALL pixels, so an all-transparent image has alphaFraction 1.
 * - isGrayscale: true when every visible pixel has
 *   max(|R-G|, |G-B|, |R-B|) = max(R,G,B) - min(R,G,B) <= GRAYSCALE_TOLERANCE
 *   (8 of 255, ~3 %): absorbs JPEG chroma quantisation / rounding noise and
 *   resampling (a grey image with 0..2 independent per-channel noise, saved as
 *   JPEG at quality 95 and decoded/resized by sharp, shows spreads up to ~5),
 *   while sepia or tinted images (spreads of tens of levels) are colour.
 * - Gray grid (grayGrid): Rec. 601 luma of the colour working copy, with
 *   each pixel composited onto mid grey by its alpha,
 *   Y' = (a * Y + (255 - a) * 128) / 255, then an exact area-average (box)
 *   resample to SHARPNESS_GRID x SHARPNESS_GRID: every output pixel is the
 *   mean of the source area its footprint covers, partially covered source
 *   pixels weighted by the covered fraction, rounded to 8 bits. The aspect
 *   ratio is not kept (fit: 'fill'), so every image is judged on the same grid.
 *   A working copy of 128 px or more on an axis is downsampled (or copied) on
 *   that axis; a smaller one is upsampled, where each output footprint is
 *   narrower than one source pixel, so it repeats that pixel (nearest-
 *   neighbour-like) and blends the two neighbours only where a footprint
 *   straddles their boundary: a tiny image gains no invented detail, only
 *   hard steps between its blocks.
 * - Sharpness: variance of the 4-neighbour Laplacian
 *   L = up + down + left + right - 4*centre, in 0-255 units, over the interior
 *   (w-2)*(h-2) pixels of the fixed-size gray image (in the index: a 128x128
 *   area-average grayscale downsample of the <= 256-px working copy).
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
  /** RMS contrast: standard deviation of 8-bit Rec. 601 luma, in [0,1] units (max 0.5). */
  contrast: number;
  /** Mean HSV saturation (max-min)/max (0 where max == 0), in [0,1]. */
  saturation: number;
  /** Hasler & Süsstrunk (2003) colourfulness M on 0-255 values (>= 0; ~0-150 for photos, 0 for grey). */
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

/**
 * Side of the square grayscale grid sharpness and edge density are measured on (see grayGrid). At most half the
 * working copy's 256-px long side, so for most images every grid cell averages two or more source pixels per axis.
 */
export const SHARPNESS_GRID = 128;

/** Sobel magnitude (0-255 units) a pixel must strictly exceed to count as an edge. */
export const SOBEL_EDGE_THRESHOLD = 100;

/** Max per-pixel channel spread (0-255) still considered gray. */
export const GRAYSCALE_TOLERANCE = 8;

/** Rec. 601 luma weights used for brightness (contrast/entropy use their 16-bit fixed-point form). */
export const LUMA_WEIGHTS_601 = { r: 0.299, g: 0.587, b: 0.114 } as const;

const COLOR_CHANNELS: readonly number[] = [3, 4];
const GRAY_CHANNELS: readonly number[] = [1, 2];

// Scratch buffers reused across calls (computeImageStats is synchronous, so
// there is no re-entrancy issue). Reset at the start of every call. Integer
// histograms are much cheaper per pixel than floating-point sums of squares.
/** Histogram of 8-bit luma (0..255). */
const lumaHist = new Int32Array(256);
/** Histogram of rg = R - G, offset by 255 (0..510). */
const rgHist = new Int32Array(511);
/** Histogram of 2*yb = R + G - 2B, offset by 510 (0..1020). */
const ybHist = new Int32Array(1021);
/** satChunk[m] = sum of (max - min) over visible pixels whose max channel is m, per chunk. */
const satChunk = new Int32Array(256);
const satTotal = new Float64Array(256);
/** Pixels per chunk: 255 * SAT_CHUNK_PX must fit in an int32 (saturation buckets, sum of G). */
const SAT_CHUNK_PX = 1 << 22;

function validate(img: RawImage, label: string, allowed: readonly number[], fn = 'computeImageStats'): void {
  if (img === null || typeof img !== 'object') {
    throw new Error(`${fn}: ${label} image must be an object { data, width, height, channels }`);
  }
  const { data, width, height, channels } = img;
  if (!(data instanceof Uint8Array)) {
    throw new Error(`${fn}: ${label} image data must be a Uint8Array (or Buffer) of 8-bit samples`);
  }
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`${fn}: ${label} image width/height must be positive integers, got ${width}x${height}`);
  }
  if (!allowed.includes(channels)) {
    throw new Error(
      `${fn}: ${label} image channels must be one of ${allowed.join(', ')}, got ${channels}`,
    );
  }
  const expected = width * height * channels;
  if (data.length !== expected) {
    const hint = data.length === expected * 2 ? ' (looks like 16-bit samples; request 8-bit sRGB output from sharp)' : '';
    throw new Error(
      `${fn}: ${label} image data length ${data.length} does not match ` +
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

/** Mean and variance of a histogram whose bin k holds the value (k - offset) * scale. */
function histMoments(hist: Int32Array, n: number, offset: number, scale: number): { mean: number; variance: number } {
  let sum = 0;
  for (let k = 0; k < hist.length; k++) {
    const c = hist[k];
    if (c !== 0) sum += c * (k - offset);
  }
  const mean = sum / n; // exact for a single occupied bin, so constant images give variance 0
  let ss = 0;
  for (let k = 0; k < hist.length; k++) {
    const c = hist[k];
    if (c !== 0) {
      const d = k - offset - mean;
      ss += c * d * d;
    }
  }
  return { mean: mean * scale, variance: (ss / n) * scale * scale };
}

/** Scalar results of the scan functions (module-level so hot loops return nothing). */
const scan = { n: 0, opaque: 0, sumG: 0, notGray: 0 };

/** Word-wise pixel reads below assume little-endian byte order (x64, arm64). */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Per visible pixel work shared by the scan loops: updates lumaHist, rgHist,
 * ybHist and satChunk; returns GRAYSCALE_TOLERANCE - (max - min), which is
 * negative iff the pixel is too colourful to be gray (callers OR these).
 * Small enough for TurboFan to inline.
 */
function addPixel(r: number, g: number, b: number): number {
  // 8-bit Rec. 601 luma, round(0.299R + 0.587G + 0.114B), in 16-bit fixed
  // point (19595 + 38470 + 7471 = 65536, so gray and white map exactly).
  lumaHist[(19595 * r + 38470 * g + 7471 * b + 32768) >>> 16]++;
  // Branchless max/min (data-dependent branches mispredict on texture):
  // min(u - v, 0) = (u - v) & ((u - v) >> 31).
  const d1 = r - g;
  const m1 = d1 & (d1 >> 31);
  const hi = r - m1; // max(r, g)
  const lo = g + m1; // min(r, g)
  const d2 = hi - b;
  const mx = hi - (d2 & (d2 >> 31)); // max(r, g, b)
  const d3 = lo - b;
  const mn = b + (d3 & (d3 >> 31)); // min(r, g, b)
  const spread = mx - mn;
  satChunk[mx] += spread;
  rgHist[d1 + 255]++;
  ybHist[r + g - 2 * b + 510]++;
  return GRAYSCALE_TOLERANCE - spread;
}

// The scan functions below each cover at most SAT_CHUNK_PX pixels, so their
// int32 sum of G cannot overflow (255 * 2^22 < 2^31).

/** Byte-wise scan of pixels at byte offsets [start, end), RGB or RGBA (any alignment). */
function scanBytes(data: Uint8Array, start: number, end: number, ch: number): void {
  const hasAlpha = ch === 4;
  let n = 0; // visible pixels
  let opaque = 0; // pixels with alpha == 255
  let sumG = 0;
  let notGray = 0;
  for (let i = start; i < end; i += ch) {
    if (hasAlpha) {
      const a = data[i + 3];
      opaque += (254 - a) >>> 31; // 1 iff a == 255
      if (a === 0) continue;
    }
    const g = data[i + 1];
    n++;
    sumG = (sumG + g) | 0;
    notGray |= addPixel(data[i], g, data[i + 2]);
  }
  scan.n += n;
  scan.opaque += opaque;
  scan.sumG += sumG;
  scan.notGray |= notGray;
}

/**
 * RGBA scan reading one little-endian 32-bit word per pixel (4x fewer loads
 * and bounds checks than byte reads; ~15-40 % faster). Body inlined by hand:
 * this is the hottest loop for PNG/WebP inputs.
 */
function scanRgbaWords(px: Int32Array): void {
  let n = 0;
  let opaque = 0;
  let sumG = 0;
  let notGray = 0;
  for (let i = 0; i < px.length; i++) {
    const w = px[i];
    const a = w >>> 24;
    opaque += (254 - a) >>> 31; // 1 iff a == 255
    if (a === 0) continue;
    const r = w & 255;
    const g = (w >> 8) & 255;
    const b = (w >> 16) & 255;
    n++;
    sumG = (sumG + g) | 0;

    lumaHist[(19595 * r + 38470 * g + 7471 * b + 32768) >>> 16]++;
    const d1 = r - g;
    const m1 = d1 & (d1 >> 31);
    const hi = r - m1;
    const lo = g + m1;
    const d2 = hi - b;
    const mx = hi - (d2 & (d2 >> 31));
    const d3 = lo - b;
    const mn = b + (d3 & (d3 >> 31));
    const spread = mx - mn;
    satChunk[mx] += spread;
    notGray |= GRAYSCALE_TOLERANCE - spread;
    rgHist[d1 + 255]++;
    ybHist[r + g - 2 * b + 510]++;
  }
  scan.n += n;
  scan.opaque += opaque;
  scan.sumG += sumG;
  scan.notGray |= notGray;
}

/** RGB scan reading three little-endian 32-bit words per 4 pixels (px.length % 3 == 0). */
function scanRgbWords(px: Int32Array): void {
  let sumG = 0;
  let notGray = 0;
  for (let i = 0; i < px.length; i += 3) {
    // w0 = R0 G0 B0 R1, w1 = G1 B1 R2 G2, w2 = B2 R3 G3 B3 (low byte first)
    const w0 = px[i];
    const w1 = px[i + 1];
    const w2 = px[i + 2];
    const g0 = (w0 >> 8) & 255;
    const g1 = w1 & 255;
    const g2 = w1 >>> 24;
    const g3 = (w2 >> 16) & 255;
    sumG = (sumG + g0 + g1 + g2 + g3) | 0;
    notGray |= addPixel(w0 & 255, g0, (w0 >> 16) & 255);
    notGray |= addPixel(w0 >>> 24, g1, (w1 >> 8) & 255);
    notGray |= addPixel((w1 >> 16) & 255, g2, w2 & 255);
    notGray |= addPixel((w2 >> 8) & 255, g3, w2 >>> 24);
  }
  scan.n += (px.length / 3) * 4;
  scan.sumG += sumG;
  scan.notGray |= notGray;
}

/** Scan pixels at byte offsets [start, end) with the fastest applicable loop. */
function scanChunk(data: Uint8Array, start: number, end: number, ch: number): void {
  const offset = data.byteOffset + start;
  if (!LITTLE_ENDIAN || (offset & 3) !== 0) {
    scanBytes(data, start, end, ch);
  } else if (ch === 4) {
    scanRgbaWords(new Int32Array(data.buffer, offset, (end - start) >> 2));
  } else {
    const words = Math.floor((end - start) / 12) * 3; // whole groups of 4 pixels
    scanRgbWords(new Int32Array(data.buffer, offset, words));
    scanBytes(data, start + words * 4, end, 3); // 0-3 leftover pixels
  }
}

function colorStats(img: RawImage): ColorPart {
  const data = img.data;
  const ch = img.channels;
  const hasAlpha = ch === 4;
  const total = img.width * img.height;
  const end = total * ch;

  lumaHist.fill(0);
  rgHist.fill(0);
  ybHist.fill(0);
  satTotal.fill(0);
  scan.n = 0;
  scan.opaque = 0;
  scan.sumG = 0;
  scan.notGray = 0;

  // One chunk for any image below 4 Mpx; bigger inputs are split so that the
  // int32 saturation buckets and G sums cannot overflow. SAT_CHUNK_PX * ch is
  // a multiple of 12 bytes, so chunks keep the word alignment of the buffer.
  for (let start = 0; start < end; start += SAT_CHUNK_PX * ch) {
    satChunk.fill(0);
    scanChunk(data, start, Math.min(end, start + SAT_CHUNK_PX * ch), ch);
    for (let m = 1; m < 256; m++) satTotal[m] += satChunk[m];
  }
  const { n, opaque, sumG, notGray } = scan;

  const alphaFraction = hasAlpha ? clamp01((total - opaque) / total) : 0;
  if (n === 0) {
    // Every pixel fully transparent: no colour information.
    return { brightness: 0, contrast: 0, saturation: 0, colorfulness: 0, entropy: 0, alphaFraction, isGrayscale: true };
  }
  const invN = 1 / n;

  // Colourfulness terms, exact from the integer histograms.
  const rg = histMoments(rgHist, n, 255, 1);
  const yb = histMoments(ybHist, n, 510, 0.5);
  const colorfulness = fin(
    Math.sqrt(fin(rg.variance) + fin(yb.variance)) + 0.3 * Math.sqrt(rg.mean * rg.mean + yb.mean * yb.mean),
  );

  // Exact mean luma: mean R, G, B from mean G, mean(R - G), mean(R + G - 2B).
  const meanG = sumG * invN;
  const meanR = rg.mean + meanG;
  const meanB = (meanR + meanG - 2 * yb.mean) / 2;
  const brightness = clamp01((0.299 * meanR + 0.587 * meanG + 0.114 * meanB) / 255);

  // Contrast and entropy from the 8-bit luma histogram (as PIL 'L' / OpenCV gray).
  const luma = histMoments(lumaHist, n, 0, 1 / 255);
  const contrast = clamp01(Math.sqrt(fin(luma.variance)));
  let entropy = 0;
  for (let k = 0; k < 256; k++) {
    const c = lumaHist[k];
    if (c !== 0) {
      const p = c * invN;
      entropy -= p * Math.log2(p);
    }
  }
  entropy = entropy > 0 ? (entropy < 8 ? entropy : 8) : 0;

  let satSum = 0;
  for (let m = 1; m < 256; m++) {
    const sm = satTotal[m];
    if (sm !== 0) satSum += sm / m;
  }
  const saturation = clamp01(satSum * invN);

  return {
    brightness,
    contrast,
    saturation,
    colorfulness,
    entropy,
    alphaFraction,
    isGrayscale: notGray >= 0,
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
    for (let x = 1; x < w - 1; ) {
      // int32 accumulators over runs of <= 2048 pixels: |L| <= 1020, so the
      // run sum of L^2 stays below 2048 * 1020^2 < 2^31.
      const xe = Math.min(w - 1, x + 2048);
      let rl = 0;
      let rl2 = 0;
      let re = 0;
      for (; x < xe; x++, c += s) {
        const tr = data[c - row + s];
        const mr = data[c + s];
        const br = data[c + row + s];

        const lap = tm + bm + ml + mr - 4 * mm;
        rl = (rl + lap) | 0;
        rl2 = (rl2 + lap * lap) | 0;

        const gx = tr + 2 * mr + br - (tl + 2 * ml + bl);
        const gy = bl + 2 * bm + br - (tl + 2 * tm + tr);
        re += (thr2 - (gx * gx + gy * gy)) >>> 31; // 1 iff |G|^2 > threshold^2 (branchless)

        tl = tm;
        ml = mm;
        bl = bm;
        tm = tr;
        mm = mr;
        bm = br;
      }
      sL += rl;
      sL2 += rl2;
      edges += re;
    }
  }

  const m = (w - 2) * (h - 2);
  const meanL = sL / m;
  // Integer sums are exact in doubles for any realistic grid size.
  const sharpness = fin(sL2 / m - meanL * meanL);
  const edgeDensity = clamp01(edges / m);
  return { sharpness, edgeDensity };
}

// ---------------------------------------------------------------- gray grid

/** 128 * 65536: mid grey in the 16-bit fixed-point luma scale below. */
const MID_GREY_FIX = 128 * 65536;

// Scratch for grayGrid (synchronous, so one set serves every call), grown on demand.
let ggRow = new Float64Array(0); // fixed-point luma of one source row
let ggRows = new Float64Array(0); // every source row resampled horizontally: height x size
let ggAcc = new Float64Array(0); // one output row while it is accumulated

/** Area-average taps resampling `src` samples to `dst`: output i reads `count[i]` sources from `start[i]`, with weights `weight[i * stride + k]`. */
interface BoxTaps {
  start: Int32Array;
  count: Int32Array;
  weight: Float64Array;
  stride: number;
}

/**
 * Exact box weights in units of 1/dst of a source pixel: output i covers [i*src, (i+1)*src) and source j covers
 * [j*dst, (j+1)*dst) on that scale, so each weight is the integer overlap of the two and every output's weights sum
 * to `src`. Works for both directions: when src < dst an output lies inside one source pixel (one tap, weight src)
 * or straddles two (two taps).
 */
function boxTaps(src: number, dst: number): BoxTaps {
  const stride = Math.ceil(src / dst) + 1; // an interval of length src/dst touches at most this many pixels
  const start = new Int32Array(dst);
  const count = new Int32Array(dst);
  const weight = new Float64Array(dst * stride);
  for (let i = 0; i < dst; i++) {
    const lo = i * src;
    const hi = lo + src;
    const j0 = Math.floor(lo / dst);
    const j1 = Math.floor((hi - 1) / dst);
    start[i] = j0;
    count[i] = j1 - j0 + 1;
    for (let j = j0; j <= j1; j++) weight[i * stride + j - j0] = Math.min(hi, (j + 1) * dst) - Math.max(lo, j * dst);
  }
  return { start, count, weight, stride };
}

/**
 * The fixed-size grayscale grid sharpness and edge density are measured on (normally size = SHARPNESS_GRID), from
 * the RGB/RGBA working copy: Rec. 601 luma in 16-bit fixed point (19595/38470/7471 per 65536, as the luma
 * histogram uses, so grey stays exact), each pixel composited onto mid grey (128) weighted by its alpha, then an
 * exact area-average resample to size x size (aspect ratio not kept), rounded half up to 8 bits. Downsampling
 * averages every source pixel a cell covers, partial ones by their covered fraction; upsampling (an axis shorter
 * than `size`) repeats each source pixel over the cells inside it and blends two neighbours only in a cell that
 * straddles their boundary. The arithmetic is in integers held exactly in doubles (for any input below ~2e6
 * pixels, far above the 256-px working copy), so results do not depend on summation order.
 *
 * Cost: one pass over the source (luma + horizontal taps), one over the h x size intermediate; no per-pixel
 * allocation (the scratch rows are reused across calls); about 0.4 ms of CPU for a 256x256 input.
 */
export function grayGrid(color: RawImage, size: number): RawImage {
  validate(color, 'color', COLOR_CHANNELS, 'grayGrid');
  if (!Number.isInteger(size) || size <= 0) throw new Error(`grayGrid: size must be a positive integer, got ${size}`);
  const { data, width: w, height: h, channels: ch } = color;
  const n = size;
  const xt = boxTaps(w, n);
  const yt = boxTaps(h, n);
  if (ggRow.length < w) ggRow = new Float64Array(w);
  if (ggRows.length < h * n) ggRows = new Float64Array(h * n);
  if (ggAcc.length < n) ggAcc = new Float64Array(n);
  const row = ggRow;
  const rows = ggRows;
  const acc = ggAcc;
  const { start: xs, count: xc, weight: xw, stride: xStride } = xt;

  // Horizontal pass: luma of each source row, then its n box means (unnormalised).
  for (let y = 0, i = 0; y < h; y++) {
    if (ch === 4) {
      // a * Y + (255 - a) * 128, all scaled by 65536: alpha-weighted blend onto mid grey, times 255.
      for (let x = 0; x < w; x++, i += 4) {
        const lum = 19595 * data[i] + 38470 * data[i + 1] + 7471 * data[i + 2];
        row[x] = data[i + 3] * (lum - MID_GREY_FIX) + 255 * MID_GREY_FIX;
      }
    } else {
      for (let x = 0; x < w; x++, i += 3) row[x] = 19595 * data[i] + 38470 * data[i + 1] + 7471 * data[i + 2];
    }
    const o = y * n;
    for (let ox = 0; ox < n; ox++) {
      const j0 = xs[ox];
      const tb = ox * xStride;
      const c = xc[ox];
      let sum = 0;
      for (let k = 0; k < c; k++) sum += xw[tb + k] * row[j0 + k];
      rows[o + ox] = sum;
    }
  }

  // Vertical pass: weighted sums of the resampled rows; weights total w (x) times h (y), luma scale 65536 (x 255 with alpha).
  const den = w * h * 65536 * (ch === 4 ? 255 : 1);
  const out = new Uint8Array(n * n);
  const { start: ys, count: yc, weight: yw, stride: yStride } = yt;
  for (let oy = 0; oy < n; oy++) {
    acc.fill(0, 0, n);
    const j0 = ys[oy];
    for (let k = 0, c = yc[oy]; k < c; k++) {
      const wt = yw[oy * yStride + k];
      const r = (j0 + k) * n;
      for (let ox = 0; ox < n; ox++) acc[ox] += wt * rows[r + ox];
    }
    const o = oy * n;
    for (let ox = 0; ox < n; ox++) {
      const v = Math.floor(acc[ox] / den + 0.5);
      out[o + ox] = v < 255 ? v : 255; // never above 255 in exact arithmetic; belt and braces
    }
  }
  return { data: out, width: n, height: n, channels: 1 };
}

/**
 * Compute per-image statistics. `color` is the <=256 px RGB/RGBA working copy
 * (colour, luma and alpha stats); `gray` is the fixed SHARPNESS_GRID x
 * SHARPNESS_GRID grayscale grid, grayGrid(color, SHARPNESS_GRID) (sharpness,
 * edge density).
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
