import type { LibraryDb } from './openLibrary.js';
import { ImageResolver } from './imageRef.js';

export interface TagChange {
  /** Images whose tag set changed. */
  changed: number;
  /** Images that already had (add) or did not have (remove) the tag. */
  unchanged: number;
  /** Names that matched no image; nothing is changed when any name is unknown. */
  unknown: { image: string; error: string }[];
}

/** Tag names are short labels bound to hotkeys in the UI: printable, trimmed, at most 64 characters. */
export function validateTagName(tag: string): string {
  const name = tag.trim();
  if (!name) throw new Error('A tag name cannot be empty.');
  if (name.length > 64) throw new Error(`Tag ${JSON.stringify(name.slice(0, 20))}... is longer than 64 characters.`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f,]/.test(name)) throw new Error(`Tag ${JSON.stringify(name)} contains a comma or control character; use letters, digits, spaces, - _ : .`);
  return name;
}

/**
 * Adds or removes a tag on images named by relative path, content hash or id. All-or-nothing: if any name is
 * unknown nothing changes, so a typo never leaves half a selection tagged.
 */
export function changeTag(db: LibraryDb, action: 'add' | 'remove', tag: string, images: string[]): TagChange {
  const name = validateTagName(tag);
  if (images.length === 0) throw new Error(`Name at least one image to ${action === 'add' ? 'tag' : 'untag'} (relative path, content hash or id).`);
  const resolver = new ImageResolver(db);
  const ids = new Set<number>();
  const unknown: TagChange['unknown'] = [];
  for (const image of images) {
    const result = resolver.resolve(image);
    if (result.ok) result.ids.forEach((id) => ids.add(id));
    else unknown.push({ image, error: result.error });
  }
  if (unknown.length) return { changed: 0, unchanged: 0, unknown };
  return changeTagByIds(db, action, name, [...ids]);
}

/** The id-based form used by the UI, where selections are already ids. */
export function changeTagByIds(db: LibraryDb, action: 'add' | 'remove', tag: string, ids: number[]): TagChange {
  const name = validateTagName(tag);
  const add = db.prepare('INSERT OR IGNORE INTO tags (image_id, tag, created_at) VALUES (?, ?, ?)');
  const remove = db.prepare('DELETE FROM tags WHERE image_id = ? AND tag = ?');
  const exists = db.prepare<[number], number>('SELECT id FROM images WHERE id = ?').pluck();
  const unknown = ids.filter((id) => exists.get(id) === undefined).map((id) => ({ image: String(id), error: `no image with id ${id}` }));
  if (unknown.length) return { changed: 0, unchanged: 0, unknown };
  let changed = 0;
  db.transaction(() => {
    const now = new Date().toISOString();
    for (const id of ids) changed += (action === 'add' ? add.run(id, name, now) : remove.run(id, name)).changes;
  })();
  return { changed, unchanged: ids.length - changed, unknown };
}


export interface TagCount {
  tag: string;
  images: number;
  firstUsed: string;
  lastUsed: string;
}

export function listTags(db: LibraryDb): TagCount[] {
  return db
    .prepare(
      `SELECT tag, count(*) AS images, min(created_at) AS firstUsed, max(created_at) AS lastUsed
       FROM tags GROUP BY tag ORDER BY images DESC, tag`,
    )
    .all() as TagCount[];
}
