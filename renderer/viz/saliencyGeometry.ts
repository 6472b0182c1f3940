/**
 * Where a saliency map lies over the original image. The map covers the model's input tensor, which is the image
 * stretched, centre-cropped or letterboxed as the model card says; this gives the tensor's extent in image pixels
 * so the overlay canvas can be placed over exactly what the model saw (and clipped to the image for letterbox
 * padding). It mirrors core/models/preprocessResample.ts planResize (the renderer imports no core code).
 */

export interface CardGeometry {
  size: [number, number];
  resize: 'stretch' | 'center-crop' | 'letterbox';
  crop?: number;
}

/** The map's extent in image pixels: x, y of its top-left corner and its width, height (may exceed the image). */
export interface MapExtent {
  x: number;
  y: number;
  width: number;
  height: number;
}

interface Axis {
  padBefore: number;
  canvas: number;
  resized: number;
  cropStart: number;
  target: number;
}

function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

function plan(width: number, height: number, g: CardGeometry): { x: Axis; y: Axis } {
  const [H, W] = g.size;
  if (g.resize === 'center-crop') {
    const crop = g.crop ?? 1;
    const sw = Math.max(W, Math.floor(W / crop));
    const sh = Math.max(H, Math.floor(H / crop));
    let rw: number;
    let rh: number;
    if (sw * height >= sh * width) {
      rw = sw;
      rh = Math.max(sh, Math.floor((sw * height) / width));
    } else {
      rh = sh;
      rw = Math.max(sw, Math.floor((sh * width) / height));
    }
    return {
      x: { padBefore: 0, canvas: width, resized: rw, cropStart: roundHalfEven((rw - W) / 2), target: W },
      y: { padBefore: 0, canvas: height, resized: rh, cropStart: roundHalfEven((rh - H) / 2), target: H },
    };
  }
  if (g.resize === 'letterbox') {
    let cw = width;
    let ch = height;
    if (width * H > height * W) ch = Math.max(height, Math.floor((2 * width * H + W) / (2 * W)));
    else if (width * H < height * W) cw = Math.max(width, Math.floor((2 * height * W + H) / (2 * H)));
    return {
      x: { padBefore: Math.floor((cw - width) / 2), canvas: cw, resized: W, cropStart: 0, target: W },
      y: { padBefore: Math.floor((ch - height) / 2), canvas: ch, resized: H, cropStart: 0, target: H },
    };
  }
  return {
    x: { padBefore: 0, canvas: width, resized: W, cropStart: 0, target: W },
    y: { padBefore: 0, canvas: height, resized: H, cropStart: 0, target: H },
  };
}

const tensorToImage = (a: Axis, t: number) => ((t + a.cropStart) * a.canvas) / a.resized - a.padBefore;

export function mapExtent(imageW: number, imageH: number, geometry: CardGeometry | null): MapExtent {
  if (!geometry) return { x: 0, y: 0, width: imageW, height: imageH };
  const p = plan(imageW, imageH, geometry);
  const x0 = tensorToImage(p.x, 0);
  const y0 = tensorToImage(p.y, 0);
  return { x: x0, y: y0, width: tensorToImage(p.x, p.x.target) - x0, height: tensorToImage(p.y, p.y.target) - y0 };
}

/** Reads the geometry out of a model card (ModelSummary.card is `unknown` on the wire). */
export function cardGeometry(card: unknown): CardGeometry | null {
  const input = (card as { input?: { size?: unknown; resize?: unknown; crop?: unknown } } | null)?.input;
  if (!input || !Array.isArray(input.size) || input.size.length !== 2) return null;
  const [h, w] = input.size as unknown[];
  if (typeof h !== 'number' || typeof w !== 'number') return null;
  const resize = input.resize === 'center-crop' || input.resize === 'letterbox' ? input.resize : 'stretch';
  return { size: [h, w], resize, crop: typeof input.crop === 'number' ? input.crop : undefined };
}
