import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { parse } from 'csv-parse/sync';
import { importRatings, parseScale } from '../../core/library/ratingsImport.js';
import { openLibrary } from '../../core/library/openLibrary.js';
import { listAnalyses, saveAnalysis } from '../../core/analysis/analysisStore.js';
import { runMiru } from '../helpers/runMiru.js';
import { smallLibrary } from '../helpers/library.js';
import { clusteredVectors, storeEmbeddings, storeScores } from '../helpers/analysisData.js';

const N = 12;

/**
 * 12 images; img0..img7 rated on the 1..5 scale (img0 by three raters, one of them in a rater group), img8..img11
 * unrated. Image i sits in embedding cluster i % 2 and its ratings agree with it (class 2 or 4). A model "judge"
 * scored every image. Consensus, label-issue and outlier analyses are stored the way `miru raters` and
 * `miru issues` store them.
 */
const setup = (async () => {
  const lib = await smallLibrary(N);
  const { db, dir } = lib;
  const ids = db.prepare<[], number>('SELECT id FROM images ORDER BY id').pluck().all();
  const paths = db.prepare<[], string>('SELECT rel_path FROM images ORDER BY id').pluck().all();
  const classOf = (i: number) => (i % 2 ? 4 : 2);
  const lines = ['image,rater,score', `${paths[0]},ann,1`, `${paths[0]},bob,2`, `${paths[0]},cat,2`];
  for (let i = 1; i < 8; i++) lines.push(`${paths[i]},ann,${classOf(i)}`);
  writeFileSync(path.join(dir, 'ratings.csv'), lines.join('\n'));
  assert.deepEqual((await importRatings(db, path.join(dir, 'ratings.csv'), { scale: parseScale('1:5') })).rejected, []);
  db.prepare(`INSERT INTO rater_groups (rater_id, group_name) SELECT id, 'vivid' FROM raters WHERE name = 'bob'`).run();
  storeEmbeddings(db, 'emb', clusteredVectors(ids, (i) => i % 2));
  storeScores(db, 'judge', { name: 'logits', kind: 'ordinal', labels: ['1', '2', '3', '4', '5'], values: [1, 2, 3, 4, 5] }, new Map(ids.map((id) => [id, [0.1, 0.2, 0.4, 0.2, 0.1]])));
  const crowdlab = saveAnalysis(db, {
    kind: 'consensus',
    sourceRunId: null,
    params: { method: 'crowdlab', model: null },
    summary: { method: 'crowdlab', classes: [1, 2, 3, 4, 5], extra: 'quality, then the posterior over classes' },
    values: ids.slice(0, 8).map((imageId, i) => ({ imageId, value: classOf(i), extra: Float32Array.from([0.9, 0, 0.5, 0, 0.5, 0]) })),
  });
  const mean = saveAnalysis(db, {
    kind: 'consensus',
    sourceRunId: null,
    params: { method: 'mean', model: null },
    summary: { method: 'mean', classes: null, extra: null },
    values: ids.slice(0, 8).map((imageId, i) => ({ imageId, value: i === 0 ? 5 / 3 : classOf(i), extra: null })),
  });
  saveAnalysis(db, {
    kind: 'label-issues',
    sourceRunId: null,
    params: {},
    summary: { extra: ['isIssue'] }, // as core/analysis/libraryIssues.ts names its extra columns
    values: [{ imageId: ids[0]!, value: 0.1, extra: Float32Array.from([1]) }, { imageId: ids[2]!, value: 0.8, extra: Float32Array.from([0]) }],
  });
  saveAnalysis(db, { kind: 'outliers', sourceRunId: 1, params: { k: 5 }, summary: {}, values: [{ imageId: ids[2]!, value: 0.3 }, { imageId: ids[5]!, value: 0.7 }] });
  // `miru issues` stores one image-issues analysis per check (value = score, extra = [flag]); a rerun adds newer ones.
  const check = (issue: string, values: [number, number, number][]) =>
    saveAnalysis(db, { kind: 'image-issues', sourceRunId: null, params: { issue }, summary: { issue }, values: values.map(([i, value, flag]) => ({ imageId: ids[i]!, value, extra: Float32Array.of(flag) })) });
  check('dark', [[5, 0.9, 0]]);
  check('blurry', [[5, 0.2, 1]]);
  check('dark', [[5, 0.1, 1]]);
  db.close();
  return { ...lib, ids, paths, classOf, crowdlab, mean };
})();

