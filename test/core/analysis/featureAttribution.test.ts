import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { fitStandardizedOls, tQuantile } from '../../../core/analysis/linearModel.js';
import { fitBoostedTrees, predictBoostedTrees } from '../../../core/analysis/boostedTrees.js';
import { quantileGrid } from '../../../core/analysis/partialDependence.js';
import { attributeFeatures, resolveFeatures, TRUTH_PREFIX, type AttributionResult } from '../../../core/analysis/featureAttribution.js';
import { generateSynthDataset } from '../../../core/synth/generateDataset.js';
import type { SynthTruth } from '../../../core/synth/truthFile.js';
import { SeededRandom } from '../../../core/synth/random.js';
import { openLibrary, cacheDirFor, type LibraryDb } from '../../../core/library/openLibrary.js';
import { indexLibrary } from '../../../core/library/indexLibrary.js';
import { importRatings } from '../../../core/library/ratingsImport.js';
import { readRaterGroupFile, setRaterGroups } from '../../../core/library/raterGroups.js';
import { openRun } from '../../../core/models/runs.js';
import { tempDir } from '../../helpers/paths.js';
import { smallLibrary } from '../../helpers/library.js';
import { parseFilter } from '../../../core/library/queryImages.js';

test('t quantiles match published tables', () => {
  assert.ok(Math.abs(tQuantile(0.975, 10) - 2.228139) < 1e-5);
  assert.ok(Math.abs(tQuantile(0.975, 1) - 12.7062) < 1e-3);
  assert.ok(Math.abs(tQuantile(0.975, 1e6) - 1.959966) < 1e-4);
});

test('OLS recovers known coefficients, covers them with its intervals and reports collinear features', () => {
  const rng = new SeededRandom(11);
  const n = 400;
  const x1 = Array.from({ length: n }, () => rng.normal());
  const x2 = Array.from({ length: n }, () => rng.uniform(0, 10));
  const x3 = x1.map((v, i) => 2 * v - 0.5 * x2[i]!); // exactly collinear
  const y = x1.map((v, i) => 3 * v - 0.4 * x2[i]! + 7 + rng.normal(0, 0.5));
  const fit = fitStandardizedOls([x1, x2, x3], y);
  assert.deepEqual(fit.collinear, [{ index: 2, with: [0, 1] }]);
  assert.equal(fit.coefficients.length, 2);
  assert.equal(fit.dof, n - 3);
  const [c1, c2] = fit.coefficients as [NonNullable<(typeof fit.coefficients)[0]>, NonNullable<(typeof fit.coefficients)[0]>];
  assert.ok(Math.abs(c1.perUnit - 3) < 0.1, `x1 per unit ${c1.perUnit}`);
  assert.ok(Math.abs(c2.perUnit + 0.4) < 0.03, `x2 per unit ${c2.perUnit}`);
  assert.ok(c1.ciLow < c1.beta && c1.beta < c1.ciHigh && c1.ciLow > 0);
  assert.ok(c2.ciHigh < 0);
  assert.ok(fit.r2 > 0.95 && fit.r2 < 1);
  assert.ok(c1.vif >= 1 && c1.vif < 1.1);
  assert.throws(() => fitStandardizedOls([x1], y.map(() => 1)), /same value for every image/);
});

test('boosted trees fit a non-linear function deterministically and predict on raw values', () => {
  const rng = new SeededRandom(5);
  const n = 500;
  const x = Array.from({ length: n }, () => rng.uniform(-1, 1));
  const noise = Array.from({ length: n }, () => rng.uniform(-1, 1));
  const y = x.map((v) => (v > 0.2 ? 2 : 0) + v * v);
  const model = fitBoostedTrees([x, noise], y, { trees: 150, learningRate: 0.1, seed: 3 });
  const again = fitBoostedTrees([x, noise], y, { trees: 150, learningRate: 0.1, seed: 3 });
  const predicted = predictBoostedTrees(model, [x, noise]);
  assert.deepEqual(Array.from(predicted), Array.from(predictBoostedTrees(again, [x, noise])));
  const mse = predicted.reduce((s, p, i) => s + (p - y[i]!) ** 2, 0) / n;
  assert.ok(mse < 0.05, `training MSE ${mse}`);
  const probe = predictBoostedTrees(model, [[-0.9, 0.1, 0.9], [0, 0, 0]]);
  assert.ok(Math.abs(probe[0]! - 0.81) < 0.15 && Math.abs(probe[1]! - 0.01) < 0.15 && Math.abs(probe[2]! - 2.81) < 0.2, `${Array.from(probe)}`);
});

