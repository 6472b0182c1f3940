import path from 'node:path';

export const THUMBNAIL_SIZE = 256;

/** Thumbnails are shared by identical files and survive renames, because they are keyed by content hash. */
export function thumbnailPath(cacheDir: string, contentHash: string): string {
  return path.join(cacheDir, 'thumbs', contentHash.slice(0, 2), `${contentHash}.webp`);
}
