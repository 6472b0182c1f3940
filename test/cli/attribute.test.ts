import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { miruOk, runMiru, runMiruJson } from '../helpers/runMiru.js';
import { synthCliLibrary } from '../helpers/synthLibrary.js';
import { smallLibrary } from '../helpers/library.js';
import { meanScoreCard, meanScoreModel } from '../helpers/tinyModels.js';
import type { AttributionResult } from '../../core/analysis/featureAttribution.js';

/**
 * One synthetic library for every test in this file, made the way a user would: `miru synth`, `index`,
 * `ratings import`, `models add` + `score` with a tiny model whose score is each image's mean RGB value, and a
 * second model that was added but never scored.
 */
const setup = (async () => {
  const { dir, synth, db, truth } = await synthCliLibrary({ images: 120, raters: 24, seed: 3, size: 96 });
  const model = path.join(dir, 'mean.onnx');
  writeFileSync(model, meanScoreModel({ size: 16 }));
  const card = path.join(dir, 'card.json');
  writeFileSync(card, JSON.stringify(meanScoreCard('mean', 16)));
  await miruOk(['models', 'add', model, '--db', db, '--card', card]);
  await miruOk(['models', 'add', model, '--db', db, '--card', card, '--name', 'idle']);
  await miruOk(['score', '--db', db, '--model', 'mean', '--ep', 'cpu']);
  return { dir, synth, db, truth };
})();

test('raters groups: set from a synth truth.json, list, refuse a file naming an unknown rater', async () => {
  const { dir, db, truth } = await setup;
  const set = await runMiruJson<{ set: { set: number }; groups: { group: string; raters: string[] }[]; ungrouped: string[] }>(['raters', 'groups', '--db', db, '--set', truth]);
  assert.equal(set.code, 0, set.stderr);
  assert.deepEqual(set.json.groups.map((g) => g.group), ['clean', 'composition', 'vivid']);
  assert.ok(set.json.set.set >= 20 && set.json.ungrouped.length >= 1, 'spammers stay ungrouped');

  const listed = await runMiru(['raters', 'groups', '--db', db, '--list']);
  assert.equal(listed.code, 0);
  assert.match(listed.stdout, /^vivid \(\d+\): rater_\d+/m);

  const bad = path.join(dir, 'groups.csv');
  writeFileSync(bad, 'rater,group\nrater_001,warm\nnobody,cold\nrater_002,warm\n');
  const refused = await runMiru(['raters', 'groups', '--db', db, '--set', bad]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /line 3: unknown rater "nobody"/);
  assert.match(refused.stderr, /Nothing was changed/);

  // The refused file changed nothing: no "cold"; the next file's "warm" sits beside the truth's groups.
  const json = path.join(dir, 'groups.json');
  writeFileSync(json, JSON.stringify({ rater_001: 'warm', rater_002: 'warm' }));
  const fromJson = await runMiruJson<{ groups: { group: string; raters: string[] }[] }>(['raters', 'groups', '--db', db, '--set', json]);
  assert.deepEqual(fromJson.json.groups.map((g) => g.group), ['clean', 'composition', 'vivid', 'warm']);
  assert.deepEqual(fromJson.json.groups.find((g) => g.group === 'warm')?.raters, ['rater_001', 'rater_002']);
  // Back to the truth's groups for the other tests.
  assert.equal((await runMiru(['raters', 'groups', '--db', db, '--clear', '--set', truth])).code, 0);
});

