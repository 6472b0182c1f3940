import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { utimesSync } from 'node:fs';
import { canonicalParams, findAnalysis, getAnalysis, getAnalysisWithModel, listAnalyses, listAnalysesWithModel, readAnalysisValues, saveAnalysis, staleReasons } from '../../../core/analysis/analysisStore.js';
import { indexLibrary } from '../../../core/library/indexLibrary.js';
import { cacheDirFor } from '../../../core/library/openLibrary.js';
import { writeTestImage } from '../../helpers/images.js';
import { loadEmbeddings, resolveEmbeddingRun } from '../../../core/analysis/embeddingMatrix.js';
import { smallLibrary } from '../../helpers/library.js';

test('canonical params ignore key order at every level', () => {
  assert.equal(canonicalParams({ b: 1, a: { d: 2, c: [3, { f: 1, e: 0 }] } }), canonicalParams({ a: { c: [3, { e: 0, f: 1 }], d: 2 }, b: 1 }));
  assert.notEqual(canonicalParams({ a: 1 }), canonicalParams({ a: 2 }));
});

test('an analysis is stored with its values, found by recipe, and replaced by a rerun of the same recipe', async () => {
  const { db } = await smallLibrary(4);
  const ids = db.prepare('SELECT id FROM images ORDER BY id').pluck().all() as number[];
  const first = saveAnalysis(db, {
    kind: 'outliers',
    sourceRunId: null,
    params: { k: 5, metric: 'cosine' },
    summary: { note: 'first' },
    values: ids.map((imageId, i) => ({ imageId, value: i / 10, extra: i === 0 ? Float32Array.of(1.5, -2) : null })),
  });
  const other = saveAnalysis(db, { kind: 'outliers', sourceRunId: null, params: { k: 10, metric: 'cosine' }, summary: {}, values: [{ imageId: ids[0]!, value: Number.NaN }] });
  assert.equal(findAnalysis(db, 'outliers', null, { metric: 'cosine', k: 5 })?.id, first);
  const values = readAnalysisValues(db, first);
  assert.deepEqual(values.map((v) => v.value), ids.map((_, i) => i / 10));
  assert.deepEqual([...values[0]!.extra!], [1.5, -2]);
  assert.equal(values[1]!.extra, null);
  // NaN is not a value: stored as none.
  assert.equal(readAnalysisValues(db, other)[0]!.value, null);

  const again = saveAnalysis(db, { kind: 'outliers', sourceRunId: null, params: { metric: 'cosine', k: 5 }, summary: { note: 'second' }, values: [{ imageId: ids[1]!, value: 9 }] });
  assert.notEqual(again, first);
  assert.equal(getAnalysis(db, first), null, 'the earlier result of the same recipe is gone');
  assert.equal(getAnalysis(db, again)?.summary.note, 'second');
  assert.equal(getAnalysis(db, again)?.count, 1);
  assert.deepEqual(listAnalyses(db, { kind: 'outliers' }).map((a) => a.id).sort(), [again, other].sort());
  assert.equal(db.prepare('SELECT count(*) FROM analysis_values WHERE analysis_id = ?').pluck().get(first), 0, 'its values went with it');
  db.close();
});

