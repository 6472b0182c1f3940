import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { promises as fs, existsSync, mkdirSync, utimesSync } from 'node:fs';
import sharp from 'sharp';
import { openLibrary, cacheDirFor, type LibraryDb } from '../../../core/library/openLibrary.js';
import { indexLibrary, type IndexOptions } from '../../../core/library/indexLibrary.js';
import { thumbnailPath } from '../../../core/library/thumbnails.js';
import { changeTag } from '../../../core/library/tags.js';
import type { ProgressEvent } from '../../../core/jobs/progress.js';
import { tempDir } from '../../helpers/paths.js';
import { writeTestImage } from '../../helpers/images.js';

async function setup(count = 6) {
  const dir = tempDir();
  const images = path.join(dir, 'images');
  for (let i = 0; i < count; i++) await writeTestImage(path.join(images, i % 2 ? `sub/img${i}.png` : `img${i}.jpg`), { seed: i + 1, width: 40 + i * 8 });
  const dbPath = path.join(dir, 'lib.db');
  const db = openLibrary(dbPath);
  const options: IndexOptions = { cacheDir: cacheDirFor(dbPath) };
  return { dir, images, dbPath, db, options };
}

function row(db: LibraryDb, relPath: string) {
  return db.prepare('SELECT * FROM images WHERE rel_path = ?').get(relPath) as Record<string, unknown> | undefined;
}

test('first run adds every image with size, hash, statistics and a thumbnail', async () => {
  const { images, db, options } = await setup();
  const events: ProgressEvent[] = [];
  const summary = await indexLibrary(db, [images], { ...options, onProgress: (e) => events.push(e) });
  assert.deepEqual(
    { indexed: summary.indexed, added: summary.added, updated: summary.updated, unchanged: summary.unchanged, missing: summary.missing, errors: summary.errors },
    { indexed: 6, added: 6, updated: 0, unchanged: 0, missing: 0, errors: [] },
  );
  const r = row(db, 'sub/img1.png')!;
  assert.equal(r.width, 48);
  assert.equal(r.height, 48);
  assert.equal(r.format, 'png');
  assert.match(r.content_hash as string, /^[0-9a-f]{16}$/);
  for (const column of ['brightness', 'contrast', 'saturation', 'colorfulness', 'sharpness', 'entropy', 'edge_density', 'aspect_ratio', 'megapixels', 'alpha_fraction', 'is_grayscale']) {
    assert.equal(typeof r[column], 'number', `${column} is stored`);
  }
  assert.equal(r.aspect_ratio, 1);
  const thumb = thumbnailPath(options.cacheDir, r.content_hash as string);
  const meta = await sharp(thumb).metadata();
  assert.equal(meta.format, 'webp');
  const last = events.filter((e) => e.phase === 'index').at(-1)!;
  assert.deepEqual([last.done, last.total], [6, 6]);
});

test('second run skips unchanged files, re-reads changed ones and marks vanished ones missing without losing ratings or tags', async () => {
  const { images, db, options } = await setup();
  await indexLibrary(db, [images], options);
  changeTag(db, 'add', 'keep', ['img0.jpg']);
  db.prepare(`INSERT INTO raters (name) VALUES ('ann')`).run();
  db.prepare(`INSERT INTO ratings (image_id, rater_id, value) SELECT id, 1, 4 FROM images WHERE rel_path = 'img0.jpg'`).run();
  const before = row(db, 'img2.jpg')!;

  await writeTestImage(path.join(images, 'img2.jpg'), { seed: 99, width: 90 }); // changed content and size
  utimesSync(path.join(images, 'img2.jpg'), new Date(), new Date(Date.now() + 5000));
  await fs.rm(path.join(images, 'img0.jpg'));
  const summary = await indexLibrary(db, [images], options);
  assert.deepEqual([summary.added, summary.updated, summary.unchanged, summary.missing, summary.moved], [0, 1, 4, 1, 0]);
  assert.equal(summary.indexed, 5);
  const changed = row(db, 'img2.jpg')!;
  assert.equal(changed.id, before.id, 'a changed file keeps its id');
  assert.equal(changed.width, 90);
  assert.notEqual(changed.content_hash, before.content_hash);
  const gone = row(db, 'img0.jpg')!;
  assert.equal(gone.status, 'missing');
  assert.equal(db.prepare('SELECT count(*) FROM ratings WHERE image_id = ?').pluck().get(gone.id), 1, 'ratings of a missing image stay');
  assert.equal(db.prepare('SELECT count(*) FROM tags WHERE image_id = ?').pluck().get(gone.id), 1, 'tags of a missing image stay');

  const third = await indexLibrary(db, [images], options);
  assert.deepEqual([third.added, third.updated, third.unchanged, third.missing], [0, 0, 5, 0], 'nothing left to do');
});

