import path from 'node:path';
import type { LibraryDb } from './openLibrary.js';

export type ImageRefResult = { ok: true; ids: number[] } | { ok: false; error: string };

const HASH_PATTERN = /^[0-9a-f]{16}$/;

/**
 * Resolves how a person names an image — relative path, absolute path, content hash, or numeric id — to image
 * ids. A content hash can name several identical files; a relative path can exist under several roots. The
 * caller decides whether more than one match is acceptable.
 */
export class ImageResolver {
  private readonly byRelPath;
  private readonly byHash;
  private readonly byId;
  private readonly byRootAndRelPath;
  private readonly roots: { id: number; path: string }[];

  constructor(db: LibraryDb) {
    this.byRelPath = db.prepare<[string], number>('SELECT id FROM images WHERE rel_path = ?').pluck();
    this.byHash = db.prepare<[string], number>('SELECT id FROM images WHERE content_hash = ?').pluck();
    this.byId = db.prepare<[number], number>('SELECT id FROM images WHERE id = ?').pluck();
    this.byRootAndRelPath = db.prepare<[number, string], number>('SELECT id FROM images WHERE root_id = ? AND rel_path = ?').pluck();
    this.roots = db.prepare('SELECT id, path FROM roots').all() as { id: number; path: string }[];
  }

  resolve(ref: string): ImageRefResult {
    const name = ref.trim();
    if (!name) return { ok: false, error: 'empty image name' };
    if (path.isAbsolute(name)) {
      const root = this.roots.find((r) => name.startsWith(r.path + path.sep));
      if (!root) return { ok: false, error: `unknown image ${name}: it is not inside any library root` };
      const rel = name.slice(root.path.length + 1).split(path.sep).join('/');
      const id = this.byRootAndRelPath.get(root.id, rel);
      return id !== undefined ? { ok: true, ids: [id] } : { ok: false, error: `unknown image ${name}: not indexed (run \`miru index\`)` };
    }
    const relIds = this.byRelPath.all(name.split(path.sep).join('/'));
    if (relIds.length) return { ok: true, ids: relIds };
    if (HASH_PATTERN.test(name)) {
      const hashIds = this.byHash.all(name);
      if (hashIds.length) return { ok: true, ids: hashIds };
    }
    const idMatch = /^(?:id:)?(\d+)$/.exec(name);
    if (idMatch) {
      const id = this.byId.get(Number(idMatch[1]));
      if (id !== undefined) return { ok: true, ids: [id] };
    }
    return { ok: false, error: `unknown image ${JSON.stringify(name)}: no indexed image has this relative path, content hash or id` };
  }
}