test('the value count is stored with the values, stays right when a recipe is replaced, and comes with the model name', async () => {
  const { db } = await smallLibrary(5);
  const ids = db.prepare('SELECT id FROM images ORDER BY id').pluck().all() as number[];
  const now = new Date().toISOString();
  db.prepare(`INSERT INTO models (id, name, path, sha256, card, added_at) VALUES (1, 'backbone', 'b.onnx', 'x', '{}', ?)`).run(now);
  db.prepare(`INSERT INTO runs (id, model_id, kind, params, status, created_at, updated_at) VALUES (3, 1, 'embed', '{}', 'complete', ?, ?)`).run(now, now);
  const stored = (id: number) => db.prepare('SELECT value_count FROM analyses WHERE id = ?').pluck().get(id);
  const actual = (id: number) => db.prepare('SELECT count(*) FROM analysis_values WHERE analysis_id = ?').pluck().get(id);

  // A generator is counted as it is consumed; values of null still count (they are rows).
  function* values(n: number) {
    for (let i = 0; i < n; i++) yield { imageId: ids[i]!, value: i === 0 ? null : i };
  }
  const projected = saveAnalysis(db, { kind: 'projection', sourceRunId: 3, params: { dims: 2 }, summary: {}, values: values(5) });
  const consensus = saveAnalysis(db, { kind: 'consensus', sourceRunId: null, params: {}, summary: {}, values: values(2) });
  const empty = saveAnalysis(db, { kind: 'outliers', sourceRunId: 3, params: { k: 1 }, summary: {}, values: [] });
  for (const [id, n] of [[projected, 5], [consensus, 2], [empty, 0]] as const) {
    assert.equal(stored(id), n);
    assert.equal(actual(id), n);
    assert.equal(getAnalysis(db, id)?.count, n);
  }
  assert.equal(findAnalysis(db, 'projection', 3, { dims: 2 })?.count, 5);

  const replaced = saveAnalysis(db, { kind: 'projection', sourceRunId: 3, params: { dims: 2 }, summary: {}, values: values(3) });
  assert.equal(findAnalysis(db, 'projection', 3, { dims: 2 })?.count, 3);
  assert.equal(stored(replaced), actual(replaced));
  assert.deepEqual(
    listAnalyses(db).map((a) => [a.id, a.count]).sort((a, b) => a[0]! - b[0]!),
    [[consensus, 2], [empty, 0], [replaced, 3]],
  );
  // A failed replacement keeps the old count with the old values.
  assert.throws(() => saveAnalysis(db, { kind: 'projection', sourceRunId: 3, params: { dims: 2 }, summary: {}, values: [{ imageId: ids[0]!, value: 1 }, { imageId: ids[0]!, value: 2 }] }), /UNIQUE|PRIMARY KEY/);
  assert.equal(getAnalysis(db, replaced)?.count, 3);

  const withModel = new Map(listAnalysesWithModel(db).map((a) => [a.id, a]));
  assert.equal(withModel.get(replaced)?.model, 'backbone');
  assert.equal(withModel.get(replaced)?.count, 3);
  assert.equal(withModel.get(consensus)?.model, null, 'no source run: no model');
  assert.deepEqual(listAnalysesWithModel(db, { kind: 'outliers' }).map((a) => a.id), [empty]);
  assert.equal(getAnalysisWithModel(db, empty)?.model, 'backbone');
  assert.equal(getAnalysisWithModel(db, 99_999), null);
  assert.equal('model' in getAnalysis(db, empty)!, false, 'plain records keep their shape');
  db.close();
});

test('a save that fails part way leaves the earlier result of that recipe whole', async () => {
  const { db } = await smallLibrary(3);
  const ids = db.prepare('SELECT id FROM images ORDER BY id').pluck().all() as number[];
  const kept = saveAnalysis(db, { kind: 'consensus', sourceRunId: null, params: {}, summary: {}, values: ids.map((imageId) => ({ imageId, value: 3 })) });
  function* failing() {
    yield { imageId: ids[0]!, value: 1 };
    throw new Error('the producer failed');
  }
  assert.throws(() => saveAnalysis(db, { kind: 'consensus', sourceRunId: null, params: {}, summary: {}, values: failing() }), /producer failed/);
  assert.equal(getAnalysis(db, kept)?.count, ids.length);
  // An unknown image id violates the foreign key: refused, and the earlier result survives too.
  assert.throws(() => saveAnalysis(db, { kind: 'consensus', sourceRunId: null, params: {}, summary: {}, values: [{ imageId: 99_999, value: 1 }] }), /FOREIGN KEY/);
  assert.equal(getAnalysis(db, kept)?.count, ids.length);
  db.close();
});

