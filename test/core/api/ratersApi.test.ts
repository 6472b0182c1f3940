// raterReport (issue 6): the rater analysis and the rater map the Raters view draws, its input checks, its cache
// (kept while the ratings stay the same, dropped by a ratings import from another process), and saving the
// clusters as rater groups that the raterGroup filter then lists.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ApiInputError, apiErrorStatus, callApi, createMiruService, type MiruService } from '../../../core/api/miruService.js';
import type { MiruEvent } from '../../../core/api/apiTypes.js';
import type { RaterReport } from '../../../core/api/types/raterReport.js';
import { openLibrary } from '../../../core/library/openLibrary.js';
import { importRatings, parseScale } from '../../../core/library/ratingsImport.js';
import { analyzeRaters } from '../../../core/analysis/raterAnalysis.js';
import { raterEmbedding } from '../../../core/analysis/raterEmbedding.js';
import { SeededRandom } from '../../../core/synth/random.js';
import { drawAttributes } from '../../../core/synth/attributes.js';
import { groupWeights, preferenceGroupNames, quantilePositions, weightedScore, type PreferenceGroup } from '../../../core/synth/aestheticTruth.js';
import { makeRaters, simulateRatings } from '../../../core/synth/raters.js';
import { storeScores } from '../../helpers/analysisData.js';
import { tempDir } from '../../helpers/paths.js';

const IMAGES = 400;
let dir: string;
let dbPath: string;
let service: MiruService;
const events: MiruEvent[] = [];
const call = <T>(method: string, input: unknown) => callApi(service, method, input) as Promise<T>;

/**
 * A library of IMAGES image rows (no files: the report reads ratings only) and the ratings `miru synth --raters 24`
 * draws for them (three tastes, spammers), imported from a CSV the way `miru ratings import` does.
 */
async function ratedLibrary(): Promise<void> {
  dir = tempDir('miru-raters-api-');
  dbPath = path.join(dir, 'lib.db');
  const db = openLibrary(dbPath);
  db.prepare(`INSERT INTO roots (id, path, added_at) VALUES (1, '/data', 'now')`).run();
  const image = db.prepare(`INSERT INTO images (id, root_id, rel_path, bytes, mtime_ms, status, indexed_at) VALUES (?, 1, ?, 1, 1, 'ok', 'now')`);
  db.transaction(() => {
    for (let id = 1; id <= IMAGES; id++) image.run(id, `img_${id}.png`);
  })();
  const seed = 2;
  const attributes = Array.from({ length: IMAGES }, (_, i) => drawAttributes(SeededRandom.derive(seed, 'image', i)));
  const rank = {} as Record<PreferenceGroup, number[]>;
  for (const g of preferenceGroupNames) rank[g] = quantilePositions(attributes.map((a) => weightedScore(a, groupWeights[g])));
  const raters = makeRaters(24, 5, seed);
  const { ratings } = simulateRatings(raters, rank, IMAGES, 5, seed);
  const csv = path.join(dir, 'ratings.csv');
  writeFileSync(csv, ['image,rater,score', ...ratings.map((r) => `img_${r.image + 1}.png,${raters[r.rater]!.name},${r.score}`)].join('\n'));
  await importRatings(db, csv, { scale: parseScale('1:5') });
  // A model with class probabilities for every image (CROWDLAB can weigh it in), and one with a scalar score only.
  const ids = Array.from({ length: IMAGES }, (_, i) => i + 1);
  storeScores(db, 'judge', { name: 'logits', kind: 'ordinal', labels: ['1', '2', '3', '4', '5'], values: [1, 2, 3, 4, 5] }, new Map(ids.map((id) => [id, [0.1, 0.2, 0.4, 0.2, 0.1]])));
  storeScores(db, 'scalar', { name: 'score', kind: 'scalar' }, new Map(ids.map((id) => [id, [0.5]])));
  db.close();
}

before(async () => {
  await ratedLibrary();
  service = createMiruService(dbPath, { queryWorker: false });
  service.subscribe((event) => events.push(event));
});

after(async () => {
  await service.close();
});

