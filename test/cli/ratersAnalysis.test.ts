import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { runMiru, runMiruJson } from '../helpers/runMiru.js';
import { synthCliLibrary } from '../helpers/synthLibrary.js';
import { smallLibrary } from '../helpers/library.js';
import { openLibrary } from '../../core/library/openLibrary.js';
import { listAnalyses, readAnalysisValues } from '../../core/analysis/analysisStore.js';
import { krippendorffAlpha } from '../../core/analysis/krippendorffAlpha.js';
import type { RaterAnalysisResult } from '../../core/analysis/raterAnalysis.js';
import type { SynthTruth } from '../../core/synth/truthFile.js';

/**
 * One synthetic library, made as a user would: 400 images rated by 60 simulated raters of three preference groups
 * (and ~4 spammers), indexed at 64 px, plus the bundled ordinal model scored on it for the CROWDLAB test.
 * 400 x 60 gives every pair of raters ~25 shared images: enough for the clusters to come out (see
 * raterClusters.test.ts for the sizes where they do not).
 */
const setup = (async () => {
  const { dir, synth, db, truth } = await synthCliLibrary({ images: 400, raters: 60, seed: 5, size: 64, models: [{ name: 'miru-convnext-s', score: true }] });
  return { dir, synth, db, truth, truthJson: JSON.parse(readFileSync(truth, 'utf8')) as SynthTruth };
})();

test('raters --json on synth data: alpha, per-rater rows, clusters that recover the preference groups, spammers, kappa, dendrogram', async () => {
  const { db, synth, truth, truthJson } = await setup;
  const run = await runMiruJson<RaterAnalysisResult>(['raters', '--db', db, '--truth', truth]);
  assert.equal(run.code, 0, run.stderr);
  const r = run.json;

  // Alpha equals the one computed straight from ratings.csv (so the library round trip lost nothing).
  const csv = readFileSync(path.join(synth, 'ratings.csv'), 'utf8').trim().split('\n').slice(1).map((line) => line.split(','));
  const header = readFileSync(path.join(synth, 'ratings.csv'), 'utf8').split('\n')[0]!.split(',');
  const [imageCol, scoreCol] = [header.indexOf('image'), header.indexOf('score')];
  const files = [...new Set(csv.map((row) => row[imageCol]!))];
  const direct = krippendorffAlpha(csv.map((row) => files.indexOf(row[imageCol]!)), csv.map((row) => Number(row[scoreCol])));
  for (const metric of ['nominal', 'ordinal', 'interval', 'ratio'] as const) {
    assert.ok(Math.abs(r.alpha[metric]! - direct[metric].alpha!) < 1e-6, `${metric}: ${r.alpha[metric]} vs ${direct[metric].alpha}`);
  }
  assert.ok(r.alpha.ordinal! > r.alpha.nominal!, 'ordinal ratings agree better by rank than by exact class');

  assert.equal(r.raters.length, 60);
  assert.equal(r.ratings, csv.length);
  for (const x of r.raters) {
    assert.deepEqual(Object.keys(x).slice(0, 7), ['rater', 'count', 'spearman', 'bias', 'quality', 'cluster', 'spammer']);
    assert.ok(x.quality !== null && x.quality >= 0 && x.quality <= 1);
  }
  const truthSpammers = truthJson.raters.filter((t) => t.spammer).map((t) => t.name).sort();
  assert.deepEqual(r.spammers.raters.slice().sort(), truthSpammers);
  assert.deepEqual(r.raters.filter((x) => x.spammer).map((x) => x.cluster), truthSpammers.map(() => null));

  assert.equal(r.clusters.length, 3);
  assert.deepEqual(Object.keys(r.clusters[0]!).filter((k) => ['id', 'raters', 'size'].includes(k)), ['id', 'raters', 'size']);
  assert.ok(r.truth!.ari! >= 0.9, `ARI ${r.truth!.ari}`);
  assert.equal(r.truth!.compared, 60 - truthSpammers.length);
  assert.deepEqual(r.truth!.spammers.missed, []);

  // Kappa matrix over all raters in order, symmetric, null below --min-common; dendrogram over clustered raters.
  assert.equal(r.kappa.matrix.length, 60);
  assert.deepEqual(r.kappa.raters, r.raters.map((x) => x.rater));
  assert.equal(r.kappa.matrix[3]![7], r.kappa.matrix[7]![3]);
  assert.ok(r.kappa.matrix.flat().some((k) => k === null) || r.kappa.common.flat().every((c) => c >= 10));
  assert.equal(r.dendrogram.merges.length, r.dendrogram.raters.length - 1);
  assert.deepEqual(r.dendrogram.leafOrder.slice().sort(), r.dendrogram.raters.slice().sort());

  // The mean consensus and the stratified consensus are stored per image.
  const lib = openLibrary(db, { mustExist: true });
  try {
    const consensus = listAnalyses(lib, { kind: 'consensus' }).find((a) => a.id === r.consensus.analysisId)!;
    assert.equal(consensus.params.method, 'mean');
    assert.equal(consensus.count, 400);
    const stratified = readAnalysisValues(lib, r.stratified!.analysisId!);
    assert.equal(stratified.length, 400);
    assert.equal(stratified[0]!.extra!.length, 3, 'one consensus per cluster');
    assert.ok(stratified.every((v) => v.value !== null && v.value >= 1 && v.value <= 5));
  } finally {
    lib.close();
  }
});

