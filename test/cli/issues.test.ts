import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import sharp from 'sharp';
import { runMiru, runMiruJson } from '../helpers/runMiru.js';
import { tempDir } from '../helpers/paths.js';
import { clusteredVectors, storeEmbeddings } from '../helpers/analysisData.js';
import { openLibrary } from '../../core/library/openLibrary.js';
import { listAnalyses, readAnalysisValues } from '../../core/analysis/analysisStore.js';
import type { LibraryIssuesResult } from '../../core/analysis/libraryIssues.js';

// 90 ordinary images in three classes (image i is class i % 3, rated i % 3 + 1 on a 1..3 scale by three raters)
// whose embeddings cluster by class; six images are rated as another class, so they are the label errors. Two odd
// images (a near-black one and a 10:1 strip) have no ratings. img89 is rated but not embedded.
const FLIPPED = [4, 17, 31, 50, 68, 82];
const trueClass = (i: number) => i % 3;
const givenRating = (i: number) => (FLIPPED.includes(i) ? ((trueClass(i) + 1) % 3) + 1 : trueClass(i) + 1);

const setup = (async () => {
  const dir = tempDir();
  const images = path.join(dir, 'images');
  mkdirSync(images, { recursive: true });
  let state = 5;
  const random = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 24;
  for (let i = 0; i < 90; i++) {
    const data = Buffer.alloc(32 * 32 * 3);
    for (let j = 0; j < data.length; j++) data[j] = 40 + (random() % 180);
    await sharp(data, { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(path.join(images, `img${String(i).padStart(2, '0')}.png`));
  }
  await sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 5, g: 4, b: 9 } } }).png().toFile(path.join(images, 'dark.png'));
  const strip = Buffer.alloc(320 * 32 * 3);
  for (let j = 0; j < strip.length; j++) strip[j] = 40 + (random() % 180);
  await sharp(strip, { raw: { width: 320, height: 32, channels: 3 } }).png().toFile(path.join(images, 'strip.png'));

  const db = path.join(dir, 'lib.db');
  const index = await runMiru(['index', images, '--db', db]);
  assert.equal(index.code, 0, index.stderr);
  const ratings = ['image,rater,score'];
  for (let i = 0; i < 90; i++) for (const rater of ['ann', 'bob', 'cy']) ratings.push(`img${String(i).padStart(2, '0')}.png,${rater},${givenRating(i)}`);
  writeFileSync(path.join(dir, 'ratings.csv'), ratings.join('\n'));
  const imported = await runMiru(['ratings', 'import', path.join(dir, 'ratings.csv'), '--db', db, '--scale', '1:3']);
  assert.equal(imported.code, 0, imported.stderr);

  const lib = openLibrary(db, { mustExist: true });
  const idOf = new Map(lib.prepare<[], { id: number; rel_path: string }>('SELECT id, rel_path FROM images').all().map((r) => [r.rel_path, r.id]));
  const embedded = Array.from({ length: 89 }, (_, i) => idOf.get(`img${String(i).padStart(2, '0')}.png`)!);
  const runId = storeEmbeddings(lib, 'toy-embed', clusteredVectors(embedded, (i) => trueClass(i), 8, 0.15, 7));
  lib.close();
  return { db, idOf, runId, flippedIds: FLIPPED.map((i) => idOf.get(`img${String(i).padStart(2, '0')}.png`)!) };
})();

