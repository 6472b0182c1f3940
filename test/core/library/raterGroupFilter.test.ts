// The `raterGroup=NAME` filter (issue 6: clicking a rater cluster filters the grid): images rated by at least one
// rater of the group, the same in the SQL listing (queryImages.ts), its count, and the column store's mask
// (histogram.ts) that the sidebar's counts come from, including when the groups change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { openLibrary, type LibraryDb } from '../../../core/library/openLibrary.js';
import { countImages, parseFilter, queryImages, type ImageFilter } from '../../../core/library/queryImages.js';
import { ColumnStore } from '../../../core/library/histogram.js';
import { setRaterGroups } from '../../../core/library/raterGroups.js';
import { tempDir } from '../../helpers/paths.js';

/**
 * 40 images (every 10th unreadable); raters a..e; groups warm = {a, b}, cool = {c}; d and e have no group.
 * a rates even ids, b rates multiples of 3, c rates multiples of 5, d rates everything, e rates id 1 only.
 */
function buildLibrary(): LibraryDb {
  const db = openLibrary(path.join(tempDir(), 'groups.db'));
  db.prepare(`INSERT INTO roots (id, path, added_at) VALUES (1, '/data', 'now')`).run();
  const image = db.prepare(`INSERT INTO images (id, root_id, rel_path, bytes, mtime_ms, status, indexed_at) VALUES (?, 1, ?, 1, 1, ?, 'now')`);
  const raters = { a: (id: number) => id % 2 === 0, b: (id: number) => id % 3 === 0, c: (id: number) => id % 5 === 0, d: () => true, e: (id: number) => id === 1 };
  db.transaction(() => {
    for (let id = 1; id <= 40; id++) image.run(id, `img_${id}.png`, id % 10 === 0 ? 'error' : 'ok');
    Object.keys(raters).forEach((name, i) => db.prepare('INSERT INTO raters (id, name) VALUES (?, ?)').run(i + 1, name));
    const rate = db.prepare('INSERT INTO ratings (image_id, rater_id, value) VALUES (?, ?, ?)');
    Object.values(raters).forEach((rates, i) => {
      for (let id = 1; id <= 40; id++) if (rates(id)) rate.run(id, i + 1, 1 + (id % 5));
    });
  })();
  setRaterGroups(db, [
    { row: '1', rater: 'a', group: 'warm' },
    { row: '2', rater: 'b', group: 'warm' },
    { row: '3', rater: 'c', group: 'cool' },
  ]);
  return db;
}

const readable = (id: number) => id % 10 !== 0;
const ids = (keep: (id: number) => boolean) => Array.from({ length: 40 }, (_, i) => i + 1).filter((id) => readable(id) && keep(id));

function listed(db: LibraryDb, filters: ImageFilter[]): number[] {
  const out: number[] = [];
  let after: string | null = null;
  do {
    const page = queryImages(db, { filters, limit: 7, after });
    out.push(...page.items.map((item) => item.id));
    after = page.next;
  } while (after);
  return out;
}

test('raterGroup=NAME parses (any case of the name), takes only =, and keeps the group name as written', () => {
  assert.deepEqual(parseFilter('raterGroup=warm'), { kind: 'raterGroup', group: 'warm' });
  assert.deepEqual(parseFilter(' ratergroup = cluster-2 '), { kind: 'raterGroup', group: 'cluster-2' });
  assert.throws(() => parseFilter('raterGroup!=warm'), /Cannot read filter "raterGroup!=warm": rater groups take =/);
  assert.throws(() => parseFilter('raterGroup='), /the value is missing/);
});

test('a rater group filter lists the images any of its raters rated, each once, in the listing and its count', () => {
  const db = buildLibrary();
  const warm = ids((id) => id % 2 === 0 || id % 3 === 0);
  assert.deepEqual(listed(db, [parseFilter('raterGroup=warm')]), warm, 'a or b, each image once even when both rated it');
  assert.equal(countImages(db, [parseFilter('raterGroup=warm')]), warm.length);
  assert.deepEqual(listed(db, [parseFilter('raterGroup=cool')]), ids((id) => id % 5 === 0));
  // With other filters: AND, like every filter; two groups mean rated by someone of each.
  assert.deepEqual(listed(db, [parseFilter('raterGroup=warm'), parseFilter('raterGroup=cool')]), ids((id) => (id % 2 === 0 || id % 3 === 0) && id % 5 === 0));
  assert.deepEqual(listed(db, [parseFilter('raterGroup=cool'), parseFilter('rater=e')]), []);
  assert.deepEqual(listed(db, [parseFilter('raterGroup=warm'), parseFilter('status=any')]), Array.from({ length: 40 }, (_, i) => i + 1).filter((id) => id % 2 === 0 || id % 3 === 0));
  assert.throws(() => countImages(db, [parseFilter('raterGroup=nobody')]), /Unknown rater group "nobody"\. `miru raters groups --db D` lists the groups/);
  db.close();
});

test('the column store counts a rater group like SQL does, and follows the groups when told they changed', () => {
  const db = buildLibrary();
  const store = new ColumnStore(db);
  const warm = [parseFilter('raterGroup=warm')];
  assert.equal(store.count(warm), countImages(db, warm));
  assert.equal(store.count([...warm, parseFilter('raterGroup=cool')]), countImages(db, [...warm, parseFilter('raterGroup=cool')]));
  const histogram = store.histogram({ kind: 'numeric', field: 'id' }, warm, 4);
  assert.equal(histogram.counts.reduce((s, c) => s + c, 0), countImages(db, warm));
  assert.throws(() => store.count([parseFilter('raterGroup=nobody')]), /Unknown rater group "nobody"/);

  // e joins warm: its one image (id 1) joins the group's images once the store is told.
  setRaterGroups(db, [{ row: '1', rater: 'e', group: 'warm' }]);
  const now = ids((id) => id % 2 === 0 || id % 3 === 0 || id === 1).length;
  assert.equal(countImages(db, warm), now);
  store.invalidate('raterGroups');
  assert.equal(store.count(warm), now);
  db.close();
});

test('a big group (past the membership-list limit) is probed per image and lists exactly the same images', () => {
  const db = buildLibrary();
  // 4,001 raters of one group rating the first five images: 20,005 rating rows, more than the 20,000 a member
  // list is built from, so the listing probes each image instead.
  db.transaction(() => {
    const rater = db.prepare('INSERT INTO raters (name) VALUES (?)');
    const rate = db.prepare('INSERT INTO ratings (image_id, rater_id, value) VALUES (?, ?, 3)');
    const group = db.prepare(`INSERT INTO rater_groups (rater_id, group_name) VALUES (?, 'crowd')`);
    for (let r = 0; r < 4001; r++) {
      const id = Number(rater.run(`crowd_${r}`).lastInsertRowid);
      group.run(id);
      for (let image = 1; image <= 5; image++) rate.run(image, id);
    }
    // One crowd rater also rated image 37.
    rate.run(37, db.prepare(`SELECT id FROM raters WHERE name = 'crowd_0'`).pluck().get());
  })();
  const crowd = [parseFilter('raterGroup=crowd')];
  assert.deepEqual(listed(db, crowd), [1, 2, 3, 4, 5, 37]);
  assert.equal(countImages(db, crowd), 6);
  assert.equal(new ColumnStore(db).count(crowd), 6);
  db.close();
});