test('quantile grids span the 5%..95% quantiles and collapse repeated values', () => {
  const grid = quantileGrid(Array.from({ length: 101 }, (_, i) => i), 20);
  assert.equal(grid.length, 20);
  assert.ok(Math.abs(grid[0]! - 5) < 1e-9 && Math.abs(grid[19]! - 95) < 1e-9);
  assert.deepEqual(quantileGrid([0, 0, 0, 1, 1, 1, 1, 1, 1, 1], 20), [0, 1]);
});

test('feature names: image fields by either spelling, truth attributes by prefix, unknown names list the valid ones', () => {
  const ratings = { kind: 'ratings' } as const;
  assert.deepEqual(resolveFeatures(['edge_density', 'Megapixels', 'edgeDensity'], null, ratings).map((s) => s.name), ['edgeDensity', 'megapixels']);
  assert.deepEqual(resolveFeatures(['truth', 'brightness'], ['saturation', 'noise'], ratings).map((s) => s.name), ['truth.saturation', 'truth.noise', 'brightness']);
  assert.throws(() => resolveFeatures(['sparkle'], null, ratings), /Unknown feature "sparkle"\. Features: id, bytes, width, .*brightness/);
  assert.throws(() => resolveFeatures(['truth.noise'], null, ratings), /needs --truth/);
  assert.throws(() => resolveFeatures(['ratingMean'], null, ratings), /mean rating itself/);
  assert.deepEqual(resolveFeatures(['ratingMean'], null, { kind: 'model', model: 'm' }).map((s) => s.name), ['ratingMean']);
});

/** Attributes ordered by |weight|, largest first. */
function truthRanking(weights: Record<string, number>): string[] {
  return Object.entries(weights)
    .sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]))
    .map(([name]) => name);
}

const bare = (name: string) => name.slice(TRUTH_PREFIX.length);

function report(label: string, weights: Record<string, number>, result: AttributionResult): void {
  const lines = [`${label}: n ${result.n}, OLS R^2 ${result.linear.r2.toFixed(3)}, boosted held-out R^2 ${result.nonlinear!.heldOutR2.toFixed(3)}`];
  for (const c of result.linear.coefficients.slice(0, 5)) {
    const imp = result.nonlinear!.importance.find((i) => i.feature === c.feature)!;
    lines.push(
      `  ${bare(c.feature).padEnd(12)} weight ${weights[bare(c.feature)]!.toFixed(3).padStart(6)}  beta ${c.beta.toFixed(3).padStart(6)} [${c.ciLow.toFixed(3)}, ${c.ciHigh.toFixed(3)}]  per unit ${c.perUnit.toFixed(3).padStart(6)}  importance ${imp.importance.toFixed(3)} +- ${imp.sd.toFixed(3)}`,
    );
  }
  console.log(lines.join('\n'));
}

/**
 * A synthetic dataset with known truth: 300 images at size 128, 30 raters in three preference groups. The groups
 * come from truth.json (as `miru raters groups --set truth.json` does); the population truth enters as the score
 * run of an "oracle" model whose scores are truth.json's trueScore: a model that learned the population exactly.
 */
async function synthLibrary(): Promise<{ db: LibraryDb; dir: string; truth: SynthTruth }> {
  const dir = tempDir();
  const dataset = path.join(dir, 'synth');
  await generateSynthDataset(dataset, { images: 300, raters: 30, seed: 7, size: 128 });
  const dbPath = path.join(dir, 'lib.db');
  const db = openLibrary(dbPath);
  await indexLibrary(db, [path.join(dataset, 'images')], { cacheDir: cacheDirFor(dbPath) });
  await importRatings(db, path.join(dataset, 'ratings.csv'), { scale: { min: 1, max: 5 } });
  setRaterGroups(db, await readRaterGroupFile(path.join(dataset, 'truth.json')));
  const truth = JSON.parse(readFileSync(path.join(dataset, 'truth.json'), 'utf8')) as SynthTruth;
  const modelId = Number(
    db.prepare(`INSERT INTO models (name, path, sha256, card, added_at) VALUES ('oracle', 'oracle.onnx', '', '{}', '2024-01-01')`).run().lastInsertRowid,
  );
  const run = openRun(db, modelId, 'score', {});
  const trueScore = new Map(truth.images.map((image) => [image.file, image.trueScore]));
  const insert = db.prepare('INSERT INTO scores (run_id, image_id, score) VALUES (?, ?, ?)');
  for (const row of db.prepare('SELECT id, rel_path FROM images').all() as { id: number; rel_path: string }[]) insert.run(run, row.id, trueScore.get(row.rel_path));
  db.prepare(`UPDATE runs SET status = 'complete' WHERE id = ?`).run(run);
  return { db, dir: dataset, truth };
}

