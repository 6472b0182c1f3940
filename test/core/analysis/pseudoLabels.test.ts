import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { importRatings, parseScale } from '../../../core/library/ratingsImport.js';
import type { LibraryDb } from '../../../core/library/openLibrary.js';
import { listAnalyses, readAnalysisValues } from '../../../core/analysis/analysisStore.js';
import { consensusClasses, pseudoLabelLibrary, scoreHoldout, stratifiedHoldout } from '../../../core/analysis/pseudoLabels.js';
import { ordinalScale } from '../../../core/analysis/softLabels.js';
import { smallLibrary } from '../../helpers/library.js';
import { clusteredVectors, storeEmbeddings, storeScores } from '../../helpers/analysisData.js';

const N = 40;
const RATED = 24;
/** Image i (in id order) is in cluster i % 3, whose class on the 1..5 scale is 2 + cluster. */
const classOf = (i: number) => 2 + (i % 3);

/**
 * 40 images in three embedding clusters; the first 24 are rated consistently with their cluster (some by three
 * raters whose mean is the cluster's class), the other 16 are unrated.
 */
async function clusteredLibrary(options: { ratings?: (i: number) => number[] } = {}) {
  const lib = await smallLibrary(N);
  const ids = lib.db.prepare<[], number>('SELECT id FROM images ORDER BY id').pluck().all();
  const names = lib.db.prepare<[], string>('SELECT rel_path FROM images ORDER BY id').pluck().all();
  const lines = ['image,rater,score'];
  const ratingsOf = options.ratings ?? ((i: number) => (i % 2 ? [classOf(i)] : [classOf(i), classOf(i) - 1, classOf(i) + 1]));
  for (let i = 0; i < RATED; i++) ratingsOf(i).forEach((score, r) => lines.push(`${names[i]},rater${r},${score}`));
  const file = path.join(lib.dir, 'ratings.csv');
  writeFileSync(file, lines.join('\n'));
  assert.deepEqual((await importRatings(lib.db, file, { scale: parseScale('1:5') })).rejected, []);
  const runId = storeEmbeddings(lib.db, 'emb', clusteredVectors(ids, (i) => i % 3));
  return { ...lib, ids, names, runId };
}

const stored = (db: LibraryDb) => listAnalyses(db, { kind: 'pseudo-labels' });

test('the consensus class is the mean rating rounded to the scale, halves up', async () => {
  const lib = await smallLibrary(4);
  const file = path.join(lib.dir, 'r.csv');
  writeFileSync(file, 'image,rater,score\nimg0.png,a,2\nimg0.png,b,3\nimg1.png,a,1\nimg1.png,b,2\nimg1.png,c,1\nimg2.png,a,5\n');
  await importRatings(lib.db, file, { scale: parseScale('1:5') });
  const byPath = new Map(lib.db.prepare<[], { id: number; rel_path: string }>('SELECT id, rel_path FROM images').all().map((r) => [r.rel_path, r.id]));
  const classes = consensusClasses(lib.db, ordinalScale(lib.db));
  // 2.5 -> 3 (index 2), 1.33 -> 1 (index 0), 5 -> 5 (index 4); img3 is unrated.
  assert.deepEqual([classes.get(byPath.get('img0.png')!), classes.get(byPath.get('img1.png')!), classes.get(byPath.get('img2.png')!)], [2, 0, 4]);
  assert.equal(classes.has(byPath.get('img3.png')!), false);
});

test('the held-out sample is stratified, seeded, and keeps every class labelled', () => {
  const labels = [...new Array<number>(10).fill(0), ...new Array<number>(4).fill(1), 2, -1, -1];
  const hidden = stratifiedHoldout(labels, 3, 0.3, 5);
  const hiddenOf = (c: number) => labels.filter((y, i) => y === c && hidden[i]).length;
  assert.deepEqual([hiddenOf(0), hiddenOf(1), hiddenOf(2)], [3, 1, 0], 'round(0.3 × 10), round(0.3 × 4), and never the only one of a class');
  assert.equal(hidden[15] + hidden[16], 0, 'unlabelled rows are never hidden');
  assert.deepEqual(stratifiedHoldout(labels, 3, 0.3, 5), hidden, 'same seed, same sample');
  assert.notDeepEqual(stratifiedHoldout(labels, 3, 0.3, 6), hidden, 'another seed, another sample');
  assert.deepEqual(Array.from(stratifiedHoldout(labels, 3, 0, 5)), new Array<number>(labels.length).fill(0));
});

