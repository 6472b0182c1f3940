import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { callApi, createMiruService, type MiruService } from '../../../core/api/miruService.js';
import type { AnalysisDetail, AnalysisInfo, FieldValues, HistogramResult, ImagePageResult, ProjectionPoints } from '../../../core/api/apiTypes.js';
import { startHttpHost, type HttpHost } from '../../../core/api/httpHost.js';
import { decodeFrame, FRAME_CONTENT_TYPE } from '../../../core/api/binaryFrame.js';
import { saveAnalysis } from '../../../core/analysis/analysisStore.js';
import { repoRoot } from '../../helpers/paths.js';
import { MODEL, scoredLibrary } from './apiFixture.js';

let service: MiruService;
let host: HttpHost;
let ids: number[];
let projection: number;
let outliers: number;
const call = <T>(method: string, input: unknown) => callApi(service, method, input) as Promise<T>;

before(async () => {
  const lib = await scoredLibrary();
  service = createMiruService(lib.dbPath, { ep: 'cpu', queryWorker: false });
  host = await startHttpHost(service, { token: 'secret', rendererDir: path.join(repoRoot, 'dist', 'renderer') });
  ids = service.db.prepare(`SELECT id FROM images WHERE status = 'ok' ORDER BY id`).pluck().all() as number[];
  // A projection laid out on a line: image i at (i, -i). One image has no point (a partial projection).
  projection = saveAnalysis(service.db, {
    kind: 'projection',
    sourceRunId: null,
    params: { method: 'pca' },
    summary: {},
    values: ids.slice(0, -1).map((imageId, i) => ({ imageId, value: null, extra: Float32Array.of(i, -i) })),
  });
  outliers = saveAnalysis(service.db, { kind: 'outliers', sourceRunId: null, params: { k: 3 }, summary: { k: 3 }, values: ids.slice(0, 5).map((imageId, i) => ({ imageId, value: i * 0.5 })) });
  await call('tagImages', { ids: [ids[2]], add: ['keep'] });
});

after(async () => {
  await host.close();
  await service.close();
});

test('stored analyses are listed by kind, with their detail', async () => {
  const all = await call<AnalysisInfo[]>('listAnalyses', {});
  assert.deepEqual(new Set(all.map((a) => a.id)), new Set([projection, outliers]));
  const maps = await call<AnalysisInfo[]>('listAnalyses', { kind: 'projection' });
  assert.deepEqual(maps.map((a) => [a.id, a.count, a.params.method]), [[projection, ids.length - 1, 'pca']]);
  const detail = await call<AnalysisDetail>('analysisDetail', { id: outliers });
  assert.deepEqual(detail.summary, { k: 3 });
  assert.deepEqual(all.map((a) => a.stale), [[], []]);
  await assert.rejects(call('analysisDetail', { id: 999 }), /No stored analysis with id 999/);
});

test('an analysis whose inputs changed since is listed with why (a rating change touches only rating-based kinds)', async () => {
  const consensus = saveAnalysis(service.db, { kind: 'consensus', sourceRunId: null, params: { method: 'mean' }, summary: {}, values: [{ imageId: ids[0]!, value: 3 }] });
  const rater = Number(service.db.prepare(`INSERT INTO raters (name) VALUES ('late-rater')`).run().lastInsertRowid);
  service.db.prepare('INSERT INTO ratings (image_id, rater_id, value) VALUES (?, ?, 4)').run(ids[0], rater);
  try {
    const stale = Object.fromEntries((await call<AnalysisInfo[]>('listAnalyses', {})).map((a) => [a.id, a.stale]));
    assert.deepEqual(stale, { [projection]: [], [outliers]: [], [consensus]: ['the ratings changed since'] });
  } finally {
    service.db.prepare('DELETE FROM ratings WHERE rater_id = ?').run(rater);
    service.db.prepare('DELETE FROM raters WHERE id = ?').run(rater);
    service.db.prepare('DELETE FROM analyses WHERE id = ?').run(consensus);
  }
});