const csvRows = (text: string) => parse(text, { columns: true }) as Record<string, string>[];

async function exported(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { dbPath } = await setup;
  return runMiru(['export', '--db', dbPath, ...args]);
}

async function readParquet(file: string) {
  const buffer = await asyncBufferFromFile(file);
  const metadata = await parquetMetadataAsync(buffer);
  const types = Object.fromEntries(metadata.schema.slice(1).map((s) => [s.name, s.type]));
  return { rows: (await parquetReadObjects({ file: buffer })) as Record<string, unknown>[], types };
}

test('export --what soft-labels: each rated image\'s rating histogram as CSV; smoothing and JSON Lines; stored as an analysis', async () => {
  const { paths, dbPath } = await setup;
  const run = await exported(['--what', 'soft-labels']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout.split('\n')[0], 'id,path,hash,ratings,expected,p_1,p_2,p_3,p_4,p_5');
  const rows = csvRows(run.stdout);
  assert.deepEqual(rows.map((r) => r.path), paths.slice(0, 8));
  assert.deepEqual([rows[0]!.ratings, rows[0]!.p_1, rows[0]!.p_2, rows[0]!.p_3], ['3', '0.33333334', '0.6666667', '0']);
  assert.ok(Math.abs(Number(rows[0]!.expected) - 5 / 3) < 1e-6);
  assert.deepEqual([rows[1]!.p_4, rows[2]!.p_2], ['1', '1']);

  const smoothed = await exported(['--what', 'soft-labels', '--smoothing', '1', '--format', 'jsonl']);
  assert.equal(smoothed.code, 0, smoothed.stderr);
  const first = JSON.parse(smoothed.stdout.split('\n')[0]!) as Record<string, number>;
  assert.deepEqual(Object.keys(first), ['id', 'path', 'hash', 'ratings', 'expected', 'p_1', 'p_2', 'p_3', 'p_4', 'p_5']);
  assert.deepEqual([first.p_1, first.p_2, first.p_3], [0.25, 0.375, 0.125]);

  const db = openLibrary(dbPath, { mustExist: true });
  assert.deepEqual(listAnalyses(db, { kind: 'soft-labels' }).map((a) => a.params.smoothing).sort(), [0, 1]);
  db.close();
});

