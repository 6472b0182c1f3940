// Odd images as cleanvision flags them (dark, light, blurry, low information, odd aspect ratio, odd size,
// grayscale), computed from the statistics `miru index` already stores per image (core/library/imageStats.ts),
// so no pixel is decoded again. Each issue type gets a score in [0, 1] where LOW means the issue is strong
// (cleanvision's convention, and the label-quality convention of confidentLearning.ts), and a flag when the score
// is below the threshold. Thresholds are cleanvision 0.3's defaults; where Miru's statistic is not the one
// cleanvision measures, the score maps Miru's onto cleanvision's scale as noted per type:
//
// - dark: cleanvision scores the 99th percentile of per-pixel brightness, flag < 0.32. Miru stores the mean and
//   standard deviation of Rec. 601 luma, so the percentile is estimated as mean + 2.326 sd (normal quantile),
//   clipped to [0, 1]. Checked on 280 synth illustrations (originals and versions darkened to 12-40 % or lightened
//   to 85-95 % white) against cleanvision's own percentiles: dark flags agree on 272 and light flags on all 280;
//   the 8 misses are darkened versions near the threshold (7 at 40 %, 1 at 25 %), where the estimate runs high.
// - light: 1 − the 5th percentile (estimated as mean − 1.645 sd), flag < 0.05 (cleanvision's).
// - blurry: cleanvision scores 1 − exp(−0.01 · b) with b the standard deviation of PIL's FIND_EDGES response on a
//   64-px grey copy, flag < 0.29. Miru's sharpness is the variance of a 4-neighbour Laplacian on a 128 x 128 grey
//   grid; on 200 synth illustrations (5 Gaussian blur levels) b was a median 3.7 times sqrt(sharpness), so the
//   score is 1 − exp(−0.01 · 3.7 · sqrt(sharpness)). The two measures agree only roughly (log-log r = 0.83):
//   cleanvision's 64-px copy hides blur that Miru's finer grid sees. cleanvision's extra term for images of few
//   grey levels is not reproduced (Miru stores no grey histogram).
// - low_information: min(1, 0.1 · entropy), flag < 0.3. cleanvision uses PIL's Image.entropy(), which for a colour
//   image is the entropy of the three channel histograms side by side, about log2(3) bits above the luma entropy
//   Miru stores (median gap 0.24 bits after adding it, on the same 280 images); so log2(3) is added for images
//   stored with 3 or 4 channels.
// - odd_aspect_ratio: min(w/h, h/w), flag < 0.35.
// - odd_size: s = sqrt(w) · sqrt(h); with the library's quartiles q1, q3 of s and fences lo = q1 − 3 IQR,
//   hi = q3 + 3 IQR, score = 1 − clip(|s − (lo + hi)/2| / (hi − lo), 0, 1), flag < 0.5 (outside the fences); when
//   every size is the same (hi = lo) the distance is divided by the midpoint and any other size is flagged
//   (threshold 1), as cleanvision does.
// - grayscale: score 0 for images whose visible pixels are all within 8 levels across channels (imageStats'
//   isGrayscale; cleanvision checks PIL's mode "L"), else 1; flagged when 0.
//
// Stored as one analysis of kind 'image-issues' per issue type (params {issue, threshold}): value = score,
// extra = [flag (1 or 0)]; so the UI lists, colours and filters each type like any other per-image analysis.
import type { LibraryDb } from '../library/openLibrary.js';
import { saveAnalysis } from './analysisStore.js';

export const IMAGE_ISSUE_TYPES = ['dark', 'light', 'blurry', 'low_information', 'odd_aspect_ratio', 'odd_size', 'grayscale'] as const;
export type ImageIssueType = (typeof IMAGE_ISSUE_TYPES)[number];

/** cleanvision's default thresholds (score below = flagged); grayscale is a yes/no property. */
export const DEFAULT_IMAGE_ISSUE_THRESHOLDS: Record<Exclude<ImageIssueType, 'grayscale'>, number> = {
  dark: 0.32,
  light: 0.05,
  blurry: 0.29,
  low_information: 0.3,
  odd_aspect_ratio: 0.35,
  odd_size: 0.5,
};

const Z99 = 2.3263478740408408; // standard normal 99th percentile
const Z05 = 1.6448536269514722; // standard normal 95th percentile (so mean − z sd is the 5th)
const BLUR_NORMALIZING = 0.01; // cleanvision's normalizing_factor for blurriness
const BLUR_SCALE = 3.7; // cleanvision blurriness per unit of sqrt(Miru sharpness), measured (see above)
const ENTROPY_NORMALIZING = 0.1; // cleanvision's normalizing_factor for entropy
const SIZE_IQR_FACTOR = 3;

/** The stored statistics an image's issues are computed from (columns of `images`). */
export interface ImageStatsRow {
  id: number;
  width: number;
  height: number;
  channels: number | null;
  brightness: number;
  contrast: number;
  sharpness: number;
  entropy: number;
  isGrayscale: boolean;
}

export interface ImageIssueScores {
  type: ImageIssueType;
  /** The threshold the flags use (for odd_size: 1 when every image has the same size). */
  threshold: number;
  /** Row i belongs to ids[i]. */
  ids: Int32Array;
  scores: Float64Array;
  flags: Uint8Array;
  flagged: number;
}

/**
 * numpy's default percentile of ascending values: linear interpolation between the order statistics around
 * (n − 1) · q, q = p / 100, with numpy's own arithmetic (the lerp starts from the nearer end) so the fences match to
 * the last bit.
 */
