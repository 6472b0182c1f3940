import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { importRatings, parseScale } from '../../../core/library/ratingsImport.js';
import type { LibraryDb } from '../../../core/library/openLibrary.js';
import type { ScoreOutput } from '../../../core/models/modelCard.js';
import { listAnalyses, readAnalysisValues } from '../../../core/analysis/analysisStore.js';
import {
  applyTemperature,
  histogramDistribution,
  keepTopK,
  ordinalScale,
  saveSoftLabels,
  softLabelsFromModel,
  softLabelsFromRatings,
} from '../../../core/analysis/softLabels.js';
import { smallLibrary } from '../../helpers/library.js';
import { storeScores } from '../../helpers/analysisData.js';

const close = (actual: ArrayLike<number>, expected: number[], tolerance = 1e-6) => {
  assert.equal(actual.length, expected.length);
  expected.forEach((e, i) => assert.ok(Math.abs(actual[i]! - e) < tolerance, `[${i}] ${actual[i]} vs ${e}`));
};

let files = 0;
async function rate(db: LibraryDb, dir: string, lines: string[], scale?: string): Promise<void> {
  const file = path.join(dir, `ratings-${files++}.csv`);
  writeFileSync(file, ['image,rater,score', ...lines].join('\n'));
  const summary = await importRatings(db, file, scale ? { scale: parseScale(scale) } : {});
  assert.deepEqual(summary.rejected, []);
}

test('histogram distribution: shares of the ratings, with additive smoothing', () => {
  close(histogramDistribution([2, 1, 0]), [2 / 3, 1 / 3, 0]);
  close(histogramDistribution([2, 1, 0], 1), [3 / 6, 2 / 6, 1 / 6]);
  close(histogramDistribution([0, 0], 0.5), [0.5, 0.5]);
  assert.throws(() => histogramDistribution([1, 2], -1), /--smoothing must be a number of at least 0 \(got -1\)/);
  assert.throws(() => histogramDistribution([0, 0], 0), /no counts and no smoothing/);
});

test('temperature is softmax(log p / T): T = 1 keeps p, T = 2 flattens to sqrt(p), small T sharpens, zeros stay zero', () => {
  const p = [0.6, 0.3, 0.1, 0];
  close(applyTemperature(p, 1), p, 1e-12);
  const roots = p.map(Math.sqrt);
  const sum = roots.reduce((a, b) => a + b, 0);
  close(applyTemperature(p, 2), roots.map((r) => r / sum), 1e-12);
  // T = 0.01 would underflow p^(1/T) for every class in a naive p ** (1 / T) / Σ; the log domain keeps it exact.
  close(applyTemperature([1e-5, 2e-5], 0.01), [1 / (1 + 2 ** 100), 2 ** 100 / (1 + 2 ** 100)], 1e-12);
  assert.equal(applyTemperature(p, 0.5)[3], 0);
  for (const t of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) assert.throws(() => applyTemperature(p, t), /--temperature must be a positive number/);
});

test('top-k keeps the k most likely classes (ties to the lower class) and renormalises', () => {
  close(keepTopK([0.2, 0.5, 0.3], 2), [0, 0.625, 0.375]);
  close(keepTopK([0.25, 0.25, 0.5], 2), [1 / 3, 0, 2 / 3]);
  close(keepTopK([0.2, 0.5, 0.3], 3), [0.2, 0.5, 0.3]);
  assert.throws(() => keepTopK([0.5, 0.5], 0), /--top-k must be a positive whole number/);
});

test('soft labels from ratings: one histogram per rated image on the stored scale, stored and re-stored by recipe', async () => {
  const { dir, db } = await smallLibrary(4);
  await rate(db, dir, ['img0.png,a,1', 'img0.png,b,2', 'img0.png,c,2', 'img1.png,a,5', 'img3.png,a,3', 'img3.png,b,3'], '1:5');
  const ids = db.prepare<[], number>(`SELECT id FROM images ORDER BY rel_path`).pluck().all();
  const set = softLabelsFromRatings(db);
  assert.deepEqual(set.classLabels, ['1', '2', '3', '4', '5']);
  // Indexing runs concurrently, so ids need not follow file names: expect the rated images in id order.
  const expected = new Map<number, { dist: number[]; mean: number }>([
    [ids[0]!, { dist: [1 / 3, 2 / 3, 0, 0, 0], mean: 5 / 3 }],
    [ids[1]!, { dist: [0, 0, 0, 0, 1], mean: 5 }],
    [ids[3]!, { dist: [0, 0, 1, 0, 0], mean: 3 }],
  ]);
  const order = [...expected.keys()].sort((a, b) => a - b);
  assert.deepEqual(Array.from(set.imageIds), order);
  close(set.distributions, order.flatMap((i) => expected.get(i)!.dist));

  const id = saveSoftLabels(db, set);
  const stored = readAnalysisValues(db, id);
  assert.deepEqual(stored.map((v) => v.imageId), Array.from(set.imageIds));
  close(stored.map((v) => v.value!), order.map((i) => expected.get(i)!.mean));
  close(stored.find((v) => v.imageId === ids[0])!.extra!, [1 / 3, 2 / 3, 0, 0, 0]);

  const smoothed = softLabelsFromRatings(db, { smoothing: 1 });
  const first = order.indexOf(ids[0]!);
  close(smoothed.distributions.subarray(5 * first, 5 * first + 5), [2 / 8, 3 / 8, 1 / 8, 1 / 8, 1 / 8]);
  saveSoftLabels(db, smoothed);
  saveSoftLabels(db, softLabelsFromRatings(db));
  // The same recipe replaces its earlier result; another smoothing is another recipe.
  assert.deepEqual(listAnalyses(db, { kind: 'soft-labels' }).map((a) => a.params.smoothing).sort(), [0, 1]);
});