test('embedding runs resolve by id or model name, and bad vectors are refused with the image named', async () => {
  const { db } = await smallLibrary(4);
  const ids = db.prepare('SELECT id FROM images ORDER BY id').pluck().all() as number[];
  const now = new Date().toISOString();
  db.prepare(`INSERT INTO models (id, name, path, sha256, card, added_at) VALUES (1, 'm', 'm.onnx', 'x', '{}', ?)`).run(now);
  db.prepare(`INSERT INTO runs (id, model_id, kind, params, status, created_at, updated_at) VALUES (7, 1, 'embed', '{"output":"e"}', 'complete', ?, ?)`).run(now, now);
  const put = db.prepare('INSERT OR REPLACE INTO embeddings (run_id, image_id, vector) VALUES (7, ?, ?)');
  ids.forEach((id, i) => put.run(id, Buffer.from(Float32Array.of(i, i + 1, i + 2).buffer)));

  assert.equal(resolveEmbeddingRun(db, 'm').runId, 7);
  assert.equal(resolveEmbeddingRun(db, '7').runId, 7);
  assert.throws(() => resolveEmbeddingRun(db, 'nope'), /No embedding run "nope"\. Known embedding runs: 7 \(m, 4 vectors\)/);
  const matrix = loadEmbeddings(db, 7);
  assert.equal(matrix.dim, 3);
  assert.deepEqual([...matrix.imageIds], ids);
  assert.deepEqual([...matrix.vectors.subarray(3, 6)], [1, 2, 3]);
  assert.deepEqual([...loadEmbeddings(db, 'm', [ids[2]!]).imageIds], [ids[2]]);

  put.run(ids[1], Buffer.from(Float32Array.of(0, Number.NaN, 1).buffer));
  assert.throws(() => loadEmbeddings(db, 7), new RegExp(`the vector of image ${ids[1]} holds NaN`));
  put.run(ids[1], Buffer.from(Float32Array.of(0, 1).buffer));
  assert.throws(() => loadEmbeddings(db, 7), new RegExp(`image ${ids[1]} has 2 values, the others 3`));
  db.close();
});

test('a stored analysis knows when its inputs changed: ratings for rating-based kinds, re-read or new images for all', async () => {
  const { db, dir, images } = await smallLibrary(4);
  const ids = db.prepare('SELECT id FROM images ORDER BY id').pluck().all() as number[];
  db.prepare(`INSERT INTO raters (name) VALUES ('ann'), ('bob')`).run();
  const rate = db.prepare('INSERT OR REPLACE INTO ratings (image_id, rater_id, value) VALUES (?, ?, ?)');
  ids.forEach((id, i) => (rate.run(id, 1, 1 + i), rate.run(id, 2, 4 - i)));
  const save = (kind: 'consensus' | 'outliers') => getAnalysis(db, saveAnalysis(db, { kind, sourceRunId: null, params: {}, summary: {}, values: ids.map((imageId) => ({ imageId, value: 1 })) }))!;
  let consensus = save('consensus');
  let outliers = save('outliers');
  assert.deepEqual([staleReasons(db, consensus), staleReasons(db, outliers)], [[], []]);

  rate.run(ids[0], 1, 5); // one rating changed, the count did not
  assert.deepEqual(staleReasons(db, consensus), ['the ratings changed since']);
  assert.deepEqual(staleReasons(db, outliers), [], 'outlier scores do not read ratings');
  consensus = save('consensus');
  outliers = save('outliers');

  // A file replaced by other content is re-read by the next index.
  await writeTestImage(path.join(images, 'img1.png'), { seed: 77, width: 40, height: 40 });
  utimesSync(path.join(images, 'img1.png'), new Date(), new Date(Date.now() + 5000));
  await indexLibrary(db, [images], { cacheDir: cacheDirFor(path.join(dir, 'lib.db')) });
  assert.deepEqual(staleReasons(db, outliers), ['images were added, removed or re-read since']);
  assert.deepEqual(staleReasons(db, consensus), ['images were added, removed or re-read since']);
  // Analyses stored before Miru kept a basis cannot tell, and say nothing.
  db.prepare(`UPDATE analyses SET summary = json_remove(summary, '$.basis') WHERE id = ?`).run(outliers.id);
  assert.deepEqual(staleReasons(db, getAnalysis(db, outliers.id)!), []);
  db.close();
});