test('raterReport refuses bad input before running anything, naming the field', async () => {
  const refused = async (input: unknown, pattern: RegExp) =>
    assert.rejects(call('raterReport', input), (e: Error) => {
      assert.ok(e instanceof ApiInputError, e.message);
      assert.equal(apiErrorStatus(e), 400);
      assert.match(e.message, pattern);
      return true;
    });
  await refused({ clusters: 0 }, /raterReport: invalid clusters/);
  await refused({ clusters: 2.5 }, /invalid clusters/);
  await refused({ clusters: 'many' }, /invalid clusters/);
  await refused({ clusters: 101 }, /invalid clusters/);
  await refused({ consensus: 'vote' }, /invalid consensus/);
  await refused({ model: '' }, /invalid model/);
  await refused({ saveGroups: 'yes' }, /invalid saveGroups/);
  await refused({ k: 3 }, /invalid k: unknown key/);
  await refused({ model: 'ghost' }, /raterReport: invalid model: unknown model "ghost" \(models: judge, scalar\)/);
  // What only the analysis can know is core's own error: a 422 that says what to do.
  const core = async (input: unknown, pattern: RegExp) =>
    assert.rejects(call('raterReport', input), (e: Error) => (assert.equal(apiErrorStatus(e), 422), assert.match(e.message, pattern), true));
  await core({ model: 'scalar' }, /Model "scalar" has no class probabilities/);
  await core({ model: 'judge', consensus: 'median' }, /--model weighs a model into the CROWDLAB consensus; use it with --consensus crowdlab/);
  await core({ clusters: 60 }, /--clusters 60 is more than the \d+ raters that can be clustered/);
});

test('raterReport is the rater analysis plus a map of the raters, as JSON, computed once per input', async () => {
  events.length = 0;
  const first = await call<RaterReport>('raterReport', {});
  assert.equal(first.cached, false);
  assert.ok(first.elapsedMs >= 0 && !Number.isNaN(Date.parse(first.computedAt)));
  assert.ok(events.some((e) => e.type === 'library-changed' && e.what === 'analyses'), 'the stored consensus is announced');
  // The same numbers `miru raters` computes (on its own connection, as the CLI would).
  const db = openLibrary(dbPath);
  const direct = await analyzeRaters(db, {});
  db.close();
  assert.equal(first.raterCount, 24);
  assert.deepEqual(first.alpha, direct.alpha);
  assert.deepEqual(first.raters, direct.raters);
  assert.deepEqual(first.clusters, direct.clusters);
  assert.deepEqual(first.kappa, direct.kappa);
  assert.deepEqual(first.dendrogram, direct.dendrogram);
  assert.deepEqual(first.spammers, direct.spammers);
  assert.ok(first.clustering.k >= 2, `k ${first.clustering.k}`);
  assert.equal(first.consensus.method, 'mean');
  assert.ok(!('truth' in first) && !('savedGroups' in first));
  // The map: every rater with a profile, where raterEmbedding puts it; the heatmap's order covers the clustered raters.
  assert.deepEqual(first.embedding, raterEmbedding(direct.kappa, { shrinkage: direct.clustering.shrinkage }));
  assert.equal(first.embedding.points.length + first.embedding.excluded.length, 24);
  assert.deepEqual([...first.dendrogram.leafOrder].sort(), first.raters.filter((r) => r.cluster !== null).map((r) => r.rater).sort());
  // Plain JSON: what goes over HTTP is what comes back.
  assert.deepEqual(JSON.parse(JSON.stringify(first)), first);

  events.length = 0;
  const again = await call<RaterReport>('raterReport', { clusters: 'auto', consensus: 'mean' });
  assert.equal(again.cached, true, 'the defaults spelled out are the same input');
  assert.equal(again.computedAt, first.computedAt);
  assert.deepEqual(events, [], 'an answer from memory stores nothing');
  const two = await call<RaterReport>('raterReport', { clusters: 2 });
  assert.equal(two.cached, false);
  assert.equal(two.clustering.k, 2);
  assert.equal(two.clusters.length, 2);
  const crowdlab = await call<RaterReport>('raterReport', { model: 'judge' });
  assert.equal(crowdlab.consensus.method, 'crowdlab');
  assert.equal(crowdlab.consensus.model?.name, 'judge');
  // Concurrent asks for one input share one computation.
  const [a, b] = await Promise.all([call<RaterReport>('raterReport', { consensus: 'median' }), call<RaterReport>('raterReport', { consensus: 'median' })]);
  assert.equal(a.computedAt, b.computedAt);
});

