import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { copyFileSync, writeFileSync } from 'node:fs';
import { runMiru, runMiruJson } from '../helpers/runMiru.js';
import { synthCliLibrary } from '../helpers/synthLibrary.js';
import { openLibrary } from '../../core/library/openLibrary.js';
import { listAnalyses, readAnalysisValues, saveAnalysis } from '../../core/analysis/analysisStore.js';
import type { ProbeLabelsResult } from '../../core/analysis/probeLabels.js';

/**
 * A synthetic library with two backbones, made the way a user would: `miru synth`, `index`, `ratings import`,
 * the two bundled tiny models added and `miru embed`ded. Runs 1 and 2 are miru-convnext-s and miru-vit-s.
 */
const setup = synthCliLibrary({
  images: 120,
  raters: 16,
  seed: 5,
  size: 96,
  models: [{ name: 'miru-convnext-s', embed: true }, { name: 'miru-vit-s', embed: true }],
});

function probeCount(db: string): number {
  const lib = openLibrary(db, { mustExist: true });
  try {
    return listAnalyses(lib, { kind: 'probe' }).length;
  } finally {
    lib.close();
  }
}

test('probe-labels compares two backbones on the same folds, with intervals, a learning curve and stored out-of-fold predictions', async () => {
  const { db } = await setup;
  const run = await runMiruJson<ProbeLabelsResult>(['probe-labels', '--db', db, '--embeddings', 'miru-convnext-s,2', '--heads', 'ridge,ordinal', '--learning-curve', '20,40', '--disagreements', '5']);
  assert.equal(run.code, 0, run.stderr);
  const r = run.json;
  assert.equal(r.target.key, 'consensus');
  assert.deepEqual(r.target.classes, [1, 2, 3, 4, 5]);
  assert.equal(r.folds, 5);
  assert.equal(r.images, 120);
  assert.deepEqual(r.backbones.map((b) => [b.run, b.model]), [[1, 'miru-convnext-s'], [2, 'miru-vit-s']]);
  for (const b of r.backbones) {
    assert.deepEqual(b.heads.map((h) => h.head), ['ridge', 'ordinal']);
    for (const h of b.heads) {
      for (const name of ['spearman', 'pearson', 'qwk', 'accuracy', 'mae', 'emd'] as const) {
        const m = h.metrics[name];
        assert.equal(m.folds, 5, `${b.model} ${h.head} ${name}`);
        assert.ok(m.lo! <= m.mean! && m.mean! <= m.hi!, `${name}: ${m.lo} <= ${m.mean} <= ${m.hi}`);
      }
      // The synthetic aesthetic is a function of image content the tiny backbones see: the probes must find it.
      assert.ok(h.metrics.spearman.mean! > 0.3, `${b.model} ${h.head} Spearman ${h.metrics.spearman.mean}`);
      assert.ok(h.metrics.mae.mean! < 1, `${b.model} ${h.head} MAE ${h.metrics.mae.mean}`);
      assert.equal(h.perFold.length, 5);
    }
    assert.equal(b.heads[0]!.alphas!.length, 5, 'ridge reports the alpha it chose in each fold');
  }
  assert.deepEqual(r.learningCurve.map((p) => `${p.run}/${p.head}/${p.labels}`), ['1/ridge/20', '1/ridge/40', '1/ordinal/20', '1/ordinal/40', '2/ridge/20', '2/ridge/40', '2/ordinal/20', '2/ordinal/40']);

  // Disagreements: largest spread of the first head's predictions first, each with both runs' predictions.
  assert.equal(r.disagreements.length, 5);
  for (let i = 1; i < 5; i++) assert.ok(r.disagreements[i - 1]!.spread >= r.disagreements[i]!.spread);
  const top = r.disagreements[0]!;
  assert.match(top.path, /img_\d+\.(png|jpg)$/);
  assert.ok(Math.abs(top.spread - Math.abs(top.predictions['1']! - top.predictions['2']!)) < 1e-9);

  // Stored: one probe analysis per backbone and head, holding every image's out-of-fold prediction and
  // class distribution; the disputed image's stored ridge predictions are the ones printed.
  const lib = openLibrary(db, { mustExist: true });
  try {
    for (const b of r.backbones) {
      for (const h of b.heads) {
        const values = readAnalysisValues(lib, h.analysisId!);
        assert.equal(values.length, 120);
        assert.equal(values[0]!.extra!.length, 5);
        const sum = values[0]!.extra!.reduce((s, v) => s + v, 0);
        assert.ok(Math.abs(sum - 1) < 1e-5, `distribution sums to ${sum}`);
      }
      const ridge = readAnalysisValues(lib, b.heads[0]!.analysisId!);
      assert.ok(Math.abs(ridge.find((v) => v.imageId === top.id)!.value! - top.predictions[String(b.run)]!) < 1e-9);
    }
  } finally {
    lib.close();
  }

  // Same recipe again: the stored results are replaced, not duplicated; the results are reproducible.
  const again = await runMiruJson<ProbeLabelsResult>(['probe-labels', '--db', db, '--embeddings', '1,2', '--heads', 'ridge,ordinal']);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(again.json.backbones[1]!.heads[1]!.metrics, r.backbones[1]!.heads[1]!.metrics);
  assert.equal(probeCount(db), 4);

  const text = await runMiru(['probe-labels', '--db', db, '--embeddings', '1', '--heads', 'knn,logistic', '--folds', '3']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /Probing mean rating of all 16 raters \(classes 1,2,3,4,5\) on 120 images, 3-fold/);
  assert.match(text.stdout, /1 miru-convnext-s \(192\)\s+knn\s+-?\d\.\d{3} \[/);
  assert.match(text.stdout, /Note: Name two or more embedding runs/);
});

test('probe-labels targets one rater or one rater group', async () => {
  const { db, truth } = await setup;
  assert.equal((await runMiru(['raters', 'groups', '--db', db, '--set', truth])).code, 0);
  const rater = await runMiruJson<ProbeLabelsResult>(['probe-labels', '--db', db, '--embeddings', '2', '--target', 'rater:rater_003', '--heads', 'ridge', '--folds', '3']);
  assert.equal(rater.code, 0, rater.stderr);
  assert.equal(rater.json.target.label, 'ratings of rater rater_003');
  const lib = openLibrary(db, { mustExist: true });
  const rated = lib.prepare("SELECT count(*) FROM ratings WHERE rater_id = (SELECT id FROM raters WHERE name = 'rater_003')").pluck().get() as number;
  lib.close();
  assert.equal(rater.json.images, rated);

  const cluster = await runMiruJson<ProbeLabelsResult>(['probe-labels', '--db', db, '--embeddings', '2', '--target', 'cluster:vivid', '--heads', 'ridge']);
  assert.equal(cluster.code, 0, cluster.stderr);
  assert.match(cluster.json.target.label, /^mean rating of rater group vivid \(\d+ raters\)$/);
  assert.equal(cluster.json.target.key, 'cluster:vivid');
});

test('the cleaning experiment trains with and without tagged images and scores all, clean and excluded test images on the same folds', async () => {
  const { db } = await setup;
  const lib = openLibrary(db, { mustExist: true });
  const ids = lib.prepare('SELECT id FROM images ORDER BY id').pluck().all() as number[];
  lib.close();
  const tagged = ids.filter((_, i) => i % 6 === 0);
  assert.equal((await runMiru(['tag', 'add', 'outlier', ...tagged.map(String), '--db', db])).code, 0);
  const run = await runMiruJson<ProbeLabelsResult>(['probe-labels', '--db', db, '--embeddings', '1,2', '--heads', 'ridge,knn', '--exclude-tag', 'outlier']);
  assert.equal(run.code, 0, run.stderr);
  const c = run.json.cleaning!;
  assert.equal(c.excluded, tagged.length);
  assert.equal(c.clean, 120 - tagged.length);
  assert.deepEqual(c.sources, [{ source: 'tag outlier', images: tagged.length }]);
  assert.deepEqual(c.results.map((x) => `${x.run}/${x.head}`), ['1/ridge', '1/knn', '2/ridge', '2/knn']);
  for (const x of c.results) {
    // Trained on all images and scored on all test images: exactly the main comparison.
    const main = run.json.backbones.find((b) => b.run === x.run)!.heads.find((h) => h.head === x.head)!;
    assert.deepEqual(x.trainedOnAll.allTest, main.metrics);
    // Without the excluded images in training, the predictions change.
    assert.notDeepEqual(x.trainedOnClean.allTest.mae, x.trainedOnAll.allTest.mae);
    for (const which of ['trainedOnAll', 'trainedOnClean'] as const) {
      for (const set of ['allTest', 'cleanTest', 'excludedTest'] as const) assert.ok(x[which][set].spearman.mean !== null, `${which} ${set}`);
    }
  }
  // Stored flags exclude the same way: label issues by the isIssue column their summary names (their value is a
  // quality score), plain 0/1 values directly, other scores only through --exclude-top.
  const store = openLibrary(db, { mustExist: true });
  const flags = saveAnalysis(store, {
    kind: 'label-issues',
    sourceRunId: null,
    params: { test: 'flags' },
    summary: { extra: ['given', 'isIssue'] },
    values: ids.map((imageId, i) => ({ imageId, value: 0.5 + i / 1000, extra: Float32Array.of(3, i % 10 === 0 ? 1 : 0) })),
  });
  const plain = saveAnalysis(store, { kind: 'consensus', sourceRunId: null, params: { test: 'plain' }, summary: {}, values: ids.map((imageId, i) => ({ imageId, value: i < 3 ? 1 : 0 })) });
  const scores = saveAnalysis(store, { kind: 'outliers', sourceRunId: null, params: { test: 'scores' }, summary: {}, values: ids.map((imageId, i) => ({ imageId, value: i / 7 })) });
  store.close();
  const flagged = await runMiruJson<ProbeLabelsResult>(['probe-labels', '--db', db, '--embeddings', '1', '--heads', 'ridge', '--exclude-analysis', String(flags), '--exclude-tag', 'outlier']);
  assert.equal(flagged.code, 0, flagged.stderr);
  assert.deepEqual(flagged.json.cleaning!.sources, [{ source: 'tag outlier', images: 20 }, { source: `analysis ${flags} (label-issues, flagged)`, images: 12 }]);
  // Images 0, 30, 60, 90 are both tagged and flagged: counted once.
  assert.equal(flagged.json.cleaning!.excluded, 28);
  const byValue = await runMiruJson<ProbeLabelsResult>(['probe-labels', '--db', db, '--embeddings', '1', '--heads', 'ridge', '--exclude-analysis', String(plain)]);
  assert.deepEqual(byValue.json.cleaning!.sources, [{ source: `analysis ${plain} (consensus, flags)`, images: 3 }]);
  const refused = await runMiru(['probe-labels', '--db', db, '--embeddings', '1', '--exclude-analysis', String(scores)]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, new RegExp(`Analysis ${scores} \\(outliers\\) holds scores, not 0/1 flags\\. Add --exclude-top FRACTION`));
  const top = await runMiruJson<ProbeLabelsResult>(['probe-labels', '--db', db, '--embeddings', '1', '--heads', 'ridge', '--exclude-analysis', String(scores), '--exclude-top', '0.1']);
  assert.equal(top.code, 0, top.stderr);
  assert.deepEqual(top.json.cleaning!.sources, [{ source: `analysis ${scores} (outliers, top 0.1)`, images: 12 }]);

  const text = await runMiru(['probe-labels', '--db', db, '--embeddings', '2', '--heads', 'ridge', '--exclude-tag', 'outlier']);
  assert.match(text.stdout, /Cleaning: 20 of 120 labelled images excluded \(tag outlier: 20\)/);
  assert.match(text.stdout, /2 miru-vit-s\s+ridge\s+clean\s+/);
});

test('probe-labels refuses bad input with a clear message and stores nothing', async () => {
  const { dir, db } = await setup;
  const before = probeCount(db);
  const fails = async (args: string[], pattern: RegExp) => {
    const run = await runMiru(['probe-labels', '--db', db, ...args]);
    assert.notEqual(run.code, 0, `expected miru probe-labels ${args.join(' ')} to fail`);
    assert.match(run.stderr, pattern);
  };
  await fails(['--embeddings', '1', '--target', 'rater:nobody'], /Unknown rater "nobody"\. Raters: rater_001, rater_002/);
  await fails(['--embeddings', '1', '--target', 'cluster:nope'], /Unknown rater group "nope"\. Groups: clean, composition, vivid/);
  await fails(['--embeddings', '1', '--target', 'everyone'], /--target "everyone" is not one of consensus, rater:NAME, cluster:GROUP/);
  await fails(['--embeddings', '1', '--folds', '500'], /500-fold cross-validation needs at least 500 labelled images; there are 120/);
  await fails(['--embeddings', '1,miru-convnext-s'], /names run 1 \(miru-convnext-s\) twice/);
  await fails(['--embeddings', 'clip'], /No embedding run "clip"\. Known embedding runs: .*1 \(miru-convnext-s, 120 vectors\)/);
  await fails(['--embeddings', '1', '--heads', 'svm'], /unknown head "svm"; heads are ridge, logistic, ordinal, knn/);
  await fails(['--embeddings', '1', '--exclude-tag', 'blurry'], /No image is tagged "blurry"\. Tags in this library: outlier \(20\)/);
  await fails(['--embeddings', '1', '--exclude-analysis', '9999'], /No stored analysis 9999\. Stored analyses: /);
  await fails(['--embeddings', '1', '--learning-curve', '5'], /at least 10 \(got 5\)/);

  // A rater who gives every image the same rating has nothing to predict.
  const flat = path.join(dir, 'flat.csv');
  const names = (() => {
    const lib = openLibrary(db, { mustExist: true });
    try {
      return lib.prepare('SELECT rel_path FROM images ORDER BY id LIMIT 12').pluck().all() as string[];
    } finally {
      lib.close();
    }
  })();
  writeFileSync(flat, `image,rater,score\n${names.map((name) => `${path.basename(name)},flat,3`).join('\n')}\n`);
  const imported = await runMiru(['ratings', 'import', flat, '--db', db]);
  assert.equal(imported.code, 0, imported.stderr);
  await fails(['--embeddings', '1', '--target', 'rater:flat'], /is 3 for every one of the 12 images: there is nothing to predict/);

  // A NaN vector is refused by the embedding loader, naming the image (on a copy, to keep the shared library whole).
  const copy = path.join(dir, 'nan.db');
  copyFileSync(db, copy);
  const lib = openLibrary(copy, { mustExist: true });
  const victim = lib.prepare('SELECT image_id FROM embeddings WHERE run_id = 2 ORDER BY image_id LIMIT 1').pluck().get() as number;
  const dim = (lib.prepare('SELECT length(vector) / 4 FROM embeddings WHERE run_id = 2 LIMIT 1').pluck().get() as number);
  lib.prepare('UPDATE embeddings SET vector = ? WHERE run_id = 2 AND image_id = ?').run(Buffer.from(new Float32Array(dim).fill(Number.NaN).buffer), victim);
  const probesInCopy = listAnalyses(lib, { kind: 'probe' }).length;
  lib.close();
  const nan = await runMiru(['probe-labels', '--db', copy, '--embeddings', '1,2']);
  assert.equal(nan.code, 1);
  assert.match(nan.stderr, new RegExp(`the vector of image ${victim} holds NaN`));
  assert.equal(probeCount(copy), probesInCopy, 'nothing stored after the refusal');

  assert.equal(probeCount(db), before, 'no refused run stored anything');
});