test('attribute --ratings --rater-group with --truth finds the group\'s strongest attribute, as JSON and as a table', async () => {
  const { db, truth } = await setup;
  assert.equal((await runMiru(['raters', 'groups', '--db', db, '--set', truth])).code, 0);
  const run = await runMiruJson<AttributionResult>(['attribute', '--db', db, '--ratings', '--rater-group', 'vivid', '--truth', truth]);
  assert.equal(run.code, 0, run.stderr);
  const r = run.json;
  assert.equal(r.target.group, 'vivid');
  assert.equal(r.features.length, 10);
  assert.equal(r.linear.coefficients[0]!.feature, 'truth.saturation');
  assert.equal(r.nonlinear!.importance[0]!.feature, 'truth.saturation');
  assert.equal(r.partialDependence.length, 3);
  assert.ok(r.partialDependence[0]!.points.length >= 10 && r.partialDependence[0]!.points.length <= 20);

  const text = await runMiru(['attribute', '--db', db, '--rater-group', 'vivid', '--truth', truth, '--features', 'truth.saturation,truth.contrast', '--features', 'brightness']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /Linear model \(standardized OLS/);
  assert.match(text.stdout, /^\s+truth\.saturation\s+\+0\.\d+\s+\[\+0\.\d+, \+0\.\d+\]/m);
  assert.match(text.stdout, /Permutation importance/);
  assert.match(text.stdout, /Partial dependence/);
});

test('attribute --model on image statistics: a mean-RGB model is explained by brightness; constant features are dropped and said so', async () => {
  const { db } = await setup;
  const run = await runMiruJson<AttributionResult>(['attribute', '--db', db, '--model', 'mean']);
  assert.equal(run.code, 0, run.stderr);
  const r = run.json;
  assert.equal(r.target.model, 'mean');
  assert.equal(r.n, 120);
  assert.equal(r.linear.coefficients[0]!.feature, 'brightness');
  assert.ok(r.linear.coefficients[0]!.beta > 0.5 && r.linear.r2 > 0.8, `beta ${r.linear.coefficients[0]!.beta}, R^2 ${r.linear.r2}`);
  assert.equal(r.nonlinear!.importance[0]!.feature, 'brightness');
  assert.deepEqual(r.dropped.map((d) => d.feature).sort(), ['alphaFraction', 'isGrayscale']);
  assert.match(r.dropped[0]!.reason, /^constant: every one of the 120 images has 0$/);
  const text = await runMiru(['attribute', '--db', db, '--model', 'mean', '--pd', '0']);
  assert.match(text.stdout, /Note: Dropped alphaFraction: constant/);
});

test('attribute refuses bad input with exit code 1 and an error a person can act on', async () => {
  const { db } = await setup;
  // The full list of bad inputs is tested in-process (test/core/analysis/featureAttribution.test.ts); these
  // check that the CLI passes such errors on as one line and the exit code.
  const cases: [string[], RegExp][] = [
    [['--model', 'nope'], /^miru: No model named "nope" in this library \(models: idle, mean\)/],
    [['--model', 'idle'], /Model "idle" has no score run yet\. Score the library first: `miru score --db D --model idle`/],
    [['--ratings', '--features', 'brightness,sparkle'], /Unknown feature "sparkle"\. Features: id, bytes, width, height, .*edgeDensity/],
    [['--ratings', '--filter', 'id<=5'], /Only 5 images have the target and every feature; 9 features need at least 11/],
    [['--model', 'mean', '--ratings'], /either a model .* or ratings/],
    [[], /Say what to explain/],
  ];
  const runs = await Promise.all(cases.map(([args]) => runMiru(['attribute', '--db', db, ...args])));
  cases.forEach(([args, pattern], k) => {
    assert.equal(runs[k]!.code, 1, `${args.join(' ')}: exit ${runs[k]!.code}, ${runs[k]!.stderr}`);
    assert.match(runs[k]!.stderr, pattern, args.join(' '));
  });
  const empty = await smallLibrary(3);
  empty.db.close();
  const [noRatings, noGroups] = await Promise.all([runMiru(['attribute', '--db', empty.dbPath, '--ratings']), runMiru(['raters', 'groups', '--db', empty.dbPath])]);
  assert.equal(noRatings.code, 1);
  assert.match(noRatings.stderr, /This library has no ratings\. Import them with `miru ratings import FILE --db D`/);
  assert.match(noGroups.stdout, /No rater groups/);
});
