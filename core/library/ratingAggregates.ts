import type { LibraryDb } from './openLibrary.js';

/** Recomputes the mean rating and rating count stored on each image row (see migration 2 for why they live there). */
export function refreshRatingAggregates(db: LibraryDb, imageIds: number[]): void {
  const update = db.prepare(
    `UPDATE images SET
       rating_mean = (SELECT avg(value) FROM ratings WHERE image_id = @id),
       rating_count = (SELECT count(*) FROM ratings WHERE image_id = @id)
     WHERE id = @id`,
  );
  for (const id of imageIds) update.run({ id });
}