export function percentile(sorted: Float64Array, p: number): number {
  const n = sorted.length;
  const pos = Math.min(Math.max((n - 1) * (p / 100), 0), n - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, n - 1);
  const t = pos - lo;
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  const diff = b - a;
  return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

function clip01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

/** Per-type scores and flags for the given images (see the module comment for each definition). */
export function scoreImageIssues(rows: readonly ImageStatsRow[], thresholds: Partial<typeof DEFAULT_IMAGE_ISSUE_THRESHOLDS> = {}): ImageIssueScores[] {
  const n = rows.length;
  const ids = Int32Array.from(rows, (r) => r.id);
  const limits = { ...DEFAULT_IMAGE_ISSUE_THRESHOLDS, ...thresholds };
  for (const [type, t] of Object.entries(limits)) {
    if (!(t >= 0 && t <= 1)) throw new Error(`The ${type} threshold must be in [0, 1] (got ${t}).`);
  }
  const out: ImageIssueScores[] = [];
  const make = (type: ImageIssueType, threshold: number, score: (r: ImageStatsRow, i: number) => number, flag?: (s: number) => boolean) => {
    const scores = new Float64Array(n);
    const flags = new Uint8Array(n);
    let flagged = 0;
    for (let i = 0; i < n; i++) {
      const s = score(rows[i]!, i);
      scores[i] = s;
      flags[i] = (flag ? flag(s) : s < threshold) ? 1 : 0;
      flagged += flags[i]!;
    }
    out.push({ type, threshold, ids, scores, flags, flagged });
  };

  make('dark', limits.dark, (r) => clip01(r.brightness + Z99 * r.contrast));
  make('light', limits.light, (r) => 1 - clip01(r.brightness - Z05 * r.contrast));
  make('blurry', limits.blurry, (r) => 1 - Math.exp(-BLUR_NORMALIZING * BLUR_SCALE * Math.sqrt(Math.max(0, r.sharpness))));
  make('low_information', limits.low_information, (r) => Math.min(1, ENTROPY_NORMALIZING * (r.entropy + ((r.channels ?? 3) >= 3 ? Math.log2(3) : 0))));
  make('odd_aspect_ratio', limits.odd_aspect_ratio, (r) => Math.min(r.width / r.height, r.height / r.width));

  const size = Float64Array.from(rows, (r) => Math.sqrt(r.width) * Math.sqrt(r.height));
  if (n > 0) {
    const sorted = Float64Array.from(size).sort();
    const q1 = percentile(sorted, 25);
    const q3 = percentile(sorted, 75);
    const lo = q1 - SIZE_IQR_FACTOR * (q3 - q1);
    const hi = q3 + SIZE_IQR_FACTOR * (q3 - q1);
    const mid = (lo + hi) / 2;
    const gap = hi - lo;
    // All sizes equal: no spread to judge by, so any different size is odd (cleanvision's threshold 1 case).
    const norm = gap > 0 ? gap : mid;
    const threshold = gap > 0 ? limits.odd_size : 1;
    make('odd_size', threshold, (_r, i) => 1 - clip01(Math.abs(size[i]! - mid) / norm));
  } else make('odd_size', limits.odd_size, () => 1);

  make('grayscale', 0, (r) => (r.isGrayscale ? 0 : 1), (s) => s === 0);
  return out;
}

/** Indexed images with their statistics; images without statistics (not yet analysed, unreadable) are counted apart. */
export function readImageStats(db: LibraryDb): { rows: ImageStatsRow[]; withoutStats: number } {
  const all = db
    .prepare<
      [],
      { id: number; width: number | null; height: number | null; channels: number | null; brightness: number | null; contrast: number | null; sharpness: number | null; entropy: number | null; is_grayscale: number | null }
    >(`SELECT id, width, height, channels, brightness, contrast, sharpness, entropy, is_grayscale FROM images WHERE status = 'ok' ORDER BY id`)
    .all();
  const rows: ImageStatsRow[] = [];
  let withoutStats = 0;
  for (const r of all) {
    if (!r.width || !r.height || r.brightness === null || r.contrast === null || r.sharpness === null || r.entropy === null || r.is_grayscale === null) {
      withoutStats++;
      continue;
    }
    rows.push({
      id: r.id,
      width: r.width,
      height: r.height,
      channels: r.channels,
      brightness: r.brightness,
      contrast: r.contrast,
      sharpness: r.sharpness,
      entropy: r.entropy,
      isGrayscale: r.is_grayscale !== 0,
    });
  }
  return { rows, withoutStats };
}

export interface ImageIssuesResult {
  images: number;
  withoutStats: number;
  issues: ImageIssueScores[];
}

export function computeImageIssues(db: LibraryDb, thresholds: Partial<typeof DEFAULT_IMAGE_ISSUE_THRESHOLDS> = {}): ImageIssuesResult {
  const { rows, withoutStats } = readImageStats(db);
  return { images: rows.length, withoutStats, issues: scoreImageIssues(rows, thresholds) };
}

/** Stores one 'image-issues' analysis per issue type (replacing earlier ones of the same type); returns their ids. */
export function saveImageIssues(db: LibraryDb, result: ImageIssuesResult): Record<ImageIssueType, number> {
  const ids = {} as Record<ImageIssueType, number>;
  db.transaction(() => {
    for (const issue of result.issues) {
      ids[issue.type] = saveAnalysis(db, {
        kind: 'image-issues',
        sourceRunId: null,
        params: { issue: issue.type },
        summary: { issue: issue.type, threshold: issue.threshold, flagged: issue.flagged, images: result.images, withoutStats: result.withoutStats },
        values: (function* () {
          for (let i = 0; i < issue.ids.length; i++) yield { imageId: issue.ids[i]!, value: issue.scores[i]!, extra: Float32Array.of(issue.flags[i]!) };
        })(),
      });
    }
  })();
  return ids;
}
