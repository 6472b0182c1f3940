/**
 * Turns an image file into one model input tensor exactly as its card says (DESIGN.md "Model cards").
 *
 * The decoded image goes through these steps, each a fixed convention the reference test checks
 * (test/fixtures/preprocess/makeReference.py):
 * 1. EXIF orientation applied; embedded ICC profiles ignored (as PIL, which trained the models, ignores them).
 * 2. Everything becomes 8-bit sRGB first: 16-bit samples keep their high byte (v >> 8, as libvips and PIL do);
 *    grayscale is replicated to R = G = B.
 * 3. Alpha is composited onto the card's pad colour: floor((c * a + pad * (255 - a)) / 255) (libvips' flatten;
 *    PIL's alpha_composite rounds instead, a difference of at most one level on partly transparent pixels).
 * 4. Geometry (preprocessResample.ts planResize): stretch, center-crop (torchvision) or letterbox (WD tagger),
 *    resampled with the card's interpolation. Axes that shrink go through libvips (kernels linear, cubic,
 *    lanczos3 = Pillow's BILINEAR, BICUBIC and LANCZOS; Pillow's bicubic is Keys a = -0.5, i.e. Catmull-Rom,
 *    which is sharp's 'cubic', not 'mitchell'), in the decode pipeline, or for a letterbox's padded axis in a
 *    second small pipeline after padding (sharp can only pad after resizing). Axes that grow and nearest are
 *    resampled in JS with Pillow's own algorithm: libvips enlarges on a grid shifted from Pillow's.
 * 5. One pass to float32 through a per-channel lookup table: (p / scale - mean) / std, in the card's channel
 *    order and layout.
 * Heavy work stays in libvips threads (decode, orient, flatten, shrink). JavaScript enlarges images smaller than
 * the tensor, copies for padding and crops, so the main thread stays cheap per image; only nearest, rare in
 * practice, gathers from the full decoded image in JavaScript.
 * Measured against PIL on these recipes: bit-identical without resampling, when enlarging and for nearest;
 * shrinking differs by about 0.3 levels of 255 on average (see the reference test for the bounds).
 */
import { promises as fs } from 'node:fs';
import sharp, { type Sharp, type SharpOptions } from 'sharp';
import type { Interpolation, ModelCard, ModelCardInput } from './modelCard.js';
import { cropTable, planResize, resampleColumns, resampleRows, resampleTable, type AxisPlan, type ResizePlan } from './preprocessResample.js';

export { planResize, type AxisPlan, type ResizePlan } from './preprocessResample.js';

/** sharp's kernel for each card interpolation (used only where libvips shrinks an axis). */
export const SHARP_KERNELS: Record<Exclude<Interpolation, 'nearest'>, 'linear' | 'cubic' | 'lanczos3'> = {
  bilinear: 'linear',
  bicubic: 'cubic',
  lanczos3: 'lanczos3',
};

const SHARP_INPUT: SharpOptions = { ignoreIcc: true };

/** One image's tensor in the card's layout: C*H*W floats for NCHW, H*W*C for NHWC. */
export async function preprocessImage(input: Buffer | string, card: ModelCard): Promise<Float32Array> {
  const buffer = typeof input === 'string' ? await fs.readFile(input) : input;
  const meta = await sharp(buffer, SHARP_INPUT).metadata();
  const width = meta.autoOrient?.width ?? meta.width;
  const height = meta.autoOrient?.height ?? meta.height;
  if (!width || !height) throw new Error('the image header gives no width or height');
  const spec = card.input;
  const plan = planResize(width, height, spec);
  let pipeline = sharp(buffer, SHARP_INPUT).autoOrient();
  // Anything but plain 8-bit sRGB (or 8-bit gray without alpha, which resizes the same per channel) becomes 8-bit
  // sRGB before flattening and resizing, so the pad colour is composited in colour and 16-bit images are resized
  // as the 8-bit images the reference recipes see. Plain images skip it: it costs libvips a full-size pass.
  const plain = meta.depth === 'uchar' && (meta.space === 'srgb' || (meta.space === 'b-w' && !meta.hasAlpha));
  if (!plain) pipeline = pipeline.pipelineColourspace('srgb');
  if (meta.hasAlpha) pipeline = pipeline.flatten({ background: { r: spec.pad[0], g: spec.pad[1], b: spec.pad[2] } });
  return runPlan(pipeline, plan, spec);
}

/**
 * The same for pixels a caller already decoded: interleaved 8-bit RGB, width * height * 3 bytes, already
 * oriented and without alpha.
 */