let library: ReturnType<typeof synthLibrary> | null = null;
const sharedLibrary = () => (library ??= synthLibrary());
after(async () => {
  if (library) (await library).db.close();
});

test('on a synthetic dataset, attribution recovers the true top-3 attributes in order for the population and every rater group', async () => {
  const { db, dir, truth } = await sharedLibrary();
  {
    // Population: the oracle's scores are exactly linear in the attributes (truthFile.ts), so OLS must return
    // each weight as the per-unit coefficient (all attributes share the [0, 1] scale). Standardized betas also
    // divide by each attribute's sample sd, which differs by a few percent across 300 images: enough to swap
    // population weights 0.153 and 0.147, so the ranking check uses the per-unit coefficients.
    const population = await attributeFeatures(db, { target: { kind: 'model', model: 'oracle' }, truth: dir });
    const weights = truth.weights.population as unknown as Record<string, number>;
    report('population (oracle model)', weights, population);
    assert.equal(population.n, 300);
    assert.ok(population.linear.r2 > 0.99999);
    for (const c of population.linear.coefficients) assert.ok(Math.abs(c.perUnit - weights[bare(c.feature)]!) < 1e-4, `${c.feature}: ${c.perUnit} vs ${weights[bare(c.feature)]}`);
    const byPerUnit = population.linear.coefficients.slice().sort((a, b) => Math.abs(b.perUnit) - Math.abs(a.perUnit)).map((c) => bare(c.feature));
    assert.deepEqual(byPerUnit.slice(0, 3), truthRanking(weights).slice(0, 3));
    // The boosted model only sees 240 images per fold; 0.160, 0.153 and 0.147 are too close to order reliably,
    // but the three must stand out from the rest (the fourth weight is 0.123).
    assert.deepEqual(population.nonlinear!.importance.slice(0, 3).map((i) => bare(i.feature)).sort(), truthRanking(weights).slice(0, 3).sort());

    // Each preference group: the mean rating of its raters. Its top three weights are well separated, so both the
    // standardized coefficients and the permutation importances must give them in order, with the right signs.
    const byGroup = new Map<string, AttributionResult>();
    for (const group of ['vivid', 'clean', 'composition'] as const) {
      const result = await attributeFeatures(db, { target: { kind: 'ratings', group }, truth: dir });
      byGroup.set(group, result);
      const groupWeights = truth.weights.groups[group] as unknown as Record<string, number>;
      report(`group ${group}`, groupWeights, result);
      const expected = truthRanking(groupWeights).slice(0, 3);
      const linearTop = result.linear.coefficients.slice(0, 3);
      assert.deepEqual(linearTop.map((c) => bare(c.feature)), expected, `${group}: OLS ranking`);
      for (const c of linearTop) {
        assert.equal(Math.sign(c.beta), Math.sign(groupWeights[bare(c.feature)]!), `${group}: sign of ${c.feature}`);
        assert.ok(c.ciLow > 0 || c.ciHigh < 0, `${group}: the interval of ${c.feature} excludes 0`);
      }
      assert.deepEqual(result.nonlinear!.importance.slice(0, 3).map((i) => bare(i.feature)), expected, `${group}: importance ranking`);
      assert.equal(result.partialDependence.length, 3);
      const top = result.partialDependence[0]!;
      assert.equal(top.feature, `${TRUTH_PREFIX}${expected[0]}`);
      // The strongest attribute's curve rises from its low to its high end by a good part of the rating scale.
      assert.ok(top.points[top.points.length - 1]!.y - top.points[0]!.y > 1, `${group}: partial dependence of ${top.feature}`);
    }

    // Deterministic: the same seed gives the same numbers; another seed moves only the boosted model's.
    const first = byGroup.get('vivid')!;
    assert.deepEqual(await attributeFeatures(db, { target: { kind: 'ratings', group: 'vivid' }, truth: dir }), first);
    const reseeded = await attributeFeatures(db, { target: { kind: 'ratings', group: 'vivid' }, truth: dir, seed: 2 });
    assert.deepEqual(reseeded.linear, first.linear);
    assert.notDeepEqual(reseeded.nonlinear!.importance, first.nonlinear!.importance);

    // Image statistics on the same library: the rendered saturation and contrast show up in the measured ones.
    const stats = await attributeFeatures(db, { target: { kind: 'ratings', group: 'vivid' } });
    assert.deepEqual(stats.dropped.map((d) => d.feature).sort(), ['alphaFraction', 'isGrayscale']);
    assert.match(stats.notes.join('\n'), /Dropped alphaFraction: constant/);
    const statTop = stats.nonlinear!.importance.slice(0, 3).map((i) => i.feature);
    assert.ok(statTop.includes('saturation') || statTop.includes('colorfulness'), `vivid on image statistics: ${statTop}`);
  }
});