test('a moved or renamed file keeps its id, ratings and tags', async () => {
  const { images, db, options } = await setup();
  await indexLibrary(db, [images], options);
  const original = row(db, 'img4.jpg')!;
  changeTag(db, 'add', 'outlier', ['img4.jpg']);
  mkdirSync(path.join(images, 'moved here'), { recursive: true });
  await fs.rename(path.join(images, 'img4.jpg'), path.join(images, 'moved here', 'renamed 4.jpg'));
  const summary = await indexLibrary(db, [images], options);
  assert.deepEqual([summary.moved, summary.added, summary.missing], [1, 0, 0]);
  const moved = row(db, 'moved here/renamed 4.jpg')!;
  assert.equal(moved.id, original.id);
  assert.equal(moved.status, 'ok');
  assert.equal(moved.brightness, original.brightness);
  assert.equal(row(db, 'img4.jpg'), undefined);
  assert.deepEqual(db.prepare('SELECT tag FROM tags WHERE image_id = ?').pluck().all(moved.id), ['outlier']);
});

test('a file that went missing and came back under another root keeps its id', async () => {
  const { dir, images, db, options } = await setup(2);
  await indexLibrary(db, [images], options);
  const original = row(db, 'img0.jpg')!;
  const elsewhere = path.join(dir, 'elsewhere');
  mkdirSync(elsewhere);
  await fs.rename(path.join(images, 'img0.jpg'), path.join(elsewhere, 'img0.jpg'));
  await indexLibrary(db, [images], options);
  assert.equal(row(db, 'img0.jpg')!.status, 'missing');
  const summary = await indexLibrary(db, [elsewhere], options);
  assert.equal(summary.moved, 1);
  const back = db.prepare('SELECT id, status, root_id FROM images WHERE id = ?').get(original.id) as { status: string; root_id: number };
  assert.equal(back.status, 'ok');
  assert.notEqual(back.root_id, original.root_id);
});

test('a missing file that reappears unchanged is usable again', async () => {
  const { dir, images, db, options } = await setup(3);
  await indexLibrary(db, [images], options);
  const stash = path.join(dir, 'stash.jpg');
  await fs.rename(path.join(images, 'img2.jpg'), stash);
  await indexLibrary(db, [images], options);
  assert.equal(row(db, 'img2.jpg')!.status, 'missing');
  await fs.rename(stash, path.join(images, 'img2.jpg'));
  const summary = await indexLibrary(db, [images], options);
  assert.equal(row(db, 'img2.jpg')!.status, 'ok');
  assert.equal(summary.indexed, 3);
});

test('identical files at two paths are two images sharing one thumbnail', async () => {
  const { images, db, options } = await setup(1);
  await fs.copyFile(path.join(images, 'img0.jpg'), path.join(images, 'copy.jpg'));
  const summary = await indexLibrary(db, [images], options);
  assert.equal(summary.added, 2);
  const hashes = db.prepare('SELECT DISTINCT content_hash FROM images').pluck().all();
  assert.equal(hashes.length, 1);
});

test('overlapping roots are refused before anything is written', async () => {
  const { images, db, options } = await setup(2);
  await indexLibrary(db, [images], options);
  await assert.rejects(indexLibrary(db, [path.join(images, 'sub')], options), /overlaps the library root .*nothing was indexed/);
  await assert.rejects(indexLibrary(db, [path.dirname(images)], options), /overlaps the library root/);
  await assert.rejects(indexLibrary(db, [path.join(images, 'no-such-folder')], options), /Folder not found/);
  assert.equal(db.prepare('SELECT count(*) FROM roots').pluck().get(), 1);
});

test('the thumbnail cache inside an indexed folder is never indexed itself', async () => {
  const { images } = await setup(2);
  const dbPath = path.join(images, 'lib.db');
  const db = openLibrary(dbPath);
  const options = { cacheDir: cacheDirFor(dbPath) };
  await indexLibrary(db, [images], options);
  assert.ok(existsSync(options.cacheDir));
  const second = await indexLibrary(db, [images], options);
  assert.deepEqual([second.added, second.unchanged], [0, 2]);
});