export async function preprocessRaw(rgb: Uint8Array, width: number, height: number, card: ModelCard): Promise<Float32Array> {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) throw new Error(`preprocessRaw: bad image size ${width}x${height}`);
  if (rgb.length !== width * height * 3) {
    throw new Error(`preprocessRaw: ${rgb.length} bytes is not ${width}x${height} interleaved RGB (${width * height * 3} bytes)`);
  }
  const spec = card.input;
  const plan = planResize(width, height, spec);
  const vips = vipsAxes(plan, spec.interpolation);
  if (!vips.x && !vips.y) return finish(rgb, width, height, plan, vips, spec);
  const pipeline = sharp(rgb, { raw: { width, height, channels: 3 } });
  return runPlan(pipeline, plan, spec);
}

/** Stacks single-image tensors (from preprocessImage) into one batch: [N,3,H,W] or [N,H,W,3]. */
export function toBatchTensor(images: Float32Array[], card: ModelCard): { data: Float32Array; dims: number[] } {
  const [h, w] = card.input.size;
  const per = 3 * h * w;
  if (images.length === 0) throw new Error('toBatchTensor: no images in the batch');
  const data = new Float32Array(per * images.length);
  images.forEach((image, i) => {
    if (image.length !== per) throw new Error(`toBatchTensor: image ${i} has ${image.length} values, but the card's input ${card.input.name} takes ${h}x${w}x3 = ${per}`);
    data.set(image, i * per);
  });
  const dims = card.input.layout === 'NCHW' ? [images.length, 3, h, w] : [images.length, h, w, 3];
  return { data, dims };
}

// ----------------------------------------------------------------------------------------------- internals

/** Which axes libvips resamples: those that shrink (padded or not), unless the card asks for nearest. */
interface VipsAxes {
  x: boolean;
  y: boolean;
}

function vipsAxes(plan: ResizePlan, interpolation: Interpolation): VipsAxes {
  const shrinks = (a: AxisPlan) => interpolation !== 'nearest' && a.resized < a.canvas;
  return { x: shrinks(plan.x), y: shrinks(plan.y) };
}

const isPadded = (a: AxisPlan) => a.canvas !== a.source;

function resizeOptions(width: number, height: number, interpolation: Interpolation) {
  return {
    width,
    height,
    fit: 'fill' as const,
    kernel: SHARP_KERNELS[interpolation as Exclude<Interpolation, 'nearest'>],
    // Shrink-on-load (JPEG DCT scaling, WebP) is fast but not what any training pipeline did.
    fastShrinkOnLoad: false,
  };
}

/**
 * Stage 1 (the decode pipeline) shrinks the unpadded axes. A padded axis that shrinks (letterbox of an image
 * larger than the model) is padded here and shrunk by a second, small libvips pipeline: sharp can only pad after
 * resizing, and the recipe pads first. Shrinking a constant pad axis commutes with the other axis' resampling,
 * so this is the pad-then-resize recipe. The rest (crop, enlarge, nearest) is finish's.
 */
async function runPlan(pipeline: Sharp, plan: ResizePlan, spec: ModelCardInput): Promise<Float32Array> {
  const vips = vipsAxes(plan, spec.interpolation);
  const early = { x: vips.x && !isPadded(plan.x), y: vips.y && !isPadded(plan.y) };
  let cropped = false;
  if (early.x || early.y) {
    pipeline = pipeline.resize(resizeOptions(early.x ? plan.x.resized : plan.x.source, early.y ? plan.y.resized : plan.y.source, spec.interpolation));
    if (early.x && early.y && (plan.x.resized !== plan.x.target || plan.y.resized !== plan.y.target)) {
      pipeline = pipeline.extract({ left: plan.x.cropStart, top: plan.y.cropStart, width: plan.x.target, height: plan.y.target });
      cropped = true;
    }
  }
  const { data, info } = await pipeline.removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`decoding gave ${info.channels} channels where 3 (RGB) were expected`);
  let pixels: Uint8Array = new Uint8Array(data.buffer, data.byteOffset, data.length);
  if (cropped) return toTensor(pixels, plan.x.target, plan.y.target, spec);
  let w = info.width;
  let h = info.height;
  const late = { x: vips.x && isPadded(plan.x), y: vips.y && isPadded(plan.y) };
  if (late.x || late.y) {
    if (late.x) {
      pixels = padColumns(pixels, w, h, plan.x.padBefore, plan.x.canvas, spec.pad);
      w = plan.x.canvas;
    }
    if (late.y) {
      pixels = padRows(pixels, w, h, plan.y.padBefore, plan.y.canvas, spec.pad);
      h = plan.y.canvas;
    }
    const second = await sharp(pixels, { raw: { width: w, height: h, channels: 3 } })
      .resize(resizeOptions(late.x ? plan.x.resized : w, late.y ? plan.y.resized : h, spec.interpolation))
      .raw()
      .toBuffer({ resolveWithObject: true });
    pixels = new Uint8Array(second.data.buffer, second.data.byteOffset, second.data.length);
    w = second.info.width;
    h = second.info.height;
  }
  return finish(pixels, w, h, plan, vips, spec);
}