test('export --what soft-labels --model as Parquet: temperature and top-k applied, typed columns', async () => {
  const { dir, ids } = await setup;
  const out = path.join(dir, 'soft.parquet');
  const run = await exported(['--what', 'soft-labels', '--model', 'judge', '--temperature', '0.5', '--top-k', '3', '--format', 'parquet', '--out', out]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /^Wrote 12 soft-labels rows to .*soft\.parquet \(from soft-labels analysis \d+ of /);
  const { rows, types } = await readParquet(out);
  assert.deepEqual(types, { id: 'INT64', path: 'BYTE_ARRAY', hash: 'BYTE_ARRAY', expected: 'DOUBLE', p_1: 'FLOAT', p_2: 'FLOAT', p_3: 'FLOAT', p_4: 'FLOAT', p_5: 'FLOAT' });
  assert.equal(rows.length, N);
  assert.equal(rows[0]!.id, BigInt(ids[0]!));
  // 0.1, 0.2, 0.4, 0.2, 0.1 squared (T = 0.5): 0.01, 0.04, 0.16, 0.04, 0.01; the top 3 (ties to the lower class)
  // are classes 2, 3, 4: 0.04, 0.16, 0.04 over 0.24.
  const p = [rows[0]!.p_1, rows[0]!.p_2, rows[0]!.p_3, rows[0]!.p_4, rows[0]!.p_5] as number[];
  [0, 1 / 6, 2 / 3, 1 / 6, 0].forEach((e, k) => assert.ok(Math.abs(p[k]! - e) < 1e-6, `p_${k + 1} ${p[k]}`));
  assert.ok(Math.abs((rows[0]!.expected as number) - 3) < 1e-6);
});

test('export --what pseudo-labels after `miru pseudo-labels`: label, confidence, certainty and distribution per unrated image', async () => {
  const { dir, dbPath, ids, paths, classOf } = await setup;
  const made = await runMiru(['pseudo-labels', '--db', dbPath, '--embedding', 'emb', '--k', '3', '--holdout', '0']);
  assert.equal(made.code, 0, made.stderr);
  const run = await exported(['--what', 'pseudo-labels']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout.split('\n')[0], 'id,path,hash,label,confidence,certainty,p_1,p_2,p_3,p_4,p_5');
  const rows = csvRows(run.stdout);
  assert.deepEqual(rows.map((r) => r.path), paths.slice(8));
  rows.forEach((r, j) => {
    assert.equal(Number(r.label), classOf(8 + j));
    assert.equal(Number(r.confidence), 1);
    assert.equal(Number(r.certainty), 1);
    assert.equal(Number(r[`p_${classOf(8 + j)}`]), 1);
  });

  const out = path.join(dir, 'pseudo.parquet');
  assert.equal((await exported(['--what', 'pseudo-labels', '--format', 'parquet', '--out', out])).code, 0);
  const { rows: back, types } = await readParquet(out);
  assert.deepEqual(back.map((r) => r.id), ids.slice(8).map(BigInt));
  assert.deepEqual(back.map((r) => r.label), ids.slice(8).map((_, j) => classOf(8 + j)));
  assert.equal(types.confidence, 'FLOAT');
});

test('export --what consensus: the newest stored consensus, or one chosen with --analysis; CROWDLAB extras become quality and p_<class>', async () => {
  const { crowdlab, mean, paths } = await setup;
  const newest = await exported(['--what', 'consensus']);
  assert.equal(newest.code, 0, newest.stderr);
  assert.equal(newest.stdout.split('\n')[0], 'id,path,hash,consensus');
  assert.equal(csvRows(newest.stdout)[0]!.consensus, String(5 / 3));
  const chosen = await exported(['--what', 'consensus', '--analysis', String(crowdlab), '--format', 'jsonl']);
  assert.equal(chosen.code, 0, chosen.stderr);
  const rows = chosen.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(rows.length, 8);
  assert.deepEqual(rows[1], { id: rows[1]!.id, path: paths[1], hash: rows[1]!.hash, consensus: 4, quality: 0.9, p_1: 0, p_2: 0.5, p_3: 0, p_4: 0.5, p_5: 0 });
  assert.ok(mean > crowdlab);
});

test('export --what rater-labels: one row per rating with the rater and the rater\'s group', async () => {
  const { paths } = await setup;
  const run = await exported(['--what', 'rater-labels']);
  assert.equal(run.code, 0, run.stderr);
  const rows = csvRows(run.stdout);
  assert.equal(rows.length, 10);
  assert.deepEqual(rows.slice(0, 3).map((r) => [r.path, r.rater, r.rater_group, r.label]), [
    [paths[0], 'ann', '', '1'],
    [paths[0], 'bob', 'vivid', '2'],
    [paths[0], 'cat', '', '2'],
  ]);
});

test('export --what issues: one row per image in any stored label-issues, image check or outliers analysis, empty where an analysis has none', async () => {
  const { paths } = await setup;
  const run = await exported(['--what', 'issues', '--format', 'jsonl']);
  assert.equal(run.code, 0, run.stderr);
  const rows = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  // Every image check gets its score and flag columns, from its newest analysis (dark: the rerun's 0.1, flagged).
  assert.deepEqual(rows.map((r) => [r.path, r.label_issue, r.label_issue_isIssue, r.dark_score, r.dark, r.blurry_score, r.blurry, r.outlier]), [
    [paths[0], 0.1, 1, null, null, null, null, null],
    [paths[2], 0.8, 0, null, null, null, null, 0.3],
    [paths[5], null, null, 0.1, 1, 0.2, 1, 0.7],
  ]);
});

test('the existing tables export as Parquet too, with SQLite\'s column types', async () => {
  const { dir, paths } = await setup;
  const out = path.join(dir, 'images.parquet');
  const run = await exported(['--what', 'images', '--format', 'parquet', '--out', out]);
  assert.equal(run.code, 0, run.stderr);
  const { rows, types } = await readParquet(out);
  assert.deepEqual(rows.map((r) => r.path), paths);
  assert.deepEqual([types.id, types.width, types.brightness, types.tags], ['INT64', 'INT64', 'DOUBLE', 'BYTE_ARRAY']);
  assert.equal(rows[8]!.rating_mean, null);
  const ratings = path.join(dir, 'ratings.parquet');
  assert.equal((await exported(['--what', 'ratings', '--format', 'parquet', '--out', ratings])).code, 0);
  assert.equal((await readParquet(ratings)).rows.length, 10);
});

test('export refuses bad input with a message naming the fix, and leaves no file behind', async () => {
  const { dir, dbPath, crowdlab } = await setup;
  const empty = await smallLibrary(2);
  empty.db.close();
  const cases: [string[], number, RegExp][] = [
    [['--what', 'everything'], 1, /--what must be one of images, ratings, tags, scores, soft-labels, pseudo-labels, consensus, rater-labels, issues \(got "everything"\)/],
    [['--what', 'soft-labels', '--format', 'xlsx'], 1, /--format must be csv, jsonl or parquet \(got "xlsx"\)/],
    [['--what', 'soft-labels', '--model', 'judge', '--smoothing', '1'], 1, /--smoothing applies to soft labels from ratings/],
    [['--what', 'soft-labels', '--temperature', '2'], 1, /--temperature and --top-k rescale a model's probabilities; add --model NAME/],
    [['--what', 'soft-labels', '--model', 'judge', '--temperature', '0'], 1, /--temperature must be a positive number/],
    [['--what', 'soft-labels', '--model', 'judge', '--top-k', '9'], 1, /--top-k must be a whole number from 1 to 5/],
    [['--what', 'images', '--smoothing', '1'], 1, /--smoothing only applies to the analysis exports/],
    [['--what', 'pseudo-labels', '--analysis', String(crowdlab)], 1, /Analysis \d+ is of kind consensus, not pseudo-labels\. Stored pseudo-labels analyses: \d+ \(/],
    [['--what', 'rater-labels', '--analysis', '1'], 1, /--analysis does not apply to --what rater-labels/],
    [['--what', 'scores', '--model', 'judge', '--format', 'parquet'], 1, /--what scores exports csv or jsonl/],
  ];
  const emptyCases: [string[], RegExp][] = [
    [['--what', 'consensus'], /No consensus analysis is stored in this library yet\. Make one with `miru raters --db D`/],
    [['--what', 'pseudo-labels'], /No pseudo-labels analysis is stored .* `miru pseudo-labels --db D --embedding RUN`/],
    [['--what', 'issues'], /No label issues, image issues or outlier scores are stored .* `miru issues --db D --embedding RUN`/],
    [['--what', 'soft-labels'], /No indexed image has ratings|no ratings/],
    [['--what', 'rater-labels'], /no ratings to export/],
  ];
  const runs = await Promise.all([
    ...cases.map(([args]) => runMiru(['export', '--db', dbPath, ...args])),
    ...emptyCases.map(([args]) => runMiru(['export', '--db', empty.dbPath, ...args, '--out', path.join(empty.dir, 'out.csv')])),
  ]);
  cases.forEach(([args, code, pattern], i) => {
    assert.equal(runs[i]!.code, code, `${args.join(' ')}: exit ${runs[i]!.code}, ${runs[i]!.stderr}`);
    assert.match(runs[i]!.stderr, pattern, args.join(' '));
  });
  emptyCases.forEach(([args, pattern], j) => {
    const run = runs[cases.length + j]!;
    assert.equal(run.code, 1, `${args.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, pattern, args.join(' '));
  });
  assert.equal(existsSync(path.join(empty.dir, 'out.csv')), false, 'a refused export writes no file');
  assert.deepEqual(readdirSync(empty.dir).filter((f) => f.includes('partial')), []);

  const nowhere = await runMiru(['export', '--db', dbPath, '--what', 'soft-labels', '--out', path.join(dir, 'missing', 'x.csv')]);
  assert.equal(nowhere.code, 1);
  assert.match(nowhere.stderr, /Cannot write .*missing.x\.csv: its folder does not exist/);
});

// Last in this file: it changes the shared library's ratings.
test('an export from a stored analysis whose inputs changed since warns, naming the analysis and how to redo it', async () => {
  const { dbPath, ids } = await setup;
  const before = await exported(['--what', 'consensus', '--format', 'jsonl']);
  assert.doesNotMatch(before.stderr, /out of date/);
  const db = openLibrary(dbPath, { mustExist: true });
  db.prepare('UPDATE ratings SET value = value + 1 WHERE image_id = ? AND value < 5').run(ids[0]);
  db.close();
  const after = await exported(['--what', 'consensus', '--format', 'jsonl']);
  assert.equal(after.code, 0);
  assert.match(after.stderr, /Warning: consensus analysis \d+ of .* may be out of date: the ratings changed since\. Run `miru raters --db D`/);
  assert.equal(after.stdout, before.stdout, 'what is stored is still exported');
});