test('bad input: each is an error that says what to do', async () => {
  const { db, dir } = await sharedLibrary();
  const ratings = { kind: 'ratings' } as const;
  const rejects = (options: Parameters<typeof attributeFeatures>[1], pattern: RegExp) => assert.rejects(attributeFeatures(db, options), pattern);
  await rejects({ target: { kind: 'model', model: 'nope' } }, /No model named "nope" in this library \(models: oracle\)/);
  db.prepare(`INSERT INTO models (name, path, sha256, card, added_at) VALUES ('idle', 'idle.onnx', '', '{}', '2024-01-01')`).run();
  await rejects({ target: { kind: 'model', model: 'idle' } }, /Model "idle" has no score run yet\. Score the library first: `miru score --db D --model idle`/);
  await rejects({ target: { kind: 'ratings', rater: 'zed' } }, /Unknown rater "zed"\. Raters: rater_001, .*\(30 in all\)/);
  await rejects({ target: { kind: 'ratings', group: 'nobody' } }, /Unknown rater group "nobody"\. Groups: clean, composition, vivid\./);
  await rejects({ target: { kind: 'ratings', minRatings: 99 } }, /No image has at least 99 ratings from any rater/);
  // 5 images, 11 default features of which 2 are constant: 9 features need 11 images.
  await rejects({ target: ratings, filters: [parseFilter('id<=5')] }, /Only 5 images have the target and every feature; 9 features need at least 11\. Name fewer features/);
  await rejects({ target: ratings, features: ['brightness', 'sparkle'] }, /Unknown feature "sparkle"\. Features: id, bytes, width, height, .*edgeDensity/);
  await rejects({ target: ratings, features: ['alphaFraction', 'isGrayscale'] }, /Every feature is constant over these 300 images \(alphaFraction, isGrayscale\)/);
  await rejects({ target: ratings, truth: path.join(dir, 'missing.json') }, /--truth .*missing\.json: no such file or folder/);
  await rejects({ target: ratings, truth: path.join(dir, 'ratings.csv') }, /cannot read it as JSON/);
  // Few images but enough for the linear model: the boosted model is skipped with a note, not an error.
  const few = await attributeFeatures(db, { target: ratings, features: ['brightness', 'contrast'], filters: [parseFilter('id<=20')] });
  assert.equal(few.n, 20);
  assert.equal(few.nonlinear, null);
  assert.match(few.notes.join('\n'), /Only 20 images: the boosted-tree importances and partial dependence need at least 40/);
  // Exactly collinear features (square images: width = height): the later one is dropped and said so.
  const collinear = await attributeFeatures(db, { target: ratings, features: ['width', 'height', 'brightness'], filters: [parseFilter('aspectRatio=1')], pdFeatures: 0 });
  assert.deepEqual(collinear.features, ['width', 'brightness']);
  assert.deepEqual(collinear.dropped, [{ feature: 'height', reason: 'a linear combination of width' }]);
  assert.match(collinear.notes.join('\n'), /Dropped height: a linear combination of width\./);
});

test('no ratings at all is an error that says how to import them', async () => {
  const empty = await smallLibrary(3);
  try {
    await assert.rejects(attributeFeatures(empty.db, { target: { kind: 'ratings' } }), /This library has no ratings\. Import them with `miru ratings import FILE --db D`/);
  } finally {
    empty.db.close();
  }
});
