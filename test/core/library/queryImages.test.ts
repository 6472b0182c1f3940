import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { openLibrary, type LibraryDb } from '../../../core/library/openLibrary.js';
import { queryImages, parseFilter, parseSort, countImages, type ImageFilter, type ImageSort } from '../../../core/library/queryImages.js';
import { tempDir } from '../../helpers/paths.js';

interface Fixture {
  id: number;
  rel: string;
  status: string;
  brightness: number | null;
  ratingMean: number | null;
  ratingCount: number;
  tags: string[];
  raters: number[];
}

/** 300 rows with ties, NULLs and a few error rows, inserted directly so every value is known. */
function buildLibrary(): { db: LibraryDb; rows: Fixture[] } {
  const db = openLibrary(path.join(tempDir(), 'q.db'));
  db.prepare(`INSERT INTO roots (id, path, added_at) VALUES (1, '/data', 'now')`).run();
  db.prepare(`INSERT INTO raters (id, name) VALUES (1, 'ann'), (2, 'bob')`).run();
  const rows: Fixture[] = [];
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const insert = db.prepare(
    `INSERT INTO images (id, root_id, rel_path, bytes, mtime_ms, status, indexed_at, brightness, rating_mean, rating_count)
     VALUES (?, 1, ?, 1, 1, ?, 'now', ?, ?, ?)`,
  );
  for (let id = 1; id <= 300; id++) {
    const status = id % 50 === 0 ? 'error' : 'ok';
    const brightness = status === 'error' ? null : Math.round(rand() * 20) / 20; // many ties
    const rated = rand() < 0.6;
    const raters = rated ? (rand() < 0.5 ? [1] : [1, 2]) : [];
    const ratingMean = rated ? Math.round(rand() * 8) / 2 + 1 : null;
    const tags = rand() < 0.2 ? ['outlier'] : rand() < 0.3 ? ['keep'] : [];
    const rel = `${id % 3 === 0 ? 'Cats' : 'dogs'}/img_${id}.png`;
    insert.run(id, rel, status, brightness, ratingMean, raters.length);
    for (const r of raters) db.prepare('INSERT INTO ratings (image_id, rater_id, value) VALUES (?, ?, 3)').run(id, r);
    for (const t of tags) db.prepare(`INSERT INTO tags (image_id, tag, created_at) VALUES (?, ?, 'now')`).run(id, t);
    rows.push({ id, rel, status, brightness, ratingMean, ratingCount: raters.length, tags, raters });
  }
  return { db, rows };
}

/** The expected order, computed in plain JS: NULLs last in both directions, ties broken by id. */
function expected(rows: Fixture[], keep: (r: Fixture) => boolean, field: 'id' | 'brightness' | 'ratingMean', descending: boolean): number[] {
  const value = (r: Fixture) => (field === 'id' ? r.id : r[field]);
  const sign = descending ? -1 : 1;
  return rows
    .filter(keep)
    .sort((a, b) => {
      const va = value(a);
      const vb = value(b);
      if (va === null && vb === null) return sign * (a.id - b.id);
      if (va === null) return 1;
      if (vb === null) return -1;
      return va !== vb ? sign * (va - vb) : sign * (a.id - b.id);
    })
    .map((r) => r.id);
}

function pageThrough(db: LibraryDb, filters: ImageFilter[], sort: ImageSort, limit: number): number[] {
  const ids: number[] = [];
  let after: string | null = null;
  for (let pages = 0; pages < 1000; pages++) {
    const page = queryImages(db, { filters, sort, limit, after });
    ids.push(...page.items.map((i) => i.id));
    if (!page.next) return ids;
    after = page.next;
  }
  throw new Error('paging did not end');
}

const cases: { name: string; filters: string[]; keep: (r: Fixture) => boolean }[] = [
  { name: 'no filter', filters: [], keep: (r) => r.status === 'ok' },
  { name: 'brightness range', filters: ['brightness=0.2..0.6'], keep: (r) => r.status === 'ok' && r.brightness! >= 0.2 && r.brightness! <= 0.6 },
  { name: 'exclusive bound', filters: ['brightness>0.5'], keep: (r) => r.status === 'ok' && r.brightness! > 0.5 },
  { name: 'mean rating and count', filters: ['ratingMean>=3', 'rating_count>=2'], keep: (r) => r.status === 'ok' && r.ratingMean !== null && r.ratingMean >= 3 && r.ratingCount >= 2 },
  { name: 'has tag', filters: ['tag=outlier'], keep: (r) => r.status === 'ok' && r.tags.includes('outlier') },
  { name: 'has not tag', filters: ['tag!=outlier'], keep: (r) => r.status === 'ok' && !r.tags.includes('outlier') },
  { name: 'rater', filters: ['rater=bob'], keep: (r) => r.status === 'ok' && r.raters.includes(2) },
  { name: 'path contains, case-insensitive', filters: ['path~cats/'], keep: (r) => r.status === 'ok' && r.rel.toLowerCase().includes('cats/') },
  { name: 'status error', filters: ['status=error'], keep: (r) => r.status === 'error' },
  { name: 'any status', filters: ['status=any'], keep: () => true },
];

for (const c of cases) {
  test(`keyset paging returns exactly the filtered, sorted rows: ${c.name}`, () => {
    const { db, rows } = buildLibrary();
    const filters = c.filters.map(parseFilter);
    for (const sortText of ['id', '-id', 'brightness', '-brightness', 'ratingMean', '-ratingMean']) {
      const sort = parseSort(sortText);
      const want = expected(rows, c.keep, sort.field as 'id' | 'brightness' | 'ratingMean', sort.descending);
      for (const limit of [1, 7, 1000]) {
        assert.deepEqual(pageThrough(db, filters, sort, limit), want, `sort ${sortText}, limit ${limit}`);
      }
      assert.equal(countImages(db, filters), want.length);
    }
  });
}

