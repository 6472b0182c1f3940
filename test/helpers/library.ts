import path from 'node:path';
import { openLibrary, cacheDirFor, type LibraryDb } from '../../core/library/openLibrary.js';
import { indexLibrary } from '../../core/library/indexLibrary.js';
import { tempDir } from './paths.js';
import { writeTestImage } from './images.js';

/** A small indexed library of `count` PNGs named img0.png, img1.png, ... for tests of what sits on top of it. */
export async function smallLibrary(count = 5): Promise<{ dir: string; images: string; dbPath: string; db: LibraryDb }> {
  const dir = tempDir();
  const images = path.join(dir, 'images');
  for (let i = 0; i < count; i++) await writeTestImage(path.join(images, `img${i}.png`), { seed: i + 1, width: 32 + 4 * i, height: 32 });
  const dbPath = path.join(dir, 'lib.db');
  const db = openLibrary(dbPath);
  await indexLibrary(db, [images], { cacheDir: cacheDirFor(dbPath) });
  return { dir, images, dbPath, db };
}
