/** An image file as the InputImage the explanation methods take: the card's preprocessing, plus its geometry. */
import type { ModelCard } from '../models/modelCard.js';
import { preprocessImage } from '../models/preprocessImage.js';
import { describeDecodeError } from '../library/probeImage.js';

const DECODE_FIX = 'replace or re-export the file (Miru reads JPEG, PNG, WebP, GIF, AVIF and TIFF)';
import type { InputImage } from './explainTypes.js';

/** An image that cannot be decoded: a problem of that one file (a job reports it and goes on). */
export class ImageDecodeError extends Error {
  constructor(readonly file: string, readonly reason: string) {
    super(`Cannot read image ${file}: ${reason}`);
  }
}

/**
 * `file` decoded and preprocessed for the card. Pass `name` when `file` is a buffer read from a file, so a
 * decode error names that file rather than sharp's "Input buffer ..." wording.
 */
export async function loadInputImage(file: string | Buffer, card: ModelCard, name = typeof file === 'string' ? file : 'the image'): Promise<InputImage> {
  const [height, width] = card.input.size;
  let tensor: Float32Array;
  try {
    tensor = await preprocessImage(file, card);
  } catch (error) {
    throw new ImageDecodeError(name, `${describeDecodeError(error, name)}; ${DECODE_FIX}`);
  }
  return { tensor, layout: card.input.layout, height, width, baseline: [0, 0, 0] };
}

/** The tensor value of a black pixel per tensor channel: (0 / scale - mean) / std, in the card's channel order. */
export function blackPixel(card: ModelCard): [number, number, number] {
  const { mean, std } = card.input;
  return [0, 1, 2].map((c) => -mean[c]! / std[c]!) as [number, number, number];
}