test('held-out scores: accuracy, MAE and QWK over the labelled predictions, coverage over all hidden', () => {
  const values = [1, 2, 3, 4, 5];
  // truth classes 1, 2, 3, 4, 5 (indices 0-4); predictions 1, 3, 3, 4, none.
  const check = scoreHoldout([0, 1, 2, 3, 4], [0, 2, 2, 3, -1], [0.99, 0.97, 0.5, 0.96, 0], values, { fraction: 0.2, seed: 1, threshold: 0.95 });
  assert.equal(check.hidden, 5);
  assert.equal(check.evaluated, 4);
  assert.equal(check.accuracy, 3 / 4);
  assert.equal(check.mae, 1 / 4);
  // scikit-learn: cohen_kappa_score([1, 2, 3, 4], [1, 3, 3, 4], weights='quadratic', labels=[1, 2, 3, 4, 5]) = 0.9
  assert.ok(Math.abs(check.qwk! - 0.9) < 1e-12, String(check.qwk));
  assert.equal(check.coverage, 3 / 5);
  assert.equal(check.coveredAccuracy, 2 / 3);
  const empty = scoreHoldout([], [], [], values, { fraction: 0.2, seed: 1, threshold: 0.95 });
  assert.deepEqual([empty.accuracy, empty.mae, empty.qwk, empty.coverage, empty.coveredAccuracy], [null, null, null, null, null]);
});

test('propagation labels every unrated image with its cluster\'s class, checks itself on hidden labels, and stores the result', async () => {
  const { db, ids, runId } = await clusteredLibrary();
  const report = await pseudoLabelLibrary(db, { embedding: 'emb', k: 5, holdout: 0.25, seed: 2 });
  assert.equal(report.method, 'propagation');
  assert.equal(report.embeddingRun, runId);
  assert.deepEqual(report.classes, [1, 2, 3, 4, 5]);
  assert.equal(report.scaleSource, 'stored');
  assert.equal(report.labelled, RATED);
  assert.equal(report.candidates, N - RATED);
  assert.equal(report.pseudoLabelled, N - RATED);
  assert.equal(report.unreachable, 0);
  assert.deepEqual(report.perClass, [
    { class: 1, labelled: 0, pseudoLabelled: 0 },
    { class: 2, labelled: 8, pseudoLabelled: 6 },
    { class: 3, labelled: 8, pseudoLabelled: 5 },
    { class: 4, labelled: 8, pseudoLabelled: 5 },
    { class: 5, labelled: 0, pseudoLabelled: 0 },
  ]);
  const h = report.holdout!;
  assert.equal(h.hidden, 6, 'round(0.25 × 8) of each of three classes');
  assert.deepEqual([h.evaluated, h.accuracy, h.mae, h.qwk, h.coverage, h.coveredAccuracy], [6, 1, 0, 1, 1, 1]);
  assert.deepEqual(report.params, { method: 'propagation', k: 5, alpha: 0.99, affinity: 'similarity', gamma: 3, balanced: false });
  assert.ok(report.propagation!.iterations > 0 && report.propagation!.residual <= 1e-6);

  const [record] = stored(db);
  assert.equal(record!.id, report.analysisId);
  assert.equal(record!.sourceRunId, runId);
  const values = readAnalysisValues(db, report.analysisId);
  assert.deepEqual(values.map((v) => v.imageId), ids.slice(RATED));
  values.forEach((v, j) => {
    const i = RATED + j;
    assert.equal(v.value, classOf(i), `image ${i}`);
    assert.equal(v.extra!.length, 6);
    // The clusters are separate components of the 5-NN graph, so each holds only its own class: confidence 1.
    assert.ok(Math.abs(v.extra![0]! - 1) < 1e-6);
    assert.ok(Math.abs(v.extra![1 + classOf(i) - 1]! - 1) < 1e-6);
  });

  // The same recipe again replaces the stored result; another k is stored beside it.
  await pseudoLabelLibrary(db, { embedding: String(runId), k: 5, holdout: 0.5, seed: 9 });
  assert.equal(stored(db).length, 1);
  await pseudoLabelLibrary(db, { embedding: 'emb', k: 4, holdout: 0 });
  assert.equal(stored(db).length, 2);
  assert.equal(stored(db)[0]!.summary.holdout, null);
});