test('a projection comes as typed arrays, and colour values align with its points', async () => {
  const points = await call<ProjectionPoints>('projectionPoints', { analysisId: projection });
  assert.ok(points.ids instanceof Int32Array && points.xy instanceof Float32Array);
  assert.deepEqual([...points.ids], ids.slice(0, -1));
  assert.deepEqual([...points.xy.subarray(0, 6)], [0, -0, 1, -1, 2, -2]);
  await assert.rejects(call('projectionPoints', { analysisId: outliers }), /analysis \d+ is a outliers, not a projection/);

  const byTag = await call<FieldValues>('fieldValues', { field: 'tag:keep', analysisId: projection });
  assert.equal(byTag.scale, 'binary');
  assert.deepEqual([...byTag.values].map((v, i) => (v ? i : -1)).filter((i) => i >= 0), [2]);
  const byOutlier = await call<FieldValues>('fieldValues', { field: `analysis:${outliers}`, analysisId: projection });
  assert.deepEqual([...byOutlier.values.subarray(0, 5)], [0, 0.5, 1, 1.5, 2]);
  assert.ok(Number.isNaN(byOutlier.values[5]!), 'images without a value are NaN');
  const byScore = await call<FieldValues>('fieldValues', { field: `score:${MODEL}`, analysisId: projection });
  const scores = service.db.prepare(`SELECT s.score FROM scores s WHERE s.image_id = ? ORDER BY s.run_id DESC LIMIT 1`).pluck();
  assert.ok(Math.abs(byScore.values[3]! - (scores.get(ids[3]) as number)) < 1e-5);
  const byRating = await call<FieldValues>('fieldValues', { field: 'ratingMean', analysisId: projection });
  const mean = service.db.prepare('SELECT rating_mean FROM images WHERE id = ?').pluck().get(ids[0]) as number | null;
  assert.equal(Number.isNaN(byRating.values[0]!) ? null : Math.fround(byRating.values[0]!), mean === null ? null : Math.fround(mean));
  // A rater group's mean rating per image, against SQL.
  const members = service.db.prepare('SELECT id FROM raters ORDER BY id LIMIT 2').pluck().all() as number[];
  for (const r of members) service.db.prepare(`INSERT OR REPLACE INTO rater_groups (rater_id, group_name) VALUES (?, 'pair')`).run(r);
  const byGroup = await call<FieldValues>('fieldValues', { field: 'raterGroup:pair', analysisId: projection });
  const groupMean = service.db.prepare(`SELECT avg(value) FROM ratings WHERE image_id = ? AND rater_id IN (${members.join(',')})`).pluck();
  ids.slice(0, -1).forEach((id, i) => {
    const want = groupMean.get(id) as number | null;
    if (want === null) assert.ok(Number.isNaN(byGroup.values[i]!), `image ${id} has no rating by the group`);
    else assert.ok(Math.abs(byGroup.values[i]! - want) < 1e-5, `image ${id}: ${byGroup.values[i]} vs ${want}`);
  });
  assert.ok(byGroup.values.some(Number.isFinite), 'some images were rated by the group');
  await assert.rejects(call('fieldValues', { field: 'nonsense', analysisId: projection }), /invalid field: Unknown field "nonsense"/);
  await assert.rejects(call('fieldValues', { field: 'raterGroup:nobody', analysisId: projection }), /no rater group named "nobody"/);
  await assert.rejects(call('fieldValues', { field: 'score:ghost', analysisId: projection }), /Unknown model "ghost"/);
});

test('a lasso over the stored points becomes a selection; the same set keeps its id', async () => {
  // Points (i, -i): the box x in [1.5, 4.5] holds points 2, 3 and 4.
  const polygon = [1.5, 0, 4.5, 0, 4.5, -10, 1.5, -10];
  const saved = await call<{ id: number; count: number }>('saveSelection', { analysisId: projection, polygon });
  assert.equal(saved.count, 3);
  const members = service.db.prepare('SELECT image_id FROM analysis_values WHERE analysis_id = ? ORDER BY image_id').pluck().all(saved.id);
  assert.deepEqual(members, ids.slice(2, 5));
  assert.deepEqual(await call('saveSelection', { analysisId: projection, polygon }), saved);
  // The selection filter lists exactly its images, in listings, counts and histograms alike.
  const page = await call<ImagePageResult>('listImages', { filters: [`selection=${saved.id}`], limit: 100 });
  assert.deepEqual(page.items.map((i) => i.id), ids.slice(2, 5));
  assert.deepEqual(await call('countImages', { filters: [`selection=${saved.id}`, 'tag=keep'] }), { count: 1 });
  const histogram = await call<HistogramResult>('histogram', { field: 'brightness', filters: [`selection=${saved.id}`], bins: 4 });
  assert.equal(histogram.counts.reduce((a, b) => a + b, 0) + histogram.missing, 3);
  await assert.rejects(call('listImages', { filters: ['selection=99999'], limit: 10 }), /filters\[0\]: no stored selection with id 99999/);
  const byIds = await call<{ id: number; count: number }>('saveSelection', { ids: [ids[0], ids[1], ids[0]] });
  assert.equal(byIds.count, 2);
  await assert.rejects(call('saveSelection', { analysisId: projection, polygon: [100, 100, 101, 100, 101, 101] }), /invalid polygon: the selection is empty/);
  await assert.rejects(call('saveSelection', { analysisId: projection, polygon: [1, 2, 3] }), /invalid polygon/);
  await assert.rejects(call('saveSelection', { ids: [ids[0], 987654] }), /invalid ids: 1 of the ids name no image/);
  await assert.rejects(call('saveSelection', { ids: [] }), /invalid/);
});

test('over HTTP a projection arrives as one binary frame', async () => {
  const response = await fetch(`http://127.0.0.1:${host.port}/api/projectionPoints`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-miru-token': 'secret' },
    body: JSON.stringify({ analysisId: projection }),
  });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), FRAME_CONTENT_TYPE);
  const decoded = decodeFrame(await response.arrayBuffer()) as unknown as ProjectionPoints;
  assert.deepEqual([...decoded.ids], ids.slice(0, -1));
  assert.equal(decoded.xy[9], -4);
  // Errors stay JSON.
  const missing = await fetch(`http://127.0.0.1:${host.port}/api/projectionPoints`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-miru-token': 'secret' },
    body: JSON.stringify({ analysisId: 4242 }),
  });
  assert.equal(missing.status, 404);
  assert.match(((await missing.json()) as { error: { message: string } }).error.message, /No stored analysis with id 4242/);
});