test('issues finds the relabelled images, ranks them by label quality and stores label and image issues', async () => {
  const { db, idOf, runId, flippedIds } = await setup;
  const run = await runMiruJson<LibraryIssuesResult>(['issues', '--db', db, '--embedding', 'toy-embed']);
  assert.equal(run.code, 0, run.stderr);
  const r = run.json;
  assert.deepEqual(r.embedding, { runId, model: 'toy-embed' });
  assert.deepEqual(r.scale, [1, 2, 3]);
  assert.equal(r.counts.labelled, 89);
  assert.equal(r.counts.ratedWithoutEmbedding, 1);
  assert.equal(r.counts.belowMinRatings, 0);
  assert.equal(r.counts.perClass.reduce((a, b) => a + b, 0), 89);
  // Exactly the six relabelled images: their embedding says one class, their raters another.
  assert.deepEqual(r.labelIssues.map((e) => e.id).sort((a, b) => a - b), [...flippedIds].sort((a, b) => a - b));
  for (const e of r.labelIssues) {
    const i = FLIPPED.find((f) => flippedIds[FLIPPED.indexOf(f)] === e.id)!;
    assert.equal(e.given, givenRating(i));
    assert.equal(e.predicted, trueClass(i) + 1);
    assert.match(e.path, new RegExp(`img${String(i).padStart(2, '0')}\\.png$`));
    assert.ok(e.quality >= 0 && e.quality < 0.5, `quality ${e.quality}`);
    assert.ok(e.residual > 0.25, `residual ${e.residual}`);
  }
  for (let k = 1; k < r.labelIssues.length; k++) assert.ok(r.labelIssues[k - 1]!.quality <= r.labelIssues[k]!.quality, 'most likely mislabelled first');
  assert.equal(r.counts.labelIssues, 6);
  assert.deepEqual(r.imageIssues.dark!.map((x) => x.id), [idOf.get('dark.png')]);
  assert.deepEqual(r.imageIssues.odd_aspect_ratio!.map((x) => x.id), [idOf.get('strip.png')]);
  assert.equal(r.counts.imagesScored, 92);
  assert.equal(r.counts.imageIssues!.dark, 1);

  // Stored: every checked image's label quality, with [isIssue, given, predicted, residual].
  const lib = openLibrary(db, { mustExist: true });
  try {
    const stored = listAnalyses(lib, { kind: 'label-issues', sourceRunId: runId });
    assert.equal(stored.length, 1);
    assert.equal(stored[0]!.id, r.analysisIds.labelIssues);
    assert.equal(stored[0]!.summary.labelIssues, 6);
    const values = readAnalysisValues(lib, stored[0]!.id);
    assert.equal(values.length, 89);
    const issues = new Map(r.labelIssues.map((e) => [e.id, e]));
    let disagreeing = 0;
    for (const v of values) {
      const [isIssue, given, predicted, residual] = Array.from(v.extra!);
      assert.equal(isIssue, issues.has(v.imageId) ? 1 : 0);
      const e = issues.get(v.imageId);
      if (e) {
        assert.equal(v.value, e.quality);
        assert.deepEqual([given, predicted], [e.given, e.predicted]);
        assert.ok(Math.abs(residual! - e.residual) < 1e-6);
      } else {
        // Not flagged: mostly the head agrees with the raters; where it does not, confident learning judged the
        // head too unsure (the flipped images are the only confident disagreements).
        if (given !== predicted) disagreeing++;
        assert.ok([1, 2, 3].includes(given!) && [1, 2, 3].includes(predicted!));
      }
    }
    assert.ok(disagreeing <= 2, `${disagreeing} unflagged images where the head disagrees`);
    assert.equal(listAnalyses(lib, { kind: 'image-issues' }).length, 7);
  } finally {
    lib.close();
  }
});

test('issues with the ordinal head and another filter; text output', async () => {
  const { db, flippedIds } = await setup;
  const run = await runMiruJson<LibraryIssuesResult>(['issues', '--db', db, '--embedding', 'toy-embed', '--head', 'ordinal', '--filter-by', 'both', '--rank-by', 'normalized_margin', '--no-image-issues']);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(run.json.labelIssues.map((e) => e.id).sort((a, b) => a - b), [...flippedIds].sort((a, b) => a - b));
  for (let k = 1; k < run.json.labelIssues.length; k++) assert.ok(run.json.labelIssues[k - 1]!.quality <= run.json.labelIssues[k]!.quality);
  assert.equal(run.json.rankedBy, 'normalized_margin');
  assert.deepEqual(run.json.imageIssues, {});
  assert.equal(run.json.counts.imageIssues, undefined);

  const text = await runMiru(['issues', '--db', db, '--embedding', 'toy-embed', '--top', '2']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^Label issues: 6 of 89 rated images \(logistic head on embedding run \d+ \(toy-embed\), 5-fold/);
  assert.match(text.stdout, /1 rated images have no embedding in this run/);
  assert.match(text.stdout, /\.\.\. 4 more/);
  assert.match(text.stdout, /Odd images among 92 with statistics:\n\s+dark\s+1\s+ids: \d+ \(0\.\d\d\)/);
});

test('issues refuses bad requests clearly and stores nothing for them', async () => {
  const { db } = await setup;
  const count = () => {
    const lib = openLibrary(db, { mustExist: true });
    try {
      return listAnalyses(lib).length;
    } finally {
      lib.close();
    }
  };
  const before = count();
  const unknown = await runMiru(['issues', '--db', db, '--embedding', 'nope']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /No embedding run "nope"\. Known embedding runs: \d+ \(toy-embed, 89 vectors\)/);
  const few = await runMiru(['issues', '--db', db, '--embedding', 'toy-embed', '--min-ratings', '4']);
  assert.equal(few.code, 1);
  assert.match(few.stderr, /No image has 4 or more ratings/);
  const folds = await runMiru(['issues', '--db', db, '--embedding', 'toy-embed', '--folds', '1']);
  assert.equal(folds.code, 1);
  assert.match(folds.stderr, /--folds must be at least 2/);
  const head = await runMiru(['issues', '--db', db, '--embedding', 'toy-embed', '--head', 'mlp']);
  assert.equal(head.code, 2);
  assert.match(head.stderr, /--head must be one of logistic, ordinal/);
  assert.equal(count(), before);
});