test('threshold mode keeps a model\'s confident predictions for unrated images, mapped onto the rating scale', async () => {
  const { db, ids } = await clusteredLibrary();
  // Ordinal 1..5 model: confident (0.97) and right on even images, unsure (0.6) on odd ones.
  const probs = new Map(ids.map((id, i) => {
    const p = [0, 0, 0, 0, 0];
    const top = i % 2 ? 0.6 : 0.97;
    p[classOf(i) - 1] = top;
    p[classOf(i) % 5] = 1 - top;
    return [id, p];
  }));
  const runId = storeScores(db, 'judge', { name: 'logits', kind: 'ordinal', labels: ['1', '2', '3', '4', '5'], values: [1, 2, 3, 4, 5] }, probs);
  const report = await pseudoLabelLibrary(db, { method: 'threshold', model: 'judge', threshold: 0.95, holdout: 0.5, seed: 4 });
  assert.equal(report.scoreRun, runId);
  assert.equal(report.candidates, N - RATED);
  assert.equal(report.pseudoLabelled, (N - RATED) / 2);
  assert.equal(report.belowThreshold, (N - RATED) / 2);
  const h = report.holdout!;
  assert.equal(h.hidden, 12);
  assert.equal(h.accuracy, 1);
  assert.ok(h.coverage! > 0 && h.coverage! < 1, `coverage ${h.coverage}`);
  const values = readAnalysisValues(db, report.analysisId);
  assert.deepEqual(values.map((v) => v.imageId), ids.slice(RATED).filter((_, j) => (RATED + j) % 2 === 0));
  for (const v of values) {
    const i = ids.indexOf(v.imageId);
    assert.equal(v.value, classOf(i));
    assert.ok(Math.abs(v.extra![0]! - 0.97) < 1e-6);
    assert.ok(Math.abs(v.extra![classOf(i)]! - 0.97) < 1e-6);
  }
  assert.deepEqual(stored(db)[0]!.params, { method: 'threshold', model: 'judge', threshold: 0.95 });

  // A model whose classes are 0..4 (the default ordinal values) does not speak the 1..5 scale.
  storeScores(db, 'zero-based', { name: 'logits', kind: 'ordinal' }, probs);
  await assert.rejects(pseudoLabelLibrary(db, { method: 'threshold', model: 'zero-based' }), /classes of zero-based \(values 0, 1, 2, 3, 4\) are not classes of the rating scale 1\.\.5\. Set outputs\.score\.values/);
});

test('bad input is refused with a clear message and nothing is stored', async () => {
  const { db, dbPath } = await clusteredLibrary();
  const cases: [Parameters<typeof pseudoLabelLibrary>[1], RegExp][] = [
    [{ embedding: 'nope' }, /No embedding run "nope"\. Known embedding runs: \d+ \(emb, 40 vectors\)/],
    [{}, /--method propagation needs --embedding RUN/],
    [{ embedding: 'emb', k: 40 }, /--k 40 needs more than 40 images with vectors, but embedding run \d+ \(emb\) has 40\. Use a smaller --k/],
    [{ embedding: 'emb', alpha: 1 }, /--alpha must lie strictly between 0 and 1 \(got 1\)/],
    [{ embedding: 'emb', alpha: 0 }, /--alpha must lie strictly between 0 and 1 \(got 0\)/],
    [{ embedding: 'emb', threshold: 0 }, /--threshold must be above 0 and at most 1 \(got 0\)/],
    [{ embedding: 'emb', threshold: 1.5 }, /--threshold must be above 0 and at most 1/],
    [{ embedding: 'emb', holdout: 1 }, /--holdout must be at least 0 and below 1/],
    [{ embedding: 'emb', gamma: -1 }, /--gamma must be a positive number/],
    [{ embedding: 'emb', method: 'magic' as 'threshold' }, /--method must be propagation or threshold \(got "magic"\)/],
    [{ method: 'threshold' }, /--method threshold needs --model NAME/],
    [{ method: 'threshold', model: 'judge', embedding: 'emb' }, /--embedding is for --method propagation/],
    [{ method: 'threshold', model: 'judge' }, /No model named "judge"/],
  ];
  for (const [options, pattern] of cases) await assert.rejects(pseudoLabelLibrary(db, options), pattern, JSON.stringify(options));
  assert.equal(stored(db).length, 0);
  assert.ok(dbPath);

  const oneClass = await clusteredLibrary({ ratings: () => [3] });
  await assert.rejects(pseudoLabelLibrary(oneClass.db, { embedding: 'emb' }), /The 24 rated images with vectors in embedding run \d+ all have the consensus class 3.*at least two classes/);
  assert.equal(stored(oneClass.db).length, 0);

  const unrated = await smallLibrary(6);
  const unratedIds = unrated.db.prepare<[], number>('SELECT id FROM images').pluck().all();
  storeEmbeddings(unrated.db, 'emb', clusteredVectors(unratedIds, (i) => i % 2));
  await assert.rejects(pseudoLabelLibrary(unrated.db, { embedding: 'emb' }), /no ratings\. Import them first: `miru ratings import/);

  // Ratings exist, but only for images the embedding run does not cover.
  const partial = await smallLibrary(6);
  const partialIds = partial.db.prepare<[], number>('SELECT id FROM images ORDER BY id').pluck().all();
  writeFileSync(path.join(partial.dir, 'r.csv'), 'image,rater,score\nimg0.png,a,1\nimg1.png,a,5\n');
  await importRatings(partial.db, path.join(partial.dir, 'r.csv'));
  storeEmbeddings(partial.db, 'emb', clusteredVectors(partialIds.slice(2), (i) => i % 2));
  await assert.rejects(pseudoLabelLibrary(partial.db, { embedding: 'emb', k: 2 }), /None of the 2 rated images has a vector in embedding run \d+ \(emb\)\. Embed them first: `miru embed --db D --model emb`/);
  assert.equal(stored(partial.db).length, 0);
});
