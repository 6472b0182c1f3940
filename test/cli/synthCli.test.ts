import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { runMiru, runMiruJson } from '../helpers/runMiru.js';
import { tempDir } from '../helpers/paths.js';

test('a synthetic dataset indexes and its ratings import without a single rejected row', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'synth');
  const synth = await runMiruJson<{ images: number; ratings: number; raters: number }>(['synth', out, '--images', '40', '--raters', '12', '--seed', '5', '--size', '96']);
  assert.equal(synth.code, 0, synth.stderr);
  assert.deepEqual([synth.json.images, synth.json.raters], [40, 12]);
  const db = path.join(dir, 'lib.db');
  const index = await runMiruJson<{ indexed: number; errors: unknown[] }>(['index', path.join(out, 'images'), '--db', db]);
  assert.deepEqual([index.json.indexed, index.json.errors.length], [40, 0]);
  const ratings = await runMiruJson<{ imported: number; rejected: unknown[] }>(['ratings', 'import', path.join(out, 'ratings.csv'), '--db', db, '--scale', '1:5']);
  assert.deepEqual([ratings.json.imported, ratings.json.rejected.length], [synth.json.ratings, 0]);
  const truth = JSON.parse(readFileSync(path.join(out, 'truth.json'), 'utf8')) as { images: { file: string; width: number; height: number }[] };
  const listed = await runMiruJson<{ items: { relPath: string; width: number; height: number }[] }>(['list', '--db', db, '--limit', '100']);
  for (const image of truth.images) {
    const item = listed.json.items.find((i) => i.relPath === image.file);
    assert.ok(item, `${image.file} is in the library`);
    assert.deepEqual([item.width, item.height], [image.width, image.height]);
  }
});

test('synth options out of range are refused with the option named', async () => {
  const run = await runMiru(['synth', path.join(tempDir(), 'x'), '--size', '10']);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /"size": expected an integer from 64 to 8192, got 10/);
  const classes = await runMiru(['synth', path.join(tempDir(), 'x'), '--classes', '6']);
  assert.equal(classes.code, 2);
  assert.match(classes.stderr, /--classes must be 5 or 7/);
});
