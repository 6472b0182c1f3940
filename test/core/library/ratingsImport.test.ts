import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { importRatings, parseScale } from '../../../core/library/ratingsImport.js';
import { smallLibrary } from '../../helpers/library.js';

function write(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

test('valid CSV rows are imported and every bad row is reported with its line number and reason', async () => {
  const { dir, db } = await smallLibrary();
  const hash = db.prepare(`SELECT content_hash FROM images WHERE rel_path = 'img3.png'`).pluck().get() as string;
  const id4 = db.prepare(`SELECT id FROM images WHERE rel_path = 'img4.png'`).pluck().get() as number;
  const file = write(
    dir,
    'ratings.csv',
    [
      'image,rater,score,time', // line 1
      'img0.png,ann,4,2024-05-01T10:00:00Z', // 2 ok
      'img1.png,ann,5,', // 3 ok, no time
      `${path.join(dir, 'images', 'img2.png')},bob,3,`, // 4 ok, absolute path
      `${hash},bob,2,`, // 5 ok, by content hash
      `${id4},bob,1,1714557600`, // 6 ok, by id, Unix seconds
      'nope.png,ann,3,', // 7 unknown image
      'img0.png,bob,three,', // 8 not a number
      'img0.png,cat,9,', // 9 outside the scale
      'img0.png,,3,', // 10 missing rater
      'img0.png,dan,3,yesterday-ish', // 11 bad time
      '"img1.png,dan,3', // 12 malformed (unclosed quote) — csv-parse stops at the end of input
    ].join('\n'),
  );
  const summary = await importRatings(db, file, { scale: parseScale('1:5') });
  assert.equal(summary.imported, 5, JSON.stringify(summary.rejected));
  assert.equal(summary.replaced, 0);
  const byLine = new Map(summary.rejected.map((r) => [r.line, r.error]));
  assert.match(byLine.get(7)!, /unknown image "nope.png"/);
  assert.match(byLine.get(8)!, /score is not a number: "three"/);
  assert.match(byLine.get(9)!, /score 9 is outside the scale 1:5/);
  assert.match(byLine.get(10)!, /missing field: rater/);
  assert.match(byLine.get(11)!, /time is not a date/);
  assert.match(byLine.get(12)!, /malformed CSV line/);
  assert.equal(summary.rejected.length, 6);
  assert.equal(db.prepare('SELECT count(*) FROM ratings').pluck().get(), 5);
  const img0 = db.prepare(`SELECT rating_mean, rating_count FROM images WHERE rel_path = 'img0.png'`).get();
  assert.deepEqual(img0, { rating_mean: 4, rating_count: 1 });
  assert.equal(db.prepare(`SELECT rated_at FROM ratings r JOIN images i ON i.id = r.image_id WHERE i.id = ?`).pluck().get(id4), '2024-05-01T10:00:00.000Z');
});

test('re-importing the same file adds nothing; a new value from the same rater replaces the old one and says so', async () => {
  const { dir, db } = await smallLibrary();
  const first = write(dir, 'a.csv', 'image,rater,score\nimg0.png,ann,4\nimg1.png,ann,2\nimg1.png,bob,5\n');
  assert.equal((await importRatings(db, first)).imported, 3);
  const again = await importRatings(db, first);
  assert.deepEqual([again.imported, again.replaced, again.unchanged], [0, 0, 3]);
  const second = write(dir, 'b.csv', 'image,rater,score\nimg0.png,ann,1\nimg2.png,ann,3\n');
  const summary = await importRatings(db, second);
  assert.deepEqual([summary.imported, summary.replaced, summary.unchanged], [1, 1, 0]);
  assert.equal(db.prepare('SELECT count(*) FROM ratings').pluck().get(), 4);
  assert.deepEqual(db.prepare(`SELECT rating_mean, rating_count FROM images WHERE rel_path = 'img0.png'`).get(), { rating_mean: 1, rating_count: 1 });
  assert.deepEqual(db.prepare(`SELECT rating_mean, rating_count FROM images WHERE rel_path = 'img1.png'`).get(), { rating_mean: 3.5, rating_count: 2 });
});

test('two rows for the same image and rater in one file: the later wins and the earlier is listed', async () => {
  const { dir, db } = await smallLibrary();
  const file = write(dir, 'dup.csv', 'image,rater,score\nimg0.png,ann,2\nimg0.png,ann,5\n');
  const summary = await importRatings(db, file);
  assert.equal(summary.imported, 1);
  assert.deepEqual(summary.duplicatesInFile, [{ line: 2, supersededBy: 3 }]);
  assert.equal(db.prepare('SELECT value FROM ratings').pluck().get(), 5);
});

test('JSON Lines: objects per line, bad lines reported, aliases accepted', async () => {
  const { dir, db } = await smallLibrary();
  const file = write(
    dir,
    'r.jsonl',
    [
      '{"image": "img0.png", "rater": "ann", "score": 3}',
      '',
      '{"path": "img1.png", "user": "ann", "rating": 4.5, "time": "2024-01-02"}',
      '{"image": "img2.png", "rater": "ann"',
      '[1, 2, 3]',
      '{"image": "img2.png", "score": 2}',
      '{"image": "img3.png", "rater": "ann", "score": null}',
    ].join('\n'),
  );
  const summary = await importRatings(db, file);
  assert.equal(summary.imported, 2);
  assert.deepEqual(
    summary.rejected.map((r) => r.line),
    [4, 5, 6, 7],
  );
  assert.match(summary.rejected[0]!.error, /malformed JSON/);
  assert.match(summary.rejected[1]!.error, /expected a JSON object/);
  assert.match(summary.rejected[2]!.error, /missing field: rater/);
  assert.match(summary.rejected[3]!.error, /missing field: score/);
});

test('file-level problems fail before anything is stored', async () => {
  const { dir, db } = await smallLibrary();
  await assert.rejects(importRatings(db, path.join(dir, 'missing.csv')), /Cannot read ratings file .*missing.csv: no such file/);
  await assert.rejects(importRatings(db, write(dir, 'r.txt', 'x')), /must be a \.csv or \.jsonl file/);
  await assert.rejects(importRatings(db, write(dir, 'nohdr.csv', 'picture,who,score\nimg0.png,ann,3\n')), /no image column \(found: picture, who, score\).*Nothing was imported/);
  await assert.rejects(importRatings(db, write(dir, 'empty.csv', '')), /empty/);
  assert.throws(() => parseScale('5:1'), /MIN must be below MAX/);
  assert.throws(() => parseScale('one to five'), /not MIN:MAX/);
  assert.equal(db.prepare('SELECT count(*) FROM ratings').pluck().get(), 0);
});

test('the scale is remembered: a later import without --scale is still checked', async () => {
  const { dir, db } = await smallLibrary();
  await importRatings(db, write(dir, 'a.csv', 'image,rater,score\nimg0.png,ann,3\n'), { scale: { min: 1, max: 5 } });
  const later = await importRatings(db, write(dir, 'b.csv', 'image,rater,score\nimg1.png,ann,7\nimg2.png,ann,5\n'));
  assert.equal(later.imported, 1);
  assert.match(later.rejected[0]!.error, /outside the scale 1:5/);
});

test('a CSV with a byte-order mark, CRLF line ends and quoted names imports', async () => {
  const { dir, db } = await smallLibrary();
  const file = write(dir, 'excel.csv', '\uFEFFImage,Rater,Score\r\nimg0.png,"Smith, Ann",4\r\n');
  const summary = await importRatings(db, file);
  assert.equal(summary.imported, 1);
  assert.equal(db.prepare('SELECT name FROM raters').pluck().get(), 'Smith, Ann');
});