/**
 * The JS part, horizontal first as in Pillow: an axis libvips resampled only needs its crop; any other axis is
 * padded, enlarged (or nearest-sampled) and cropped by Pillow's algorithm, or left alone when nothing changes.
 */
function finish(rgb: Uint8Array, width: number, height: number, plan: ResizePlan, vips: VipsAxes, spec: ModelCardInput): Float32Array {
  let pixels = rgb;
  let w = width;
  let h = height;
  const x = vips.x ? (w === plan.x.target ? null : cropTable(plan.x.cropStart, plan.x.target)) : isIdentity(plan.x) ? null : resampleTable(plan.x, spec.interpolation);
  const y = vips.y ? (h === plan.y.target ? null : cropTable(plan.y.cropStart, plan.y.target)) : isIdentity(plan.y) ? null : resampleTable(plan.y, spec.interpolation);
  if (x) {
    pixels = resampleRows(pixels, w, h, x, spec.pad);
    w = x.outSize;
  }
  if (y) {
    pixels = resampleColumns(pixels, w, h, y, spec.pad);
    h = y.outSize;
  }
  if (w !== plan.x.target || h !== plan.y.target) throw new Error(`internal: preprocessing produced ${w}x${h}, not ${plan.x.target}x${plan.y.target}`);
  return toTensor(pixels, w, h, spec);
}

function isIdentity(a: AxisPlan): boolean {
  return a.padBefore === 0 && a.canvas === a.source && a.resized === a.source && a.cropStart === 0 && a.target === a.source;
}

/** Rows padBefore.. of a canvas `canvas` rows high hold the image; the rest is the pad colour. */
function padRows(rgb: Uint8Array, width: number, height: number, padBefore: number, canvas: number, pad: readonly number[]): Uint8Array {
  const out = new Uint8Array(width * canvas * 3);
  fillColour(out, pad);
  out.set(rgb.subarray(0, width * height * 3), padBefore * width * 3);
  return out;
}

/** Columns padBefore.. of a canvas `canvas` columns wide hold the image; the rest is the pad colour. */
function padColumns(rgb: Uint8Array, width: number, height: number, padBefore: number, canvas: number, pad: readonly number[]): Uint8Array {
  const out = new Uint8Array(canvas * height * 3);
  fillColour(out, pad);
  const row = width * 3;
  for (let y = 0; y < height; y++) out.set(rgb.subarray(y * row, (y + 1) * row), (y * canvas + padBefore) * 3);
  return out;
}

function fillColour(out: Uint8Array, pad: readonly number[]): void {
  if (pad[0] === pad[1] && pad[1] === pad[2]) {
    out.fill(pad[0]!);
    return;
  }
  out[0] = pad[0]!;
  out[1] = pad[1]!;
  out[2] = pad[2]!;
  // Doubling copies: log2(n) native copies instead of a JS loop per pixel.
  for (let filled = 3; filled < out.length; filled *= 2) out.copyWithin(filled, 0, Math.min(filled, out.length - filled));
}

/** value = (p / scale - mean) / std through a 256-entry table per channel; channel order and layout as the card says. */
function toTensor(rgb: Uint8Array, width: number, height: number, spec: ModelCardInput): Float32Array {
  const n = width * height;
  const lut = [0, 1, 2].map((c) => {
    const table = new Float32Array(256);
    for (let p = 0; p < 256; p++) table[p] = (p / spec.scale - spec.mean[c]!) / spec.std[c]!;
    return table;
  });
  // Tensor channel c reads source channel src[c]: RGB keeps the order, BGR reverses it.
  const src = spec.channels === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  const [l0, l1, l2] = lut as [Float32Array, Float32Array, Float32Array];
  const [s0, s1, s2] = src as [number, number, number];
  const out = new Float32Array(n * 3);
  if (spec.layout === 'NCHW') {
    for (let i = 0, p = 0; i < n; i++, p += 3) {
      out[i] = l0[rgb[p + s0]!]!;
      out[n + i] = l1[rgb[p + s1]!]!;
      out[2 * n + i] = l2[rgb[p + s2]!]!;
    }
  } else {
    for (let p = 0; p < 3 * n; p += 3) {
      out[p] = l0[rgb[p + s0]!]!;
      out[p + 1] = l1[rgb[p + s1]!]!;
      out[p + 2] = l2[rgb[p + s2]!]!;
    }
  }
  return out;
}