test('raters prints a readable table; --save-groups stores the clusters for `attribute --rater-group`', async () => {
  const { db, truth } = await setup;
  const text = await runMiru(['raters', '--db', db, '--truth', truth, '--clusters', '3', '--save-groups']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^Krippendorff's alpha: nominal 0\.\d{3}, ordinal 0\.\d{3}, interval 0\.\d{3}, ratio 0\.\d{3}$/m);
  assert.match(text.stdout, /^rater\s+count\s+spearman\s+bias\s+quality\s+cluster\s+spammer$/m);
  assert.match(text.stdout, /^rater_\d{3}\s+\d+\s+-?\d\.\d{3}\s+-?\d\.\d{2}\s+\d\.\d{3}\s+–\s+yes$/m);
  assert.match(text.stdout, /^Clusters \(k = 3, mean silhouette 0\.\d{3}\):$/m);
  assert.match(text.stdout, /^Against the truth: adjusted Rand index (1|0\.9\d*) over \d+ raters; spammers found (\d) of \2\.$/m);
  assert.match(text.stdout, /Saved the clusters as rater groups cluster-1\.\.cluster-3/);

  const groups = await runMiruJson<{ groups: { group: string; raters: string[] }[] }>(['raters', 'groups', '--db', db]);
  assert.deepEqual(groups.json.groups.map((g) => g.group), ['cluster-1', 'cluster-2', 'cluster-3']);
  const attribute = await runMiruJson<{ target: { group: string }; linear: { coefficients: { feature: string }[] } }>(['attribute', '--db', db, '--ratings', '--rater-group', 'cluster-1', '--truth', truth, '--pd', '0']);
  assert.equal(attribute.code, 0, attribute.stderr);
  assert.equal(attribute.json.target.group, 'cluster-1');
  // Each cluster is one simulated group, so its strongest attribute is that group's top weight.
  const top = attribute.json.linear.coefficients[0]!.feature;
  assert.ok(['truth.saturation', 'truth.sharpness', 'truth.subjectSize'].includes(top), top);
});

test('raters --model: CROWDLAB weighs the model\'s class probabilities; the consensus is stored with quality and posterior', async () => {
  const { db } = await setup;
  const run = await runMiruJson<RaterAnalysisResult>(['raters', '--db', db, '--model', 'miru-convnext-s', '--consensus', 'crowdlab']);
  assert.equal(run.code, 0, run.stderr);
  const c = run.json.consensus;
  assert.equal(c.method, 'crowdlab');
  assert.equal(c.model!.name, 'miru-convnext-s');
  // The weight is the model's accuracy against the raters' majority beyond always answering the commonest class
  // (clipped at 0 as cleanlab does); the bundled model, trained on other images, may earn little here.
  assert.ok(typeof c.model!.weight === 'number' && c.model!.weight >= 0);
  assert.ok(Number.isInteger(c.model!.runId));
  assert.ok(c.meanQuality! > 0 && c.meanQuality! <= 1);
  const lib = openLibrary(db, { mustExist: true });
  try {
    const values = readAnalysisValues(lib, c.analysisId!);
    assert.equal(values.length, 400);
    for (const v of values.slice(0, 20)) {
      assert.ok([1, 2, 3, 4, 5].includes(v.value!));
      const extra = Array.from(v.extra!);
      assert.equal(extra.length, 6, 'quality, then the posterior over the 5 classes');
      assert.ok(Math.abs(extra.slice(1).reduce((s, p) => s + p, 0) - 1) < 1e-5);
      assert.ok(Math.abs(extra[0]! - extra[v.value!]!) < 1e-6, 'quality is the posterior of the consensus class');
    }
    assert.equal(listAnalyses(lib, { kind: 'consensus' }).find((a) => a.id === c.analysisId)!.sourceRunId, c.model!.runId);
  } finally {
    lib.close();
  }
});

test('raters refuses bad input with a message a person can act on', async () => {
  const { db, dir } = await setup;
  const empty = await smallLibrary(2);
  empty.db.close();
  const cases: [string[], number, RegExp][] = [
    [['--db', empty.dbPath], 1, /This library has no ratings\. Import them first: `miru ratings import ratings\.csv --db D`/],
    [['--db', db, '--model', 'nope'], 1, /No model named "nope" in this library \(models: miru-convnext-s\)/],
    [['--db', db, '--model', 'miru-convnext-s', '--consensus', 'mean'], 1, /use it with --consensus crowdlab/],
    [['--db', db, '--clusters', '0'], 2, /--clusters must be a positive whole number or "auto"/],
    [['--db', db, '--clusters', '99'], 1, /--clusters 99 is more than the \d+ raters that can be clustered/],
    [['--db', db, '--consensus', 'mode'], 2, /--consensus must be one of mean, median, crowdlab/],
    [['--db', db, '--min-common', '1'], 1, /--min-common must be a whole number of at least 2/],
    [['--db', db, '--truth', path.join(dir, 'nope.json')], 1, /--truth .*nope\.json: no such file or folder/],
    [['--db', path.join(dir, 'missing.db')], 1, /missing\.db/],
  ];
  const runs = await Promise.all(cases.map(([args]) => runMiru(['raters', ...args])));
  cases.forEach(([args, code, pattern], k) => {
    assert.equal(runs[k]!.code, code, `${args.join(' ')}: exit ${runs[k]!.code}, ${runs[k]!.stderr}`);
    assert.match(runs[k]!.stderr, pattern, args.join(' '));
  });
});
