import { test } from 'node:test';
import assert from 'node:assert/strict';
import { changeTag, changeTagByIds, listTags, validateTagName } from '../../../core/library/tags.js';
import { smallLibrary } from '../../helpers/library.js';

test('tags are added and removed by relative path, content hash or id, with time stored', async () => {
  const { db } = await smallLibrary(4);
  const hash = db.prepare(`SELECT content_hash FROM images WHERE rel_path = 'img1.png'`).pluck().get() as string;
  const id2 = db.prepare(`SELECT id FROM images WHERE rel_path = 'img2.png'`).pluck().get() as number;
  const added = changeTag(db, 'add', 'outlier', ['img0.png', hash, String(id2)]);
  assert.deepEqual(added, { changed: 3, unchanged: 0, unknown: [] });
  assert.deepEqual(changeTag(db, 'add', 'outlier', ['img0.png']), { changed: 0, unchanged: 1, unknown: [] });
  const created = db.prepare(`SELECT created_at FROM tags LIMIT 1`).pluck().get() as string;
  assert.ok(!Number.isNaN(Date.parse(created)));
  assert.deepEqual(
    listTags(db).map((t) => [t.tag, t.images]),
    [['outlier', 3]],
  );
  assert.deepEqual(changeTag(db, 'remove', 'outlier', ['img0.png']), { changed: 1, unchanged: 0, unknown: [] });
  assert.equal(listTags(db)[0]!.images, 2);
});

test('an unknown image name changes nothing at all', async () => {
  const { db } = await smallLibrary(2);
  const result = changeTag(db, 'add', 'keep', ['img0.png', 'typo.png']);
  assert.equal(result.changed, 0);
  assert.equal(result.unknown.length, 1);
  assert.match(result.unknown[0]!.error, /unknown image "typo.png"/);
  assert.equal(db.prepare('SELECT count(*) FROM tags').pluck().get(), 0);
  assert.equal(changeTagByIds(db, 'add', 'keep', [1, 999]).unknown[0]!.error, 'no image with id 999');
  assert.equal(db.prepare('SELECT count(*) FROM tags').pluck().get(), 0);
});

test('tag names are validated', () => {
  assert.equal(validateTagName('  keep '), 'keep');
  assert.throws(() => validateTagName(' '), /cannot be empty/);
  assert.throws(() => validateTagName('a,b'), /comma or control character/);
  assert.throws(() => validateTagName('x'.repeat(65)), /longer than 64/);
});
