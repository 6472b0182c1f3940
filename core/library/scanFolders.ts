import { promises as fs, type Dirent, type Stats } from 'node:fs';
import path from 'node:path';

/** Extensions Miru indexes: formats that sharp's bundled libvips decodes reliably on every platform. */
export const INDEXED_EXTENSIONS = new Set(['.jpg', '.jpeg', '.jpe', '.jfif', '.png', '.webp', '.gif', '.avif', '.tif', '.tiff']);

/** Image formats that are recognised but refused, each with the reason a user sees. */
export const REFUSED_EXTENSIONS: Record<string, string> = {
  '.heic': 'HEIC/HEIF needs an HEVC decoder that the bundled libvips does not ship (patent licensing); convert to AVIF, WebP or JPEG',
  '.heif': 'HEIC/HEIF needs an HEVC decoder that the bundled libvips does not ship (patent licensing); convert to AVIF, WebP or JPEG',
  '.bmp': 'BMP has no loader in the bundled libvips; convert to PNG',
  '.ico': 'icons hold several small bitmaps, not a dataset image; convert to PNG',
  '.svg': 'vector images render differently per renderer and font set, so scores would not be reproducible; rasterise to PNG',
  '.psd': 'Photoshop documents are layered; export a flattened PNG',
  '.jxl': 'JPEG XL has no loader in the bundled libvips; convert to PNG or AVIF',
  '.raw': 'camera raw files need demosaicing; develop them to TIFF or JPEG first',
  '.cr2': 'camera raw files need demosaicing; develop them to TIFF or JPEG first',
  '.nef': 'camera raw files need demosaicing; develop them to TIFF or JPEG first',
  '.arw': 'camera raw files need demosaicing; develop them to TIFF or JPEG first',
  '.dng': 'camera raw files need demosaicing; develop them to TIFF or JPEG first',
};

export interface ScannedFile {
  /** Absolute path as reached through the root (symlinks not resolved, so the user's names are kept). */
  absPath: string;
  /** Path relative to the root, with forward slashes on every platform. */
  relPath: string;
  bytes: number;
  mtimeMs: number;
}

export interface ScanProblem {
  path: string;
  error: string;
}

export interface ScanResult {
  files: ScannedFile[];
  /** Entries that look like images but cannot be indexed (broken links, loops, unreadable folders, FIFOs). */
  errors: ScanProblem[];
  /** Files in a recognised but refused image format. */
  refused: ScanProblem[];
}

export interface ScanOptions {
  /** Absolute paths never descended into (the library's own cache folder, for instance). */
  exclude?: string[];
  onFound?: (count: number) => void;
}

/**
 * Walks a folder tree for image files. Follows symbolic links (a dataset is often assembled from links) but
 * remembers the real path of every folder it entered, so a link back to an ancestor is reported, not followed.
 * Names starting with "." are skipped (.git, .DS_Store, editor caches).
 */
export async function scanFolder(root: string, options: ScanOptions = {}): Promise<ScanResult> {
  const result: ScanResult = { files: [], errors: [], refused: [] };
  // Folders are compared by real path below, so excluded ones are too: a --db reached through a symlink
  // (macOS /tmp is one) would otherwise get its own thumbnail cache indexed as images on the next run.
  const exclude = new Set<string>();
  for (const p of options.exclude ?? []) {
    exclude.add(path.resolve(p));
    exclude.add(await fs.realpath(p).catch(() => path.resolve(p)));
  }
  const rootReal = await fs.realpath(root);
  const visited = new Set<string>([rootReal]);

  const walk = async (dirAbs: string, dirRel: string): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await fs.readdir(dirAbs, { withFileTypes: true });
    } catch (error) {
      result.errors.push({ path: dirAbs, error: `cannot read folder: ${describeFsError(error)}` });
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const abs = path.join(dirAbs, entry.name);
      const rel = dirRel ? `${dirRel}/${entry.name}` : entry.name;
      if (exclude.has(abs)) continue;
      let stats: Stats | undefined;
      if (entry.isSymbolicLink()) {
        try {
          stats = await fs.stat(abs);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === 'ELOOP') result.errors.push({ path: abs, error: 'symbolic link loop: the link resolves to itself' });
          else if (isImageName(entry.name) || code !== 'ENOENT')
            result.errors.push({ path: abs, error: `broken symbolic link: ${describeFsError(error)}` });
          continue;
        }
      } else if (!entry.isDirectory() && !entry.isFile()) {
        if (isImageName(entry.name)) result.errors.push({ path: abs, error: 'not a regular file (FIFO, socket or device); skipped' });
        continue;
      }
      // Plain files are stat'ed below, only when their extension makes them candidates.
      const isDir = stats ? stats.isDirectory() : entry.isDirectory();
      if (isDir) {
        let real: string;
        try {
          real = await fs.realpath(abs);
        } catch (error) {
          result.errors.push({ path: abs, error: `cannot resolve folder: ${describeFsError(error)}` });
          continue;
        }
        if (exclude.has(real)) continue;
        if (visited.has(real)) {
          result.errors.push({ path: abs, error: `symbolic link loop or duplicate link: ${real} is already scanned through another path` });
          continue;
        }
        visited.add(real);
        await walk(abs, rel);
        continue;
      }
      const ext = path.extname(entry.name).toLowerCase();
      const refusal = REFUSED_EXTENSIONS[ext];
      if (refusal) {
        result.refused.push({ path: abs, error: refusal });
        continue;
      }
      if (!INDEXED_EXTENSIONS.has(ext)) continue;
      if (!stats) {
        try {
          stats = await fs.stat(abs);
        } catch (error) {
          result.errors.push({ path: abs, error: `vanished or unreadable during the scan: ${describeFsError(error)}` });
          continue;
        }
      }
      if (!stats.isFile()) {
        result.errors.push({ path: abs, error: 'not a regular file (FIFO, socket or device); skipped' });
        continue;
      }
      result.files.push({ absPath: abs, relPath: rel, bytes: stats.size, mtimeMs: Math.floor(stats.mtimeMs) });
      options.onFound?.(result.files.length);
    }
  };

  await walk(root, '');
  return result;
}

function isImageName(name: string): boolean {
  const ext = path.extname(name).toLowerCase();
  return INDEXED_EXTENSIONS.has(ext) || ext in REFUSED_EXTENSIONS;
}

export function describeFsError(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  switch (e.code) {
    case 'ENOENT':
      return 'no such file (deleted or moved while Miru was working)';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied (check the file permissions)';
    case 'ELOOP':
      return 'too many levels of symbolic links';
    case 'EISDIR':
      return 'is a folder';
    default:
      return e.message ?? String(error);
  }
}
