import { realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import type { LibraryDb } from '../library/openLibrary.js';
import { thumbnailPath } from '../library/thumbnails.js';

/**
 * The path rules for files a host serves to the UI (issue 5), shared by the Electron `miru://` protocol and the
 * browser host so both refuse exactly the same requests. A caller passes the raw URL segment (still
 * percent-encoded or not: nothing here decodes), and gets either a file to stream or a status with a reason.
 * Only two things are ever served: a thumbnail named by its content hash, and the original of an indexed image
 * named by its numeric id. No request names a path, so `..`, encoded traversal and odd names cannot reach a file;
 * symlinks are caught by comparing real paths with the thumbnail folder or the library's roots.
 */
export type ServedFile = { ok: true; file: string; contentType: string } | { ok: false; status: 400 | 403 | 404; reason: string };

/** The library's content-hash format (core/util/contentHash.ts): xxHash64 as 16 lower-case hex digits. */
const CONTENT_HASH = /^[0-9a-f]{16}$/;
/** Image ids are SQLite rowids: a positive decimal integer without sign, leading zeros or other characters. */
const IMAGE_ID = /^[1-9][0-9]{0,15}$/;

const CONTENT_TYPES: Record<string, string> = {
  jpeg: 'image/jpeg',
  jpg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
  gif: 'image/gif',
  avif: 'image/avif',
  heif: 'image/avif',
  tiff: 'image/tiff',
  tif: 'image/tiff',
};

const EXTENSION_TYPES: Record<string, string> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.jpe': 'image/jpeg',
  '.jfif': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.avif': 'image/avif',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
};

/** True when `file` is `dir` itself or lies below it (both already real, absolute paths). */
function isInside(file: string, dir: string): boolean {
  const rel = path.relative(dir, file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

function realFile(file: string): string | null {
  try {
    const real = realpathSync(file);
    return statSync(real).isFile() ? real : null;
  } catch {
    return null;
  }
}

/** A thumbnail from `<db>.cache/thumbs`, named by the image's content hash. */
export function resolveThumbnail(cacheDir: string, hash: string): ServedFile {
  if (typeof hash !== 'string' || !CONTENT_HASH.test(hash)) {
    return { ok: false, status: 400, reason: 'a thumbnail is named by a 16-digit lower-case hex content hash' };
  }
  const thumbsDir = path.join(path.resolve(cacheDir), 'thumbs');
  let realThumbs: string;
  try {
    realThumbs = realpathSync(thumbsDir);
  } catch {
    return { ok: false, status: 404, reason: 'this library has no thumbnails (its <db>.cache folder is missing): run `miru index <folders> --db <library>` to make them again' };
  }
  const real = realFile(thumbnailPath(path.resolve(cacheDir), hash));
  if (!real) return { ok: false, status: 404, reason: `no thumbnail for ${hash}` };
  // The cache folder is ours, but a link planted inside it must not lead elsewhere.
  if (!isInside(real, realThumbs)) return { ok: false, status: 403, reason: 'the thumbnail resolves outside the thumbnail folder' };
  return { ok: true, file: real, contentType: 'image/webp' };
}

/**
 * The original file of an indexed image, by id. The file must still be an image of this library (status ok) and
 * its real path must lie inside the real path of one of the library's roots: a symlink from inside a root to a
 * file elsewhere is refused even though the indexer followed it.
 */
export function resolveOriginal(db: LibraryDb, imageId: string): ServedFile {
  if (typeof imageId !== 'string' || !IMAGE_ID.test(imageId)) {
    return { ok: false, status: 400, reason: 'an image is named by its decimal id' };
  }
  const id = Number(imageId);
  if (!Number.isSafeInteger(id)) return { ok: false, status: 400, reason: 'an image is named by its decimal id' };
  const row = db
    .prepare<[number], { relPath: string; root: string; status: string; format: string | null }>(
      `SELECT images.rel_path AS relPath, roots.path AS root, images.status AS status, images.format AS format
       FROM images JOIN roots ON roots.id = images.root_id WHERE images.id = ?`,
    )
    .get(id);
  if (!row) return { ok: false, status: 404, reason: `no image with id ${id}` };
  if (row.status !== 'ok') return { ok: false, status: 404, reason: `image ${id} is ${row.status === 'missing' ? 'missing on disk' : 'not readable'} (status ${row.status})` };
  // rel_path comes from the indexer's walk, but it is data in a file a user can edit: check it like input.
  const parts = row.relPath.split('/');
  if (!row.relPath || path.isAbsolute(row.relPath) || parts.some((p) => p === '' || p === '.' || p === '..' || p.includes('\\') || p.includes('\0'))) {
    return { ok: false, status: 403, reason: `image ${id} has a relative path that leaves its root` };
  }
  const real = realFile(path.join(row.root, ...parts));
  if (!real) return { ok: false, status: 404, reason: `image ${id} is no longer on disk` };
  const realRoots = db
    .prepare<[], string>('SELECT path FROM roots')
    .pluck()
    .all()
    .map((root) => {
      try {
        return realpathSync(root);
      } catch {
        return null;
      }
    });
  if (!realRoots.some((root) => root !== null && isInside(real, root))) return { ok: false, status: 403, reason: `image ${id} resolves outside its library root (a symbolic link out of the root)` };
  const contentType = (row.format && CONTENT_TYPES[row.format]) ?? EXTENSION_TYPES[path.extname(real).toLowerCase()];
  if (!contentType) return { ok: false, status: 403, reason: `image ${id} is not in a format Miru serves` };
  return { ok: true, file: real, contentType };
}

/** Content types of the built UI's files (dist/renderer), the same for both hosts. */
const UI_CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.wasm': 'application/wasm',
};

export function uiContentType(file: string): string {
  return UI_CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}