test('the scale comes from the ratings when none is stored; ratings that are not whole classes are refused by name', async () => {
  const { dir, db } = await smallLibrary(3);
  await rate(db, dir, ['img0.png,ann,2', 'img1.png,ann,4']);
  assert.deepEqual(ordinalScale(db), { min: 2, max: 4, classes: [2, 3, 4], source: 'observed' });
  assert.deepEqual(softLabelsFromRatings(db).classLabels, ['2', '3', '4']);
  await rate(db, dir, ['img2.png,bob,3.5']);
  assert.throws(() => softLabelsFromRatings(db), /rater "bob" gave img2\.png the value 3\.5, which is not one of them/);
  assert.equal(listAnalyses(db, { kind: 'soft-labels' }).length, 0, 'nothing stored');
});

test('soft labels from ratings refuse a library without ratings and a bad smoothing', async () => {
  const { db } = await smallLibrary(2);
  assert.throws(() => softLabelsFromRatings(db), /no ratings\. Import them first: `miru ratings import/);
  assert.throws(() => softLabelsFromRatings(db, { smoothing: -0.5 }), /--smoothing must be a number of at least 0/);
});

test('soft labels from a model: its stored class probabilities after temperature and top-k, with the card\'s labels and values', async () => {
  const { db } = await smallLibrary(3);
  const ids = db.prepare<[], number>(`SELECT id FROM images ORDER BY id`).pluck().all();
  const score: ScoreOutput = { name: 'logits', kind: 'ordinal', labels: ['bad', 'ok', 'good'], values: [1, 2, 3] };
  storeScores(db, 'judge', score, new Map([
    [ids[0]!, [0.7, 0.2, 0.1]],
    // Not normalised (e.g. activation none on probabilities): renormalised on read.
    [ids[1]!, [1, 1, 2]],
  ]));
  const plain = softLabelsFromModel(db, 'judge');
  assert.deepEqual(plain.classLabels, ['bad', 'ok', 'good']);
  assert.deepEqual(plain.classValues, [1, 2, 3]);
  assert.deepEqual(Array.from(plain.imageIds), [ids[0], ids[1]]);
  close(plain.distributions, [0.7, 0.2, 0.1, 0.25, 0.25, 0.5]);
  const sharp = softLabelsFromModel(db, 'judge', { temperature: 0.5, topK: 2 });
  // T = 0.5 squares: 0.49, 0.04, 0.01; top-2 keeps 0.49 and 0.04.
  close(sharp.distributions.subarray(0, 3), [0.49 / 0.53, 0.04 / 0.53, 0]);
  const id = saveSoftLabels(db, sharp);
  const stored = readAnalysisValues(db, id);
  close([stored[0]!.value!], [(1 * 0.49 + 2 * 0.04) / 0.53]);
  const record = listAnalyses(db, { kind: 'soft-labels' })[0]!;
  assert.deepEqual(record.params, { source: 'model', model: 'judge', temperature: 0.5, topK: 2 });
  assert.ok(record.sourceRunId !== null);

  assert.throws(() => softLabelsFromModel(db, 'judge', { topK: 4 }), /--top-k must be a whole number from 1 to 3, the classes of judge/);
  assert.throws(() => softLabelsFromModel(db, 'nobody'), /No model named "nobody"/);
  storeScores(db, 'scalar', { name: 'score', kind: 'scalar' }, new Map());
  assert.throws(() => softLabelsFromModel(db, 'scalar'), /"scalar" has no class probabilities \(its card's score output is of kind scalar\)/);
  storeScores(db, 'broken', score, new Map([[ids[2]!, [0.5, Number.NaN, 0.5]]]));
  assert.throws(() => softLabelsFromModel(db, 'broken'), /img2\.png has the class probability NaN/);
});
