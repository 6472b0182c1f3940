import path from 'node:path';
import { openLibrary, type LibraryDb } from '../../core/library/openLibrary.js';
import { tempDir } from './paths.js';

/** Models of listingLibrary: one with a complete score run, one whose only run is partial, one never scored. */
export const LISTING_MODELS = { scored: 'm-a', partial: 'm.b v2', never: 'never' } as const;

/**
 * A library of `count` images inserted directly (no files), shaped to catch ordering mistakes in listings: coarse
 * values with many ties (which must break by id), NULLs in every sortable column (which come last), error and
 * missing images (left out by default), a common and a rare tag, two raters, a scored model with a newer run
 * still in progress (never read while the complete one exists), a partially scored model and a never-scored one.
 */
export function listingLibrary(count: number, seed = 7): { dbPath: string; db: LibraryDb } {
  const dbPath = path.join(tempDir('miru-listing-'), 'listing.db');
  const db = openLibrary(dbPath);
  let state = seed;
  const rand = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
  const { scored, partial, never } = LISTING_MODELS;
  db.exec(`INSERT INTO roots (id, path, added_at) VALUES (1, '/data', 'now');
    INSERT INTO raters (id, name) VALUES (1, 'ann'), (2, 'bob');
    INSERT INTO models (id, name, path, sha256, card, added_at) VALUES
      (1, '${scored}', '/m/a.onnx', 'x', '{}', 'now'), (2, '${partial}', '/m/b.onnx', 'x', '{}', 'now'), (3, '${never}', '/m/n.onnx', 'x', '{}', 'now');
    INSERT INTO runs (id, model_id, kind, params, status, created_at, updated_at) VALUES
      (1, 1, 'score', '{"v":1}', 'complete', 't1', '2025-01-01'),
      (2, 1, 'score', '{"v":2}', 'running', 't2', '2025-06-01'),
      (3, 2, 'score', '{}', 'partial', 't1', '2025-01-01');`);
  const insertImage = db.prepare(
    `INSERT INTO images (id, root_id, rel_path, bytes, mtime_ms, status, indexed_at, brightness, rating_mean, rating_count) VALUES (?, 1, ?, ?, 1, ?, 'now', ?, ?, ?)`,
  );
  const insertScore = db.prepare('INSERT INTO scores (run_id, image_id, score) VALUES (?, ?, ?)');
  const insertTag = db.prepare(`INSERT INTO tags (image_id, tag, created_at) VALUES (?, ?, 'now')`);
  const insertRating = db.prepare('INSERT INTO ratings (image_id, rater_id, value) VALUES (?, ?, 3)');
  db.transaction(() => {
    // Ids with gaps, as after deletions: a rank is not an id.
    let id = 0;
    for (let n = 0; n < count; n++) {
      id += rand() < 0.2 ? 3 : 1;
      const status = id % 41 === 0 ? 'error' : id % 37 === 0 ? 'missing' : 'ok';
      const brightness = status === 'error' || rand() < 0.1 ? null : Math.round(rand() * 10) / 10;
      const raters = rand() < 0.4 ? [] : rand() < 0.5 ? ['ann'] : ['ann', 'bob'];
      const ratingMean = raters.length ? Math.round(rand() * 8) / 2 + 1 : null;
      insertImage.run(id, `${id % 3 === 0 ? 'cats' : 'dogs'}/img_${id}.png`, Math.floor(rand() * 4) * 1000, status, brightness, ratingMean, raters.length);
      if (status !== 'error' && rand() < 0.85) insertScore.run(1, id, Math.round(rand() * 16) / 4 + 1);
      if (rand() < 0.7) insertScore.run(2, id, 100 + rand());
      if (status === 'ok' && rand() < 0.5) insertScore.run(3, id, Math.round(rand() * 1000) / 1000);
      if (rand() < 0.3) insertTag.run(id, 'common');
      if (rand() < 0.05) insertTag.run(id, 'rare');
      for (const r of raters) insertRating.run(id, r === 'ann' ? 1 : 2);
    }
  })();
  return { dbPath, db };
}
