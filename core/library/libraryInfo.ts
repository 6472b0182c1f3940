import type { LibraryDb } from './openLibrary.js';
import { SCHEMA_VERSION } from './migrations.js';
import { getSetting } from './settings.js';

export interface LibraryInfo {
  /** Usable images (indexed without error and present on disk). */
  images: number;
  errors: number;
  missing: number;
  raters: number;
  ratings: number;
  /** Distinct tag names. */
  tags: number;
  /** Tag assignments (image, tag pairs). */
  taggings: number;
  ratedImages: number;
  roots: string[];
  ratingScale: string | null;
  schemaVersion: number;
}

export function libraryInfo(db: LibraryDb): LibraryInfo {
  const one = (sql: string) => db.prepare<[], number>(sql).pluck().get() ?? 0;
  const byStatus = new Map(
    (db.prepare('SELECT status, count(*) AS n FROM images GROUP BY status').all() as { status: string; n: number }[]).map((r) => [r.status, r.n]),
  );
  return {
    images: byStatus.get('ok') ?? 0,
    errors: byStatus.get('error') ?? 0,
    missing: byStatus.get('missing') ?? 0,
    raters: one('SELECT count(*) FROM raters'),
    ratings: one('SELECT count(*) FROM ratings'),
    tags: one('SELECT count(DISTINCT tag) FROM tags'),
    taggings: one('SELECT count(*) FROM tags'),
    ratedImages: one('SELECT count(*) FROM images WHERE rating_count > 0'),
    roots: db.prepare<[], string>('SELECT path FROM roots ORDER BY id').pluck().all(),
    ratingScale: getSetting(db, 'rating_scale') ?? null,
    schemaVersion: SCHEMA_VERSION,
  };
}
