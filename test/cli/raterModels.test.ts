import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { runMiru, runMiruJson } from '../helpers/runMiru.js';
import { synthCliLibrary } from '../helpers/synthLibrary.js';
import { openLibrary } from '../../core/library/openLibrary.js';
import { getAnalysis, listAnalyses, readAnalysisValues } from '../../core/analysis/analysisStore.js';
import type { RaterModelsResult } from '../../core/analysis/raterModels.js';

/** `miru synth` (with spammers among the raters), index, ratings, one embedded backbone. */
const setup = synthCliLibrary({ images: 150, raters: 16, seed: 7, size: 96, models: [{ name: 'miru-vit-s', embed: true }] });

function ratingCounts(db: string): Map<string, number> {
  const lib = openLibrary(db, { mustExist: true });
  try {
    const rows = lib.prepare('SELECT r.name, count(*) AS n FROM ratings x JOIN raters r ON r.id = x.rater_id GROUP BY r.id').all() as { name: string; n: number }[];
    return new Map(rows.map((r) => [r.name, r.n]));
  } finally {
    lib.close();
  }
}

test('rater-models: a model per rater with enough ratings, cross-validated, predicting the whole library, stored with the disagreement', async () => {
  const { db, truth } = await setup;
  const run = await runMiruJson<RaterModelsResult>(['rater-models', '--db', db, '--embedding', 'miru-vit-s', '--min-ratings', '25', '--disagreements', '10']);
  assert.equal(run.code, 0, run.stderr);
  const r = run.json;
  const counts = ratingCounts(db);
  const eligible = [...counts].filter(([, n]) => n >= 25).map(([name]) => name).sort();
  assert.deepEqual(r.models.map((m) => m.name), eligible);
  assert.deepEqual(r.skipped.map((s) => s.name).sort(), [...counts.keys()].filter((n) => !eligible.includes(n)).sort());
  for (const s of r.skipped) assert.match(s.reason, /fewer than --min-ratings 25/);
  for (const m of r.models) {
    assert.equal(m.ratings, counts.get(m.name));
    assert.equal(m.spearman.folds, 5);
  }
  assert.equal(r.images, 150);

  // Spammers rate at random: their models cannot predict their held-out ratings, the others' can.
  const spammers = new Set((JSON.parse(readFileSync(truth, 'utf8')) as { raters: { name: string; spammer: boolean }[] }).raters.filter((x) => x.spammer).map((x) => x.name));
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const honest = mean(r.models.filter((m) => !spammers.has(m.name)).map((m) => m.spearman.mean!));
  assert.ok(honest > 0.3, `honest raters' models: Spearman ${honest}`);
  const spam = r.models.filter((m) => spammers.has(m.name));
  assert.ok(spam.length >= 1, 'the synth dataset has a spammer with enough ratings');
  assert.ok(mean(spam.map((m) => m.spearman.mean!)) < honest - 0.2, 'spammers are less predictable');

  // Stored: value = sd of the per-model predictions kept in extra, in the order of the models.
  const lib = openLibrary(db, { mustExist: true });
  try {
    const analysis = getAnalysis(lib, r.analysisId!)!;
    assert.equal(analysis.kind, 'rater-models');
    assert.deepEqual((analysis.summary.models as { name: string }[]).map((m) => m.name), eligible);
    const values = readAnalysisValues(lib, r.analysisId!);
    assert.equal(values.length, 150);
    for (const v of values.slice(0, 20)) {
      const p = Array.from(v.extra!);
      assert.equal(p.length, eligible.length);
      const m = mean(p);
      const sd = Math.sqrt(mean(p.map((x) => (x - m) ** 2)));
      assert.ok(Math.abs(sd - v.value!) < 1e-5, `stored disagreement ${v.value} vs sd of stored predictions ${sd}`);
    }
    // The listed images are the most disputed ones, in order, with each model's prediction.
    const sorted = values.map((v) => v.value!).sort((a, b) => b - a);
    assert.deepEqual(r.disagreements.map((d) => Math.round(d.disagreement * 1e6)), sorted.slice(0, 10).map((v) => Math.round(v * 1e6)));
    assert.deepEqual(Object.keys(r.disagreements[0]!.predictions), eligible);
  } finally {
    lib.close();
  }

  const text = await runMiru(['rater-models', '--db', db, '--embedding', '1', '--min-ratings', '25', '--head', 'ordinal']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`^${eligible.length} rater models \\(ordinal head on embedding run 1, miru-vit-s, 128 values\\)`));
  assert.match(text.stdout, /Stored as rater-models analysis \d+/);
});

test('rater-models --by cluster fits one model per rater group', async () => {
  const { db, truth } = await setup;
  const before = (() => {
    const lib = openLibrary(db, { mustExist: true });
    const n = listAnalyses(lib, { kind: 'rater-models' }).length;
    lib.close();
    return n;
  })();
  const none = await runMiru(['rater-models', '--db', db, '--embedding', '1', '--by', 'cluster']);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no rater groups\. Cluster the raters with `miru raters --save-groups`/);

  assert.equal((await runMiru(['raters', 'groups', '--db', db, '--set', truth])).code, 0);
  const run = await runMiruJson<RaterModelsResult>(['rater-models', '--db', db, '--embedding', '1', '--by', 'cluster']);
  assert.equal(run.code, 0, run.stderr);
  assert.deepEqual(run.json.models.map((m) => m.name), ['clean', 'composition', 'vivid']);
  for (const m of run.json.models) assert.ok(m.raters > 1 && m.spearman.mean! > 0.2, `${m.name}: ${m.raters} raters, Spearman ${m.spearman.mean}`);
  const lib = openLibrary(db, { mustExist: true });
  assert.equal(listAnalyses(lib, { kind: 'rater-models' }).length, before + 1);
  lib.close();
});

test('rater-models refuses bad input with a clear message', async () => {
  const { db } = await setup;
  const fails = async (args: string[], pattern: RegExp) => {
    const run = await runMiru(['rater-models', '--db', db, '--embedding', '1', ...args]);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, pattern);
  };
  await fails(['--min-ratings', '1000'], /Only 0 raters have at least 1000 ratings on images embedded by run 1; comparing models needs two\. The next one, rater_\d+, has \d+: lower --min-ratings/);
  await fails(['--min-ratings', '5'], /--min-ratings must be a whole number of at least 10 for 5-fold cross-validation/);
  await fails(['--head', 'knn'], /--head must be one of ridge, ordinal/);
  const unknown = await runMiru(['rater-models', '--db', db, '--embedding', 'clip']);
  assert.match(unknown.stderr, /No embedding run "clip"/);
});
