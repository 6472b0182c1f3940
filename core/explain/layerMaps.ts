/**
 * Layer tensors as maps. A spatial layer (N, C, h, w) is already one; a token layer (N, L, C) becomes (C, h, w)
 * after dropping its prefix tokens (CLS, registers), as pytorch-grad-cam's reshape_transform does for ViTs.
 * The inverse writes an edited map back into one image's token sequence, prefix untouched, for head runs.
 */
import { ExplainSetupError, type ActivationMap } from './explainTypes.js';

export interface TokenLayout {
  prefix: number;
  grid: [number, number];
}

export type LayerLayout = { kind: 'spatial'; channels: number; height: number; width: number } | { kind: 'tokens'; channels: number; length: number; tokens: TokenLayout };

export class LayerShapeError extends ExplainSetupError {}

/**
 * Prefix token counts models use: none (Swin, pooled ViTs), CLS, CLS + distillation (DeiT), CLS + 4 registers
 * (DINOv2 with registers). Anything else must come from the card: trying every small prefix until the rest is
 * square turns a channels-first (N, C, L) tensor into a plausible but wrong grid (128 "tokens" = 7 + 11x11).
 */
export const COMMON_TOKEN_PREFIXES = [0, 1, 2, 5] as const;

/** The card's saliency section, as far as reading layers goes. */
export interface SaliencyHint {
  layer?: string;
  tokens?: TokenLayout;
}

/**
 * How a rank-3 tensor (N, length, channels) reads as tokens, or why it does not. The card's token layout
 * applies to every token layer of its length (the token count is the same before and after each block); a
 * length mismatch is the card's mistake only at the layer the card names.
 */
export function tokenLayout(layer: string, length: number, channels: number, card?: SaliencyHint): TokenLayout | { problem: string } {
  const given = card?.tokens;
  if (given) {
    const expected = given.prefix + given.grid[0] * given.grid[1];
    if (expected === length) return given;
    if (card.layer === layer) {
      return { problem: `layer ${layer} has ${length} tokens, but the card's saliency.tokens says ${given.prefix} prefix + ${given.grid[0]}x${given.grid[1]} grid = ${expected}; fix saliency.tokens in the card` };
    }
  }
  for (const prefix of COMMON_TOKEN_PREFIXES) {
    const side = squareSide(length - prefix);
    if (side !== undefined) return { prefix, grid: [side, side] };
  }
  const side = squareSide(channels);
  if (side !== undefined) {
    return {
      problem:
        `layer ${layer} has shape [N, ${length}, ${channels}]: ${length} is no token count (no prefix of ${COMMON_TOKEN_PREFIXES.join(', ')} tokens leaves a square grid) ` +
        `but ${channels} = ${side}x${side}, so it looks channels-first (N, C, L), as a patch embedding is before its Transpose; ` +
        'choose the tensor after the Transpose (N, L, C) (see miru models inspect), or set saliency.tokens {prefix, grid} in the card if it really is a token sequence',
    };
  }
  return { problem: `layer ${layer} has ${length} tokens, and no prefix of ${COMMON_TOKEN_PREFIXES.join(', ')} tokens leaves a square grid; set saliency.tokens {prefix, grid} in the card` };
}

function squareSide(n: number): number | undefined {
  if (!(n > 0)) return undefined;
  const side = Math.round(Math.sqrt(n));
  return side * side === n ? side : undefined;
}

/**
 * Whether a rank-4 layer is channels-last (N, H, W, C), as tensors between the Transposes of a TensorFlow/Keras
 * export are (the WD v2 taggers): square maps tell by which pair of axes is equal; otherwise the model's input
 * layout decides, since such exports keep the layout they were fed in.
 */
export function isChannelsLast(shape: readonly number[], inputLayout: 'NCHW' | 'NHWC' = 'NCHW'): boolean {
  const [, a, b, c] = shape as [number, number, number, number];
  if (b === c && a !== b) return false;
  if (a === b && b !== c) return true;
  return inputLayout === 'NHWC';
}

/**
 * How to read a layer of this shape (batch first); token layers as tokenLayout says. A channels-last map is read
 * as what it is in memory: a sequence of H*W positions of C channels, i.e. tokens without a prefix on an H x W grid.
 */
export function layerLayout(layer: string, shape: readonly number[], card?: SaliencyHint, inputLayout?: 'NCHW' | 'NHWC'): LayerLayout {
  if (shape.length === 4) {
    const [, a, b, c] = shape as [number, number, number, number];
    if (isChannelsLast(shape, inputLayout)) return { kind: 'tokens', channels: c, length: a * b, tokens: { prefix: 0, grid: [a, b] } };
    return { kind: 'spatial', channels: a, height: b, width: c };
  }
  if (shape.length === 3) {
    const [, length, channels] = shape as [number, number, number];
    const tokens = tokenLayout(layer, length, channels, card);
    if ('problem' in tokens) throw new LayerShapeError(tokens.problem);
    return { kind: 'tokens', channels, length, tokens };
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
