import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { runMiru, runMiruJson } from '../helpers/runMiru.js';
import { tempDir } from '../helpers/paths.js';
import { writeTestImage } from '../helpers/images.js';

async function folder(count: number) {
  const dir = tempDir();
  const images = path.join(dir, 'photos');
  for (let i = 0; i < count; i++) await writeTestImage(path.join(images, `p${i}.png`), { seed: i + 3, width: 30 + i });
  writeFileSync(path.join(images, 'broken.jpg'), 'not really a jpeg');
  return { dir, images, db: path.join(dir, 'lib.db') };
}

test('index, info, ratings, tags, list and export work together from the command line', async () => {
  const { dir, images, db } = await folder(6);
  const index = await runMiruJson<{ indexed: number; added: number; errors: { path: string; error: string }[] }>(['index', images, '--db', db]);
  assert.equal(index.code, 0, index.stderr);
  assert.equal(index.json.indexed, 6);
  assert.equal(index.json.added, 7);
  assert.deepEqual(index.json.errors.map((e) => path.basename(e.path)), ['broken.jpg']);
  assert.match(index.json.errors[0]!.error, /not an image/);

  const ratings = path.join(dir, 'ratings.csv');
  writeFileSync(ratings, 'image,rater,score\np0.png,ann,5\np1.png,ann,4\np1.png,bob,2\np2.png,bob,9\nghost.png,ann,1\n');
  const imported = await runMiruJson<{ imported: number; replaced: number; rejected: { line: number; error: string }[] }>(['ratings', 'import', ratings, '--db', db, '--scale', '1:5']);
  assert.equal(imported.code, 0);
  assert.equal(imported.json.imported, 3);
  assert.equal(imported.json.replaced, 0);
  assert.deepEqual(imported.json.rejected.map((r) => r.line), [5, 6]);

  assert.equal((await runMiru(['tag', 'add', 'outlier', 'p1.png', 'p2.png', '--db', db])).code, 0);
  const tags = await runMiruJson<{ tag: string; images: number }[]>(['tag', 'list', '--db', db]);
  assert.deepEqual(tags.json.map((t) => [t.tag, t.images]), [['outlier', 2]]);
  const badTag = await runMiru(['tag', 'add', 'keep', 'nope.png', '--db', db]);
  assert.equal(badTag.code, 1);
  assert.match(badTag.stderr, /nothing was tagged: 1 image name\(s\) not found/);

  const info = await runMiruJson<Record<string, number>>(['info', '--db', db]);
  assert.deepEqual(
    { images: info.json.images, errors: info.json.errors, missing: info.json.missing, raters: info.json.raters, ratings: info.json.ratings, tags: info.json.tags },
    { images: 6, errors: 1, missing: 0, raters: 2, ratings: 3, tags: 1 },
  );

  const rated = await runMiruJson<{ items: { relPath: string; ratingMean: number; tags: string[] }[]; next: string | null }>([
    'list', '--db', db, '--filter', 'ratingCount>=1', '--sort', '-ratingMean', '--limit', '1',
  ]);
  assert.deepEqual(rated.json.items.map((i) => [i.relPath, i.ratingMean]), [['p0.png', 5]]);
  assert.ok(rated.json.next);
  const rest = await runMiruJson<{ items: { relPath: string; ratingMean: number }[]; next: string | null }>([
    'list', '--db', db, '--filter', 'ratingCount>=1', '--sort', '-ratingMean', '--limit', '1', '--after', rated.json.next!,
  ]);
  assert.deepEqual(rest.json.items.map((i) => [i.relPath, i.ratingMean]), [['p1.png', 3]]);
  assert.equal(rest.json.next, null, 'the last page has no next cursor');
  const untagged = await runMiruJson<{ items: { relPath: string }[] }>(['list', '--db', db, '--filter', 'tag!=outlier', '--limit', '100']);
  assert.deepEqual(untagged.json.items.map((i) => i.relPath).sort(), ['p0.png', 'p3.png', 'p4.png', 'p5.png']);

  // Exported ratings re-import as they are, adding nothing twice.
  const out = path.join(dir, 'export.csv');
  const exported = await runMiru(['export', '--db', db, '--what', 'ratings', '--format', 'csv', '--out', out]);
  assert.equal(exported.code, 0, exported.stderr);
  assert.match(readFileSync(out, 'utf8'), /^image,hash,rater,score,time,imported_from\n/);
  const reimport = await runMiruJson<{ imported: number; unchanged: number }>(['ratings', 'import', out, '--db', db]);
  assert.deepEqual([reimport.json.imported, reimport.json.unchanged], [0, 3]);

  const jsonl = await runMiru(['export', '--db', db, '--what', 'images', '--format', 'jsonl']);
  const lines = jsonl.stdout.trim().split('\n').map((l) => JSON.parse(l) as { path: string; status: string; tags: string | null; brightness: number | null });
  assert.equal(lines.length, 7);
  assert.equal(lines.find((l) => l.path === 'p1.png')!.tags, 'outlier');
  assert.equal(lines.find((l) => l.path === 'broken.jpg')!.status, 'error');
  const tagsCsv = await runMiru(['export', '--db', db, '--what', 'tags']);
  assert.equal(tagsCsv.stdout.trim().split('\n').length, 3);
});

test('usage errors exit 2 and failures exit 1, each with a message that says what to do', async () => {
  const { dir, images } = await folder(1);
  const noDb = await runMiru(['index', images]);
  assert.equal(noDb.code, 2);
  assert.match(noDb.stderr, /--db/);
  const missing = await runMiru(['info', '--db', path.join(dir, 'none.db')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /No library at .*miru index/);
  const badLimit = await runMiru(['list', '--db', path.join(dir, 'none.db'), '--limit', 'ten']);
  assert.equal(badLimit.code, 2);
  assert.match(badLimit.stderr, /--limit must be a positive whole number/);
  const badFilter = await runMiru(['index', images, '--db', path.join(dir, 'l.db')]);
  assert.equal(badFilter.code, 0);
  const filter = await runMiru(['list', '--db', path.join(dir, 'l.db'), '--filter', 'prettiness>3']);
  assert.equal(filter.code, 1);
  assert.match(filter.stderr, /Unknown field "prettiness"/);
  const badExport = await runMiru(['export', '--db', path.join(dir, 'l.db'), '--what', 'everything']);
  assert.equal(badExport.code, 1);
  assert.match(badExport.stderr, /--what must be one of images, ratings, tags/);
  const unknownCommand = await runMiru(['frobnicate']);
  assert.equal(unknownCommand.code, 2);
  const help = await runMiru(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /index.*ratings.*tag.*list.*info.*export.*synth/s);
});