test('a ratings import by another process drops the cached reports; other writes (a tag) do not', async () => {
  const before = await call<RaterReport>('raterReport', {});
  // Another connection (the CLI's) writes a tag: SQLite's data_version moves, the ratings do not.
  const other = openLibrary(dbPath);
  other.prepare(`INSERT INTO tags (image_id, tag, created_at) VALUES (1, 'keep', 'now')`).run();
  assert.equal((await call<RaterReport>('raterReport', {})).cached, true);
  // `miru ratings import` of a new rater's ratings.
  const csv = path.join(dir, 'late.csv');
  writeFileSync(csv, ['image,rater,score', ...Array.from({ length: 60 }, (_, i) => `img_${i + 1}.png,latecomer,${1 + (i % 5)}`)].join('\n'));
  await importRatings(other, csv);
  other.close();
  const after = await call<RaterReport>('raterReport', {});
  assert.equal(after.cached, false);
  assert.equal(after.raterCount, before.raterCount + 1);
  assert.equal(after.ratings, before.ratings + 60);
  assert.ok(after.raters.some((r) => r.rater === 'latecomer'));
  assert.equal((await call<RaterReport>('raterReport', { clusters: 2 })).cached, false, 'every input was dropped, not only the one asked');
  assert.equal((await call<RaterReport>('raterReport', {})).cached, true);
});

test('saving the clusters as rater groups stores what the answer shows, and the raterGroup filter lists their images', async () => {
  const countSql = (group: string) =>
    service.db
      .prepare<[string], number>(`SELECT count(DISTINCT r.image_id) FROM ratings r JOIN rater_groups g ON g.rater_id = r.rater_id JOIN images i ON i.id = r.image_id WHERE g.group_name = ? AND i.status = 'ok'`)
      .pluck()
      .get(group)!;
  for (const clusters of [3, 2] as const) {
    events.length = 0;
    const saved = await call<RaterReport>('raterReport', { clusters, saveGroups: true });
    assert.ok(saved.savedGroups, 'the answer says what was saved');
    assert.equal(saved.clusters.length, clusters);
    const raters = await call<{ name: string; group: string | null }[]>('listRaters', {});
    const groupOf = new Map(raters.map((r) => [r.name, r.group]));
    for (const r of saved.raters) assert.equal(groupOf.get(r.rater), r.cluster === null ? null : `cluster-${r.cluster}`, r.rater);
    assert.ok(events.some((e) => e.type === 'library-changed' && e.what === 'ratings'), 'the UI is told to reload its raters');
    // The counts come from the column store, which must have dropped the previous groups' sets.
    for (const cluster of saved.clusters) {
      assert.deepEqual(await call('countImages', { filters: [`raterGroup=${cluster.name}`] }), { count: countSql(cluster.name) }, `${cluster.name} of ${clusters}`);
      assert.ok(countSql(cluster.name) > 0);
    }
    const page = await call<{ items: { id: number }[] }>('listImages', { filters: [`raterGroup=${saved.clusters[0]!.name}`], limit: 1000 });
    assert.equal(page.items.length, countSql(saved.clusters[0]!.name));
  }
  // Saving changed no rating: the report is still the cached one.
  assert.equal((await call<RaterReport>('raterReport', { clusters: 2 })).cached, true);
  await assert.rejects(call('countImages', { filters: ['raterGroup=cluster-3'] }), /filters\[0\]: unknown rater group "cluster-3" \(groups: cluster-1, cluster-2\)/);
});

test('a library without ratings gets an error that says how to import them', async () => {
  const empty = createMiruService(path.join(tempDir('miru-raters-empty-'), 'empty.db'), { queryWorker: false });
  try {
    await assert.rejects(callApi(empty, 'raterReport', {}), (e: Error) => (assert.equal(apiErrorStatus(e), 422), assert.match(e.message, /This library has no ratings\. Import them first: `miru ratings import/), true));
  } finally {
    await empty.close();
  }
});
