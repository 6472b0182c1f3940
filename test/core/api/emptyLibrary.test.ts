import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { callApi, createMiruService, type MiruService } from '../../../core/api/miruService.js';
import type { FieldInfo, HistogramResult, ImageDetail, ImagePageResult } from '../../../core/api/apiTypes.js';
import { tempDir } from '../../helpers/paths.js';
import { smallLibrary } from '../../helpers/library.js';

/**
 * The API on libraries with nothing (yet) to show, which the UI's empty states are built on: every listing, count
 * and histogram answers with an empty value instead of an error, and what cannot exist is a 404 or a refusal that
 * says what is missing.
 */
let empty: MiruService;
let unscored: MiruService;
let unscoredImages: number;

before(async () => {
  empty = createMiruService(path.join(tempDir('miru-empty-'), 'new.db'));
  const lib = await smallLibrary(4);
  lib.db.close();
  unscoredImages = 4;
  unscored = createMiruService(lib.dbPath);
});

after(async () => {
  await empty.close();
  await unscored.close();
});

const call = <T>(service: MiruService, method: string, input: unknown) => callApi(service, method, input) as Promise<T>;

test('a new library lists, counts and charts nothing, without errors', async () => {
  const info = await call<{ images: number; errors: number; missing: number; roots: string[] }>(empty, 'libraryInfo', {});
  assert.deepEqual([info.images, info.errors, info.missing, info.roots], [0, 0, 0, []]);
  for (const sort of [undefined, '-ratingMean', 'brightness', '-id']) {
    assert.deepEqual(await call<ImagePageResult>(empty, 'listImages', { filters: [], sort, limit: 50 }), { items: [], next: null });
    assert.deepEqual(await call<ImagePageResult>(empty, 'listImages', { filters: ['tag=keep'], sort, limit: 50, offset: 1000 }), { items: [], next: null });
  }
  assert.deepEqual(await call(empty, 'countImages', { filters: [] }), { count: 0 });
  const histogram = await call<HistogramResult>(empty, 'histogram', { field: 'brightness', filters: [], bins: 8 });
  assert.deepEqual(histogram, { field: 'brightness', min: null, max: null, edges: [], counts: new Array(8).fill(0), missing: 0 });
  const fields = await call<FieldInfo[]>(empty, 'fields', {});
  assert.ok(fields.length > 0 && fields.every((f) => f.group !== 'scores'), 'numeric fields, no scores');
  for (const method of ['listModels', 'listTags', 'listRaters', 'listJobs', 'listViews']) assert.deepEqual(await call(empty, method, {}), [], method);
});

test('a new library answers 404 for images that cannot exist, and tags nothing', async () => {
  await assert.rejects(call(empty, 'imageDetail', { id: 1 }), { status: 404, message: 'No image with id 1 in this library.' });
  await assert.rejects(call(empty, 'neighbours', { id: 1, filters: [] }), { status: 404 });
  await assert.rejects(call(empty, 'tagImages', { ids: [1, 2], add: ['keep'] }), /No image with id 1, 2; nothing was tagged/);
  assert.deepEqual(await call(empty, 'listTags', {}), []);
});

test('images without models: rows carry no score, and anything naming a model says there is none', async () => {
  const page = await call<ImagePageResult>(unscored, 'listImages', { filters: [], limit: 50, scoreModel: null });
  assert.equal(page.items.length, unscoredImages);
  assert.ok(page.items.every((i) => i.score === null));
  assert.deepEqual(await call(unscored, 'listModels', {}), []);
  assert.ok((await call<FieldInfo[]>(unscored, 'fields', {})).every((f) => f.group !== 'scores'));
  const detail = await call<ImageDetail>(unscored, 'imageDetail', { id: page.items[0]!.id });
  assert.deepEqual(detail.scores, []);
  assert.deepEqual(detail.ratings, []);
  await assert.rejects(call(unscored, 'listImages', { filters: [], limit: 5, sort: '-score:aesthetic' }), /listImages: invalid sort: unknown model "aesthetic"/);
  await assert.rejects(call(unscored, 'listImages', { filters: ['score:aesthetic>=3'], limit: 5 }), /invalid filters\[0\]: unknown model "aesthetic" \(models: none yet\)/);
  await assert.rejects(call(unscored, 'histogram', { field: 'score:aesthetic', filters: [], bins: 4 }), /histogram: invalid field: unknown model "aesthetic"/);
  await assert.rejects(call(unscored, 'startJob', { kind: 'score', params: { model: 'aesthetic' } }), (e: Error & { status?: number }) => e.status === 400 && /params\.model/.test(e.message));
  // Unrated images: the mean rating histogram counts them as missing, not as zeros.
  const ratings = await call<HistogramResult>(unscored, 'histogram', { field: 'ratingMean', filters: [], bins: 4 });
  assert.deepEqual([ratings.min, ratings.max, ratings.missing], [null, null, unscoredImages]);
});
