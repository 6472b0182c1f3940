import sharp from 'sharp';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

/**
 * Writes a small test image with a colour gradient and a block, so statistics and hashes differ by `seed`.
 * The format follows the file extension.
 */
export async function writeTestImage(file: string, options: { width?: number; height?: number; seed?: number } = {}): Promise<void> {
  const width = options.width ?? 64;
  const height = options.height ?? 48;
  const seed = options.seed ?? 1;
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const block = x > width / 3 && x < (2 * width) / 3 && y > height / 3 ? 1 : 0;
      data[i] = (x * 4 + seed * 37) & 255;
      data[i + 1] = block ? 250 : (y * 5 + seed * 11) & 255;
      data[i + 2] = (seed * 71 + x + y) & 255;
    }
  }
  mkdirSync(path.dirname(file), { recursive: true });
  await sharp(data, { raw: { width, height, channels: 3 } }).toFile(file);
}