test('rows carry path, tags and statistics', () => {
  const { db, rows } = buildLibrary();
  const tagged = rows.find((r) => r.tags.length && r.status === 'ok')!;
  const page = queryImages(db, { filters: [{ kind: 'range', field: 'id', min: tagged.id, max: tagged.id }] });
  assert.equal(page.items.length, 1);
  assert.deepEqual(page.items[0]!.tags, tagged.tags);
  assert.equal(page.items[0]!.path, path.join('/data', tagged.rel));
  assert.equal(page.items[0]!.stats.brightness, tagged.brightness);
  assert.equal(page.next, null);
});

test('filter expressions: accepted forms and clear errors', () => {
  assert.deepEqual(parseFilter('brightness >= 0.5'), { kind: 'range', field: 'brightness', min: 0.5 });
  assert.deepEqual(parseFilter('edge_density<0.1'), { kind: 'range', field: 'edgeDensity', max: 0.1, maxExclusive: true });
  assert.deepEqual(parseFilter('mean_rating=3..'), { kind: 'range', field: 'ratingMean', min: 3 });
  assert.deepEqual(parseFilter('width=640'), { kind: 'range', field: 'width', min: 640, max: 640 });
  assert.deepEqual(parseFilter('tag!=exclude'), { kind: 'tag', tag: 'exclude', has: false });
  assert.deepEqual(parseFilter('path~my folder'), { kind: 'path', contains: 'my folder' });
  assert.throws(() => parseFilter('loudness>3'), /Unknown field "loudness"/);
  assert.throws(() => parseFilter('brightness>bright'), /"bright" is not a number/);
  assert.throws(() => parseFilter('brightness=5..1'), /range is empty/);
  assert.throws(() => parseFilter('tag>x'), /tags take = or !=/);
  assert.throws(() => parseFilter('status=gone'), /status takes/);
  assert.throws(() => parseFilter('just words'), /expected FIELD OP VALUE/);
  assert.throws(() => parseSort('-nonsense'), /Unknown field/);
});

test('cursors are checked: damaged or from another sort', () => {
  const { db } = buildLibrary();
  const page = queryImages(db, { sort: parseSort('-brightness'), limit: 5 });
  assert.ok(page.next);
  assert.throws(() => queryImages(db, { sort: parseSort('brightness'), after: page.next }), /belongs to a listing sorted by -brightness/);
  assert.throws(() => queryImages(db, { sort: parseSort('-brightness'), after: 'not-a-cursor' }), /cursor is damaged/);
  assert.throws(() => queryImages(db, { limit: 0 }), /--limit must be/);
  assert.throws(() => queryImages(db, { filters: [parseFilter('rater=zed')] }), /Unknown rater "zed"/);
});

test('path filter treats % and _ literally', () => {
  const { db } = buildLibrary();
  db.prepare(`INSERT INTO images (id, root_id, rel_path, bytes, mtime_ms, status, indexed_at) VALUES (1000, 1, '100%_done.png', 1, 1, 'ok', 'now')`).run();
  const ids = queryImages(db, { filters: [parseFilter('path~%_')], limit: 1000 }).items.map((i) => i.id);
  assert.deepEqual(ids, [1000]);
});

test('a tag on more images than the membership list limit filters the same way (EXISTS plan)', () => {
  const db = openLibrary(path.join(tempDir(), 'big.db'));
  db.prepare(`INSERT INTO roots (id, path, added_at) VALUES (1, '/data', 'now')`).run();
  db.transaction(() => {
    const image = db.prepare(`INSERT INTO images (id, root_id, rel_path, bytes, mtime_ms, status, indexed_at, brightness) VALUES (?, 1, ?, 1, 1, 'ok', 'now', ?)`);
    const tag = db.prepare(`INSERT INTO tags (image_id, tag, created_at) VALUES (?, 'common', 'now')`);
    for (let id = 1; id <= 24_000; id++) {
      image.run(id, `img_${id}.png`, (id * 7919) % 1000);
      if (id % 8 !== 0) tag.run(id);
    }
  })();
  const tagged = queryImages(db, { filters: [parseFilter('tag=common')], sort: parseSort('-brightness'), limit: 1000 });
  assert.equal(tagged.items.length, 1000);
  assert.ok(tagged.items.every((i) => i.id % 8 !== 0 && i.tags.includes('common')));
  for (let i = 1; i < tagged.items.length; i++) assert.ok(tagged.items[i - 1]!.stats.brightness! >= tagged.items[i]!.stats.brightness!);
  assert.equal(countImages(db, [parseFilter('tag=common')]), 21_000);
  assert.equal(countImages(db, [parseFilter('tag!=common')]), 3_000);
});

test('path~ uses the trigram index and follows renames', () => {
  const { db } = buildLibrary();
  assert.equal(countImages(db, [parseFilter('path~img_12')]), 11); // img_12, img_120..img_129 (none are error rows)
  db.prepare(`UPDATE images SET rel_path = 'renamed/zebra.png' WHERE id = 12`).run();
  assert.deepEqual(queryImages(db, { filters: [parseFilter('path~zebra')] }).items.map((i) => i.id), [12]);
  assert.equal(countImages(db, [parseFilter('path~img_12')]), 10);
  db.prepare('DELETE FROM tags WHERE image_id = 12').run();
  db.prepare('DELETE FROM ratings WHERE image_id = 12').run();
  db.prepare('DELETE FROM images WHERE id = 12').run();
  assert.equal(countImages(db, [parseFilter('path~zebra')]), 0);
  assert.equal(countImages(db, [parseFilter('path~"quoted"')]), 0, 'quotes in the text are taken literally');
});
