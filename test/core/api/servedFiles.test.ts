import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { resolveOriginal, resolveThumbnail } from '../../../core/api/servedFiles.js';
import { cacheDirFor } from '../../../core/library/openLibrary.js';
import { thumbnailPath } from '../../../core/library/thumbnails.js';
import { smallLibrary } from '../../helpers/library.js';
import { tempDir } from '../../helpers/paths.js';

test('resolveOriginal serves indexed images inside a root and refuses everything else', async () => {
  const { db, images, dir } = await smallLibrary(3);
  // Ids follow the order files finished indexing, not their names.
  const idOf = (rel: string) => String(db.prepare('SELECT id FROM images WHERE rel_path = ?').pluck().get(rel));
  const [id0, id1, id2] = ['img0.png', 'img1.png', 'img2.png'].map(idOf) as [string, string, string];
  assert.deepEqual(resolveOriginal(db, id0), { ok: true, file: path.join(images, 'img0.png'), contentType: 'image/png' });
  for (const bad of ['', '0', '01', '-1', '+1', '1.0', '1e2', ' 1', '1 ', 'abc', '../1', '%31', '1%00', '99999999999999999999']) {
    const result = resolveOriginal(db, bad);
    assert.equal(result.ok ? 200 : result.status, 400, `id ${JSON.stringify(bad)}`);
  }
  assert.deepEqual(resolveOriginal(db, '999'), { ok: false, status: 404, reason: 'no image with id 999' });

  // A rel_path edited to leave the root (the database is a file a user can change) is refused before any lookup.
  db.prepare(`UPDATE images SET rel_path = '../outside.png' WHERE id = ?`).run(Number(id1));
  writeFileSync(path.join(dir, 'outside.png'), 'x');
  assert.equal((resolveOriginal(db, id1) as { status: number }).status, 403);
  // A symlink swapped in after indexing, pointing out of the roots.
  const secret = path.join(tempDir(), 'secret.png');
  writeFileSync(secret, 'secret');
  rmSync(path.join(images, 'img2.png'));
  symlinkSync(secret, path.join(images, 'img2.png'));
  const linked = resolveOriginal(db, id2);
  assert.deepEqual([linked.ok, !linked.ok && linked.status], [false, 403]);
  // A missing file and a missing status are 404s.
  db.prepare(`UPDATE images SET status = 'missing' WHERE id = ?`).run(Number(id0));
  assert.equal((resolveOriginal(db, id0) as { status: number }).status, 404);
});

test('resolveThumbnail takes only a content hash and stays inside the thumbnail folder', async () => {
  const { db, dbPath } = await smallLibrary(1);
  const cacheDir = cacheDirFor(dbPath);
  const hash = db.prepare('SELECT content_hash FROM images WHERE id = 1').pluck().get() as string;
  assert.deepEqual(resolveThumbnail(cacheDir, hash), { ok: true, file: thumbnailPath(cacheDir, hash), contentType: 'image/webp' });
  for (const bad of [hash.toUpperCase(), `${hash}.webp`, hash.slice(1), `../${hash}`, '..%2f..%2fetc', '%2e%2e', '', `${hash}\0`]) {
    const result = resolveThumbnail(cacheDir, bad);
    assert.equal(result.ok ? 200 : result.status, 400, `hash ${JSON.stringify(bad)}`);
  }
  assert.equal((resolveThumbnail(cacheDir, '0123456789abcdef') as { status: number }).status, 404);
  // A link planted in the cache pointing elsewhere is refused.
  const planted = 'fedcba9876543210';
  const file = thumbnailPath(cacheDir, planted);
  mkdirSync(path.dirname(file), { recursive: true });
  const secret = path.join(tempDir(), 'secret.webp');
  writeFileSync(secret, 'secret');
  symlinkSync(secret, file);
  assert.equal((resolveThumbnail(cacheDir, planted) as { status: number }).status, 403);
  assert.equal((resolveThumbnail(path.join(tempDir(), 'none.db.cache'), hash) as { status: number }).status, 404);
});
