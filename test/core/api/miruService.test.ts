import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { ApiInputError, ApiNotFoundError, apiErrorStatus, callApi, createMiruService, type MiruService } from '../../../core/api/miruService.js';
import type { HistogramResult, ImagePageResult, ImageSummary, JobInfo, MiruEvent, SaliencyResultDto } from '../../../core/api/apiTypes.js';
import { openLibrary } from '../../../core/library/openLibrary.js';
import { saveSaliency } from '../../../core/explain/explainLibrary.js';
import { writeTestImage } from '../../helpers/images.js';
import { MODEL, MODEL_FILE, scoredLibrary } from './apiFixture.js';

let lib: { dir: string; dbPath: string; images: string };
let service: MiruService;
const events: MiruEvent[] = [];

before(async () => {
  lib = await scoredLibrary();
  service = createMiruService(lib.dbPath, { ep: 'cpu' });
  service.subscribe((e) => events.push(e));
});

after(async () => {
  await service.close();
});

const call = <T>(method: string, input: unknown) => callApi(service, method, input) as Promise<T>;

/** A `*F32` field back to floats (a small Buffer shares a pool, hence the offsets). */
function floats(base64: string): Float32Array {
  const bytes = Buffer.from(base64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

/** Every image with every field the checks need, straight from SQL. */
function allImages(): { id: number; brightness: number | null; ratingMean: number | null; score: number | null; tags: string[] }[] {
  const rows = service.db
    .prepare(
      `SELECT images.id, brightness, rating_mean AS ratingMean,
         (SELECT score FROM scores JOIN runs ON runs.id = scores.run_id JOIN models ON models.id = runs.model_id WHERE models.name = ? AND scores.image_id = images.id) AS score,
         (SELECT group_concat(tag) FROM tags WHERE tags.image_id = images.id) AS tags
       FROM images WHERE status = 'ok' ORDER BY id`,
    )
    .all(MODEL) as { id: number; brightness: number | null; ratingMean: number | null; score: number | null; tags: string | null }[];
  return rows.map((r) => ({ ...r, tags: r.tags ? r.tags.split(',') : [] }));
}

async function listAll(filters: string[], sort: string | undefined, limit: number): Promise<ImageSummary[]> {
  const items: ImageSummary[] = [];
  let after: string | null = null;
  do {
    const page: ImagePageResult = await call('listImages', { filters, sort, limit, after, scoreModel: MODEL });
    items.push(...page.items);
    after = page.next;
  } while (after);
  return items;
}

test('listImages filters and sorts by a model score with keyset paging, and carries each row\'s score', async () => {
  const all = allImages();
  assert.equal(all.length, 24);
  assert.ok(all.every((r) => r.score !== null), 'the fixture scored every image');
  const threshold = [...all.map((r) => r.score!)].sort((a, b) => a - b)[8]!;
  const want = all.filter((r) => r.score! >= threshold).sort((a, b) => b.score! - a.score! || b.id - a.id);
  const got = await listAll([`score:${MODEL}>=${threshold}`], `-score:${MODEL}`, 5);
  assert.deepEqual(got.map((i) => i.id), want.map((r) => r.id));
  assert.deepEqual(got.map((i) => i.score), want.map((r) => r.score));
  const ascending = await listAll([], `score:${MODEL}`, 7);
  assert.deepEqual(ascending.map((i) => i.id), [...all].sort((a, b) => a.score! - b.score! || a.id - b.id).map((r) => r.id));
  const { count } = await call<{ count: number }>('countImages', { filters: [`score:${MODEL}>=${threshold}`] });
  assert.equal(count, want.length);
  const first = got[0]!;
  assert.match(first.hash!, /^[0-9a-f]{16}$/);
  assert.equal(first.status, 'ok');
});

test('histogram counts equal brute-force counts under the other filters, in the worker and in-process', async () => {
  const local = createMiruService(lib.dbPath, { queryWorker: false });
  try {
    const all = allImages();
    const ratedHigh = (r: { ratingMean: number | null }) => r.ratingMean !== null && r.ratingMean >= 3;
    for (const svc of [service, local]) {
      for (const field of ['brightness', 'ratingMean', `score:${MODEL}`]) {
        // The filter on the histogram's own field is left out; the other one applies.
        const filters = ['ratingMean>=3', `${field}>=-1000`];
        const h = (await callApi(svc, 'histogram', { field, filters, bins: 6 })) as HistogramResult;
        const key = field.startsWith('score:') ? 'score' : (field as 'brightness' | 'ratingMean');
        const pool = field === 'ratingMean' ? all : all.filter(ratedHigh);
        const values = pool.map((r) => r[key]);
        assert.equal(h.missing, values.filter((v) => v === null).length, `${field} missing`);
        const present = values.filter((v): v is number => v !== null);
        const everything = all.map((r) => r[key]).filter((v): v is number => v !== null);
        assert.deepEqual([h.min, h.max], [Math.min(...everything), Math.max(...everything)]);
        const expected = h.counts.map((_, i) => present.filter((v) => v >= h.edges[i]! && (i === 5 ? v <= h.edges[6]! : v < h.edges[i + 1]!)).length);
        assert.deepEqual(h.counts, expected, `${field} counts`);
        assert.equal(h.counts.reduce((a, b) => a + b, 0) + h.missing, pool.length);
      }
    }
    // A write by another connection (another process, say) is noticed through data_version.
    const other = openLibrary(lib.dbPath);
    other.prepare(`INSERT INTO tags (image_id, tag, created_at) VALUES (5, 'external', 'now')`).run();
    other.close();
    assert.deepEqual(await call('countImages', { filters: ['tag=external'] }), { count: 1 });
    assert.deepEqual(await callApi(local, 'countImages', { filters: ['tag=external'] }), { count: 1 });
  } finally {
    await local.close();
  }
});

test('imageDetail has ratings per rater and scores per model with class probabilities and labels', async () => {
  const detail = await service.imageDetail({ id: 3 });
  const ratings = service.db.prepare('SELECT raters.name AS rater, value FROM ratings JOIN raters ON raters.id = rater_id WHERE image_id = 3 ORDER BY raters.name').all();
  assert.deepEqual(detail.ratings, ratings);
  assert.ok(detail.ratings.length > 0);
  const score = detail.scores.find((s) => s.model === MODEL)!;
  assert.deepEqual(score.labels, ['1', '2', '3', '4', '5']);
  assert.equal(score.probs!.length, 5);
  assert.ok(Math.abs(score.probs!.reduce((a, b) => a + b, 0) - 1) < 1e-4);
  const expected = score.probs!.reduce((s, p, i) => s + p * (i + 1), 0);
  assert.ok(Math.abs(expected - score.score) < 1e-4, 'the ordinal score is the expected class value');
  assert.equal(detail.path, path.join(lib.images, detail.relPath));
  assert.equal(typeof detail.stats.brightness, 'number');
  await assert.rejects(service.imageDetail({ id: 9999 }), ApiNotFoundError);
});

test('neighbours walk the list order forwards and backwards', async () => {
  const filters = ['ratingCount>=1'];
  const sort = `-score:${MODEL}`;
  const order = (await listAll(filters, sort, 1000)).map((i) => i.id);
  const forward: number[] = [order[0]!];
  for (let id: number | null = order[0]!; ; ) {
    id = (await service.neighbours({ id, filters, sort })).next;
    if (id === null) break;
    forward.push(id);
  }
  assert.deepEqual(forward, order);
  const last = order[order.length - 1]!;
  assert.deepEqual(await service.neighbours({ id: last, filters, sort }), { previous: order[order.length - 2]!, next: null });
  await assert.rejects(call('neighbours', { id: 9999, filters: [] }), ApiNotFoundError);
});

test('tagImages returns exactly the ids that changed, so undo restores the previous state', async () => {
  await service.tagImages({ ids: [2], add: ['keep'] });
  events.length = 0;
  const result = await call<{ changed: Record<string, number[]> }>('tagImages', { ids: [1, 2, 3], add: ['keep', 'outlier'] });
  assert.deepEqual(result.changed, { keep: [1, 3], outlier: [1, 2, 3] });
  assert.deepEqual(events, [{ type: 'library-changed', what: 'tags', ids: [1, 2, 3] }]);
  assert.deepEqual((await call<ImagePageResult>('listImages', { filters: ['tag=keep'], limit: 10 })).items.map((i) => i.id), [1, 2, 3]);
  // Undo: the opposite call with exactly the changed ids.
  const undo = await call<{ changed: Record<string, number[]> }>('tagImages', { ids: result.changed.keep!, remove: ['keep'] });
  assert.deepEqual(undo.changed, { keep: [1, 3] });
  await call('tagImages', { ids: result.changed.outlier!, remove: ['outlier'] });
  const tags = (await call<{ tag: string; count: number }[]>('listTags', {})).filter((t) => t.tag !== 'external');
  assert.deepEqual(tags, [{ tag: 'keep', count: 1 }]);
  // All or nothing: an unknown id changes nothing.
  await assert.rejects(call('tagImages', { ids: [1, 9999], add: ['x'] }), (e: Error) => e instanceof ApiNotFoundError && /9999/.test(e.message));
  assert.equal(service.db.prepare(`SELECT count(*) FROM tags WHERE tag = 'x'`).pluck().get(), 0);
  await assert.rejects(call('tagImages', { ids: [1], add: ['a'], remove: ['a'] }), /both added and removed/);
  await assert.rejects(call('tagImages', { ids: [1], add: ['bad,name'] }), (e: Error) => e instanceof ApiInputError && /add\[0\]/.test(e.message));
  await service.tagImages({ ids: [2], remove: ['keep'] });
});

test('saved views live in the library settings', async () => {
  assert.deepEqual(await call('listViews', {}), []);
  await call('saveView', { name: 'high', query: 'f=score%3Ax%3E3' });
  assert.deepEqual(await call('saveView', { name: 'all', query: '' }), [
    { name: 'all', query: '' },
    { name: 'high', query: 'f=score%3Ax%3E3' },
  ]);
  assert.deepEqual(await call('saveView', { name: 'high', query: 'sort=-brightness' }), [
    { name: 'all', query: '' },
    { name: 'high', query: 'sort=-brightness' },
  ]);
  assert.deepEqual(await call('deleteView', { name: 'all' }), [{ name: 'high', query: 'sort=-brightness' }]);
  await assert.rejects(call('deleteView', { name: 'nope' }), ApiNotFoundError);
});

test('libraryInfo, fields, raters and models describe the library', async () => {
  const info = await service.libraryInfo({});
  assert.equal(info.images, 24);
  assert.deepEqual(info.roots, [lib.images]);
  const fields = await service.fields({});
  assert.ok(fields.some((f) => f.name === `score:${MODEL}` && f.group === 'scores'));
  assert.ok(fields.some((f) => f.name === 'ratingMean' && f.group === 'ratings'));
  const raters = await service.listRaters({});
  assert.equal(raters.length, 4);
  assert.equal(raters.reduce((s, r) => s + r.ratings, 0), info.ratings);
  const [model] = await service.listModels({});
  assert.deepEqual([model!.name, model!.scoredImages, model!.provider], [MODEL, 24, 'cpu']);
});

test('saliency reads a stored map, else computes, stores and then reads it', async () => {
  const model = service.db.prepare<[string], number>('SELECT id FROM models WHERE name = ?').pluck().get(MODEL)!;
  // 1. A map already in the cache comes back as stored, bit for bit.
  const stored = Float32Array.from({ length: 64 }, (_, i) => i / 63);
  saveSaliency(service.db, model, 7, { method: 'eigencam', layer: 'feature_map', target: 'score', params: '{}' }, { method: 'eigencam', layer: 'feature_map', target: 'score', score: 3.5, grid: [8, 8], raw: stored, map: stored, elapsedMs: 12 }, 'cpu');
  const cached = await call<SaliencyResultDto>('saliency', { imageId: 7, model: MODEL, method: 'eigencam' });
  assert.equal(cached.cached, true);
  assert.deepEqual(Array.from(floats(cached.mapF32)), Array.from(stored));
  assert.equal(cached.empty, false);
  // A flat map (all zero after ReLU) says so, so the UI can explain a blank overlay.
  const flat = new Float32Array(64);
  saveSaliency(service.db, model, 9, { method: 'ablationcam', layer: 'feature_map', target: 'score', params: '{}' }, { method: 'ablationcam', layer: 'feature_map', target: 'score', score: 3.5, grid: [8, 8], raw: flat, map: flat, elapsedMs: 12 }, 'cpu');
  assert.equal((await call<SaliencyResultDto>('saliency', { imageId: 9, model: MODEL, method: 'ablationcam' })).empty, true);
  // 2. compute: false only reads.
  await assert.rejects(call('saliency', { imageId: 8, model: MODEL, method: 'eigencam', compute: false }), ApiNotFoundError);
  // 3. Computed on demand, stored, announced, then read from the cache.
  events.length = 0;
  const computed = await call<SaliencyResultDto>('saliency', { imageId: 8, model: MODEL, method: 'eigencam' });
  assert.equal(computed.cached, false);
  assert.deepEqual([computed.layer, computed.target, computed.grid], ['feature_map', 'score', [8, 8]]);
  const map = floats(computed.mapF32);
  assert.equal(map.length, 64);
  assert.ok(map.every((v) => v >= 0 && v <= 1) && Math.max(...map) === 1, 'a 0..1 map');
  assert.deepEqual(events, [{ type: 'library-changed', what: 'saliency', ids: [8] }]);
  const again = await call<SaliencyResultDto>('saliency', { imageId: 8, model: MODEL, method: 'eigencam', compute: false });
  assert.equal(again.cached, true);
  assert.equal(again.mapF32, computed.mapF32);
  await assert.rejects(call('saliency', { imageId: 8, model: MODEL, method: 'telepathy' }), (e: Error) => e instanceof ApiInputError && /method/.test(e.message));
  await assert.rejects(call('saliency', { imageId: 8, model: MODEL, method: 'gradcam', layer: 'no_such_tensor' }), (e: Error) => e instanceof ApiInputError && /layer/.test(e.message));
});

function waitForJob(id: number): Promise<JobInfo[]> {
  const seen: JobInfo[] = [];
  return new Promise((resolve) => {
    const stop = service.subscribe((e) => {
      if (e.type !== 'job' || e.job.id !== id) return;
      seen.push(e.job);
      if (e.job.status !== 'running') {
        stop();
        resolve(seen);
      }
    });
  });
}

test('a score job started through the API runs to completion with progress events', async () => {
  const added = await call<{ name: string; scoredImages: number }>('addModel', { file: MODEL_FILE, name: 'second' });
  assert.deepEqual([added.name, added.scoredImages], ['second', 0]);
  events.length = 0;
  const job = await call<JobInfo>('startJob', { kind: 'score', params: { model: 'second', batch: 4, ep: 'cpu' } });
  const updates = await waitForJob(job.id);
  const last = updates[updates.length - 1]!;
  assert.equal(last.status, 'done', last.error ?? '');
  assert.deepEqual([last.done, last.total, last.secondsLeft], [24, 24, 0]);
  assert.equal((last.summary as { scored: number }).scored, 24);
  assert.ok(updates.some((u) => u.phase === 'infer' && u.total === 24), 'progress events name the phase and total');
  assert.ok(events.some((e) => e.type === 'library-changed' && e.what === 'scores'));
  const page = await call<ImagePageResult>('listImages', { filters: ['score:second>=1'], sort: '-score:second', limit: 30, scoreModel: 'second' });
  assert.equal(page.items.length, 24);
  assert.ok(page.items.every((i) => typeof i.score === 'number'));
  assert.equal((await service.listJobs({}))[0]!.status, 'done');
  const row = service.db.prepare('SELECT kind, status, progress FROM jobs WHERE id = ?').get(job.id);
  assert.deepEqual(row, { kind: 'score', status: 'done', progress: 1 });
});

test('cancel stops a running job after the batch in flight, and a queued one before it starts', async () => {
  const job = await call<JobInfo>('startJob', { kind: 'score', params: { model: 'second', batch: 1, ep: 'cpu', force: true } });
  const queued = await call<JobInfo>('startJob', { kind: 'score', params: { model: MODEL, batch: 1, ep: 'cpu', force: true } });
  assert.equal(queued.phase, 'queued');
  const cancelledQueued = await call<JobInfo>('cancelJob', { id: queued.id });
  assert.equal(cancelledQueued.status, 'cancelled');
  const finished = new Promise<JobInfo>((resolve) => {
    const stop = service.subscribe((e) => {
      if (e.type !== 'job' || e.job.id !== job.id) return;
      // Cancelled as inference starts: the first batch at most is finished, the run stays partial.
      if (e.job.status === 'running' && e.job.phase === 'infer') void call('cancelJob', { id: job.id });
      if (e.job.status !== 'running') {
        stop();
        resolve(e.job);
      }
    });
  });
  const last = await finished;
  assert.equal(last.status, 'cancelled');
  assert.ok(last.done < 24, `stopped early (${last.done} of 24)`);
  assert.equal((last.summary as { status: string }).status, 'partial');
  await assert.rejects(call('cancelJob', { id: 12345 }), ApiNotFoundError);
});

test('an index job lists per-file failures', async () => {
  const folder = path.join(lib.dir, 'more');
  await writeTestImage(path.join(folder, 'good.png'), { seed: 3 });
  writeFileSync(path.join(folder, 'broken.png'), 'not a png at all');
  const job = await call<JobInfo>('startJob', { kind: 'index', params: { roots: [folder] } });
  const updates = await waitForJob(job.id);
  const last = updates[updates.length - 1]!;
  assert.equal(last.status, 'done');
  assert.equal(last.failures.length, 1);
  assert.equal(last.failures[0]!.path, path.join(folder, 'broken.png'));
  assert.match(last.failures[0]!.error, /not an image|corrupt|truncated/);
  assert.equal((await service.libraryInfo({})).images, 25);
  assert.deepEqual(await call('countImages', { filters: ['path~good'] }), { count: 1 }, 'counts follow the index job');
});

test('callApi refuses unknown methods and malformed or oversized input, naming the field', async () => {
  const refused = async (method: string, input: unknown, field: RegExp) => {
    await assert.rejects(callApi(service, method, input), (e: Error) => {
      assert.ok(e instanceof ApiInputError, `${method}: ${e.message}`);
      assert.equal(apiErrorStatus(e), 400);
      assert.match(e.message, field);
      return true;
    });
  };
  await refused('dropTables', {}, /invalid method: unknown API method/);
  await refused('subscribe', {}, /invalid method/);
  await refused('__proto__', {}, /invalid method/);
  await refused('listImages', { filters: [], limit: 1001 }, /invalid limit/);
  await refused('listImages', { filters: [], limit: 0 }, /invalid limit/);
  await refused('listImages', { filters: Array(65).fill('brightness>0'), limit: 5 }, /invalid filters/);
  await refused('listImages', { filters: ['x'.repeat(513)], limit: 5 }, /invalid filters\[0\]/);
  await refused('listImages', { filters: ['loudness>3'], limit: 5 }, /invalid filters\[0\]: .*Unknown field "loudness"/);
  await refused('listImages', { filters: ['brightness>0', 'rater=zed'], limit: 5 }, /invalid filters\[1\]: unknown rater "zed"/);
  await refused('listImages', { filters: ['score:nope>1'], limit: 5 }, /invalid filters\[0\]: unknown model "nope"/);
  await refused('listImages', { filters: [], limit: 5, sort: '-nothing' }, /invalid sort/);
  await refused('listImages', { filters: [], limit: 5, after: 'garbage' }, /invalid after: .*damaged/);
  await refused('listImages', { filters: [], limit: 5, evil: true }, /invalid evil: unknown key/);
  await refused('listImages', { limit: 5 }, /invalid filters/);
  await refused('listImages', null, /invalid input/);
  await refused('histogram', { field: 'brightness', filters: [], bins: 0 }, /invalid bins/);
  await refused('histogram', { field: 'brightness', filters: [], bins: 201 }, /invalid bins/);
  await refused('histogram', { field: 'score:nope', filters: [], bins: 5 }, /invalid field/);
  await refused('tagImages', { ids: [1] }, /name at least one tag/);
  await refused('tagImages', { ids: [], add: ['a'] }, /invalid ids/);
  await refused('tagImages', { ids: [1.5], add: ['a'] }, /invalid ids\[0\]/);
  await refused('tagImages', { ids: Array(100_001).fill(1), add: ['a'] }, /invalid ids/);
  await refused('imageDetail', { id: '3' }, /invalid id/);
  await refused('imageDetail', { id: -1 }, /invalid id/);
  await refused('startJob', { kind: 'score', params: {} }, /invalid params\.model/);
  await refused('startJob', { kind: 'score', params: { model: 'nope' } }, /invalid params\.model: No model named "nope"/);
  await refused('startJob', { kind: 'index', params: { roots: ['/definitely/not/here'] } }, /invalid params\.roots\[0\]/);
  await refused('startJob', { kind: 'explain', params: { model: MODEL, method: 'gradcam', filters: ['nope'] } }, /invalid filters\[0\]/);
  await refused('startJob', { kind: 'format-disk', params: {} }, /invalid kind/);
  await refused('saveView', { name: '', query: '' }, /invalid name/);
  await refused('libraryInfo', { extra: 1 }, /invalid extra: unknown key/);
});
