/**
 * Layer tensors as maps. A spatial layer (N, C, h, w) is already one; a token layer (N, L, C) becomes (C, h, w)
 * after dropping its prefix tokens (CLS, registers), as pytorch-grad-cam's reshape_transform does for ViTs.
 * The inverse writes an edited map back into one image's token sequence, prefix untouched, for head runs.
 */
import type { ActivationMap } from './explainTypes.js';

export interface TokenLayout {
  prefix: number;
  grid: [number, number];
}

export type LayerLayout = { kind: 'spatial'; channels: number; height: number; width: number } | { kind: 'tokens'; channels: number; length: number; tokens: TokenLayout };

export class LayerShapeError extends Error {}

/**
 * How to read a layer of this shape (batch first). Token layers use the card's prefix and grid, or infer them:
 * the smallest prefix (0 to 16) that leaves a square number of tokens.
 */
export function layerLayout(layer: string, shape: readonly number[], tokens?: TokenLayout): LayerLayout {
  if (shape.length === 4) return { kind: 'spatial', channels: shape[1]!, height: shape[2]!, width: shape[3]! };
  if (shape.length === 3) {
    const [, length, channels] = shape as [number, number, number];
    if (tokens) {
      if (tokens.prefix + tokens.grid[0] * tokens.grid[1] !== length) {
        throw new LayerShapeError(`layer ${layer} has ${length} tokens, but the card's saliency.tokens says ${tokens.prefix} prefix + ${tokens.grid[0]}x${tokens.grid[1]} grid = ${tokens.prefix + tokens.grid[0] * tokens.grid[1]}; fix saliency.tokens in the card`);
      }
      return { kind: 'tokens', channels, length, tokens };
    }
    for (let prefix = 0; prefix <= Math.min(16, length - 1); prefix++) {
      const side = Math.round(Math.sqrt(length - prefix));
      if (side * side === length - prefix) return { kind: 'tokens', channels, length, tokens: { prefix, grid: [side, side] } };
    }
    throw new LayerShapeError(`layer ${layer} has ${length} tokens, and no prefix of 0-16 tokens leaves a square grid; set saliency.tokens {prefix, grid} in the card`);
  }
  throw new LayerShapeError(`layer ${layer} has shape [${shape.join(', ')}], which is neither a spatial map (N, C, H, W) nor a token sequence (N, L, C); choose a layer with one (see miru models inspect)`);
}

export function mapGrid(layout: LayerLayout): [number, number] {
  return layout.kind === 'spatial' ? [layout.height, layout.width] : layout.tokens.grid;
}

/** Values per image in the layer tensor. */
export function layerSize(layout: LayerLayout): number {
  return layout.kind === 'spatial' ? layout.channels * layout.height * layout.width : layout.length * layout.channels;
}

/** Image `n`'s slice of a batched layer tensor as a C x h x w map. */
export function toActivationMap(data: Float32Array, layout: LayerLayout, n: number): ActivationMap {
  const per = layerSize(layout);
  const slice = data.subarray(n * per, (n + 1) * per);
  if (layout.kind === 'spatial') return { data: Float32Array.from(slice), channels: layout.channels, height: layout.height, width: layout.width };
  const [h, w] = layout.tokens.grid;
  const c = layout.channels;
  const plane = h * w;
  const out = new Float32Array(c * plane);
  for (let p = 0; p < plane; p++) {
    const token = (layout.tokens.prefix + p) * c;
    for (let k = 0; k < c; k++) out[k * plane + p] = slice[token + k]!;
  }
  return { data: out, channels: c, height: h, width: w };
}

/** The layer values of one image with its grid part replaced by `map` (prefix tokens kept from `original`). */
export function fromActivationMap(map: Float32Array, original: Float32Array, layout: LayerLayout): Float32Array {
  if (layout.kind === 'spatial') return Float32Array.from(map);
  const out = Float32Array.from(original);
  const [h, w] = layout.tokens.grid;
  const c = layout.channels;
  const plane = h * w;
  for (let p = 0; p < plane; p++) {
    const token = (layout.tokens.prefix + p) * c;
    for (let k = 0; k < c; k++) out[token + k] = map[k * plane + p]!;
  }
  return out;
}
