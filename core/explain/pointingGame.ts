/**
 * The pointing game (Zhang et al., "Top-down Neural Attention by Excitation Backprop", ECCV 2016): a map "hits"
 * when its maximum lies on the object, within a tolerance of 15 pixels. Miru's synthetic datasets know where the
 * subject is (truth.json subjectBox), so this scores saliency methods against ground truth (issue 4).
 *
 * Also the geometry between the model input and the original image (planResize): tensor coordinates to image
 * coordinates for the pointing game, and back for overlays.
 */
import type { ModelCardInput } from '../models/modelCard.js';
import { planResize, type AxisPlan, type ResizePlan } from '../models/preprocessResample.js';
import type { PixelBox } from '../synth/renderIllustration.js';

export type ResizeGeometry = Pick<ModelCardInput, 'size' | 'resize' | 'crop'>;

// Coordinates are continuous with pixel edges at integers (pixel i covers [i, i + 1)), on every grid: the
// original image, the padded canvas, the resized canvas and the tensor. Resampling maps edges to edges.

/** Tensor coordinate -> original-image coordinate along one axis (may fall outside the image in letterbox pad). */
export function tensorToImage(axis: AxisPlan, t: number): number {
  return ((t + axis.cropStart) * axis.canvas) / axis.resized - axis.padBefore;
}

/** Original-image coordinate -> tensor coordinate along one axis (outside [0, target) where the model saw nothing). */
export function imageToTensor(axis: AxisPlan, s: number): number {
  return ((s + axis.padBefore) * axis.resized) / axis.canvas - axis.cropStart;
}

export interface PointingGameResult {
  hit: boolean;
  /** The map's maximum in original-image pixel coordinates (the centre of its cell). */
  point: { x: number; y: number };
  /** Distance in pixels from the point to the box; 0 inside it. */
  distance: number;
  /** The map cell holding the maximum (the first one, row-major, when several tie). */
  cell: { row: number; col: number };
  /** The map is constant (all zeros after ReLU, say): it points nowhere, so it is a miss whatever cell (0, 0) is near. */
  flat: boolean;
  /** False when the point lies in letterbox padding, outside the image. */
  insideImage: boolean;
}

/**
 * Whether the map's maximum falls within `tolerance` pixels of the box (distance from the point to the box
 * rectangle <= tolerance; inside the box is always a hit). The maximum is taken on the map's own grid: a bilinear
 * upsampling (align_corners=False) never exceeds its grid values and reaches the largest at that cell's centre,
 * so upsampling first would only cost time. The cell centre goes tensor -> resized -> canvas -> image through
 * the card's preprocessing geometry (stretch, center-crop, letterbox).
 * TorchRay's implementation compares integer pixel indices with a strict < tolerance; the difference is under a
 * pixel.
 */
export function pointingGameHit(
  map: ArrayLike<number>,
  grid: readonly [number, number],
  box: PixelBox,
  imageSize: { width: number; height: number },
  cardInput: ResizeGeometry,
  tolerance = 15,
): PointingGameResult {
  const [gh, gw] = grid;
  if (map.length !== gh * gw || map.length === 0) throw new Error(`pointing game: the map has ${map.length} values, not ${gh}x${gw}`);
  if (!(imageSize.width >= 1 && imageSize.height >= 1)) throw new Error(`pointing game: bad image size ${imageSize.width}x${imageSize.height}`);
  if (!(tolerance >= 0)) throw new Error(`pointing game: tolerance must be >= 0 pixels, got ${tolerance}`);
  let best = -Infinity;
  let lowest = Infinity;
  let at = 0;
  for (let i = 0; i < map.length; i++) {
    const v = map[i]!;
    if (Number.isNaN(v)) continue;
    if (v > best) {
      best = v;
      at = i;
    }
    if (v < lowest) lowest = v;
  }
  const row = Math.floor(at / gw);
  const col = at % gw;
  const plan: ResizePlan = planResize(imageSize.width, imageSize.height, cardInput);
  const [H, W] = cardInput.size;
  const x = tensorToImage(plan.x, ((col + 0.5) * W) / gw);
  const y = tensorToImage(plan.y, ((row + 0.5) * H) / gh);
  const dx = Math.max(box.x - x, 0, x - (box.x + box.width));
  const dy = Math.max(box.y - y, 0, y - (box.y + box.height));
  const distance = Math.hypot(dx, dy);
  return {
    hit: best > lowest && distance <= tolerance,
    point: { x, y },
    distance,
    cell: { row, col },
    flat: !(best > lowest),
    insideImage: x >= 0 && x < imageSize.width && y >= 0 && y < imageSize.height,
  };
}

export interface PointingGameSummary {
  hits: number;
  total: number;
  /** hits / total (NaN for no images). Flat maps count in the total as misses, as every image counts in the paper. */
  hitRate: number;
  /** How many maps were constant (misses, counted here so an empty method is told from a wrong one). */
  flat: number;
}

export function pointingGameSummary(results: readonly PointingGameResult[]): PointingGameSummary {
  const hits = results.filter((r) => r.hit).length;
  return {
    hits,
    total: results.length,
    hitRate: results.length > 0 ? hits / results.length : Number.NaN,
    flat: results.filter((r) => r.flat).length,
  };
}
