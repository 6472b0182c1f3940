/** An image file as the InputImage the explanation methods take: the card's preprocessing, plus its geometry. */
import type { ModelCard } from '../models/modelCard.js';
import { preprocessImage } from '../models/preprocessImage.js';
import type { InputImage } from './explainTypes.js';

export async function loadInputImage(file: string | Buffer, card: ModelCard): Promise<InputImage> {
  const [height, width] = card.input.size;
  return { tensor: await preprocessImage(file, card), layout: card.input.layout, height, width, baseline: [0, 0, 0] };
}

/** The tensor value of a black pixel per tensor channel: (0 / scale - mean) / std, in the card's channel order. */
export function blackPixel(card: ModelCard): [number, number, number] {
  const { mean, std } = card.input;
  return [0, 1, 2].map((c) => -mean[c]! / std[c]!) as [number, number, number];
}