test('EXIF orientation swaps the stored width and height', async () => {
  const { dir } = await setup(0);
  const images = path.join(dir, 'rotated');
  mkdirSync(images);
  await sharp({ create: { width: 80, height: 30, channels: 3, background: '#808080' } })
    .jpeg()
    .withMetadata({ orientation: 6 })
    .toFile(path.join(images, 'rotated.jpg'));
  const dbPath = path.join(dir, 'r.db');
  const db = openLibrary(dbPath);
  await indexLibrary(db, [images], { cacheDir: cacheDirFor(dbPath) });
  const r = row(db, 'rotated.jpg')!;
  assert.deepEqual([r.width, r.height], [30, 80]);
});

test('a failed file is retried only when it changes or with retryErrors', async () => {
  const { images, db, options } = await setup(1);
  await fs.writeFile(path.join(images, 'broken.png'), 'not a png');
  const first = await indexLibrary(db, [images], options);
  assert.equal(first.errors.length, 1);
  assert.equal(row(db, 'broken.png')!.status, 'error');
  const again = await indexLibrary(db, [images], options);
  assert.deepEqual([again.unchanged, again.errors.length], [2, 0]);
  const retried = await indexLibrary(db, [images], { ...options, retryErrors: true });
  assert.equal(retried.errors.length, 1);
  await writeTestImage(path.join(images, 'broken.png'), { seed: 5 });
  utimesSync(path.join(images, 'broken.png'), new Date(), new Date(Date.now() + 5000));
  const fixed = await indexLibrary(db, [images], options);
  assert.equal(fixed.updated, 1);
  assert.equal(row(db, 'broken.png')!.status, 'ok');
  assert.equal(row(db, 'broken.png')!.error, null);
});

test('new images get their ids in scan (sorted path) order, however the concurrent decodes finish', async () => {
  // Image sizes that make later files quicker to decode than earlier ones, with many decodes in flight.
  const dir = tempDir();
  const images = path.join(dir, 'images');
  const names = Array.from({ length: 24 }, (_, i) => `img${String(i).padStart(2, '0')}.png`);
  for (const [i, name] of names.entries()) await writeTestImage(path.join(images, name), { seed: i + 1, width: 400 - i * 15 });
  for (const copy of ['a.db', 'b.db']) {
    const dbPath = path.join(dir, copy);
    const db = openLibrary(dbPath);
    await indexLibrary(db, [images], { cacheDir: cacheDirFor(dbPath), concurrency: 8 });
    const rows = db.prepare('SELECT id, rel_path FROM images ORDER BY id').all() as { id: number; rel_path: string }[];
    assert.deepEqual(rows.map((r) => r.rel_path), names, `${copy}: ids follow the sorted paths`);
    assert.deepEqual(rows.map((r) => r.id), names.map((_, i) => i + 1));
    db.close();
  }
});

test('a library whose thumbnail cache was lost (copied without <db>.cache) gets its thumbnails back from the next index', async () => {
  const { images, db, options } = await setup(4);
  await indexLibrary(db, [images], options);
  const hashes = db.prepare('SELECT content_hash FROM images ORDER BY id').pluck().all() as string[];
  const ids = db.prepare('SELECT id FROM images ORDER BY id').pluck().all();
  changeTag(db, 'add', 'keep', ['img0.jpg']);
  await fs.rm(path.join(options.cacheDir, 'thumbs'), { recursive: true });
  const summary = await indexLibrary(db, [images], options);
  assert.deepEqual([summary.added, summary.updated, summary.unchanged, summary.contentChanged], [0, 4, 0, 0]);
  for (const hash of hashes) assert.ok(existsSync(thumbnailPath(options.cacheDir, hash)), `thumbnail ${hash} is back`);
  assert.deepEqual(db.prepare('SELECT id FROM images ORDER BY id').pluck().all(), ids, 'same images, same ids');
  assert.equal(db.prepare('SELECT count(*) FROM tags').pluck().get(), 1, 'tags stay');
  const again = await indexLibrary(db, [images], options);
  assert.deepEqual([again.updated, again.unchanged], [0, 4], 'with the cache back, unchanged files are skipped again');
});
