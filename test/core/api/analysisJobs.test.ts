import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ApiInputError, callApi, createMiruService, type MiruService } from '../../../core/api/miruService.js';
import type { AnalysisInfo, MiruEvent, ProjectionPoints } from '../../../core/api/apiTypes.js';
import { embedLibrary } from '../../../core/models/embedLibrary.js';
import { MODEL, runJob as runFixtureJob, scoredLibrary } from './apiFixture.js';

let service: MiruService;
const events: MiruEvent[] = [];
const call = <T>(method: string, input: unknown) => callApi(service, method, input) as Promise<T>;

before(async () => {
  const lib = await scoredLibrary();
  service = createMiruService(lib.dbPath, { ep: 'cpu', queryWorker: false });
  await embedLibrary(service.db, MODEL, { ep: 'cpu' });
  service.subscribe((e) => events.push(e));
});

after(async () => {
  await service.close();
});

const runJob = (kind: string, params: Record<string, unknown>) => runFixtureJob(service, kind, params);

test('map, outlier and duplicate jobs store analyses the map and colour calls then read', async () => {
  events.length = 0;
  const project = await runJob('project', { embedding: MODEL, method: 'umap', neighbors: 5, seed: 3 });
  assert.equal(project.status, 'done', project.error ?? '');
  const mapId = (project.summary as { analysisId: number }).analysisId;
  const points = await call<ProjectionPoints>('projectionPoints', { analysisId: mapId });
  assert.equal(points.ids.length, 24);
  assert.ok([...points.xy].every(Number.isFinite));
  assert.ok(events.some((e) => e.type === 'library-changed' && e.what === 'analyses'), 'the UI hears that analyses changed');

  const outliers = await runJob('outliers', { embedding: MODEL, k: 5 });
  assert.equal(outliers.status, 'done', outliers.error ?? '');
  const duplicates = await runJob('duplicates', { embedding: MODEL });
  assert.equal(duplicates.status, 'done', duplicates.error ?? '');
  const kinds = (await call<AnalysisInfo[]>('listAnalyses', {})).map((a) => a.kind).sort();
  assert.deepEqual(kinds, ['near-duplicates', 'outliers', 'projection']);
  const colours = await call<{ values: Float32Array }>('fieldValues', { field: `analysis:${(outliers.summary as { analysisId: number }).analysisId}`, analysisId: mapId });
  assert.ok([...colours.values].every((v) => Number.isFinite(v) && v >= 0), 'every point has an outlier score');
});

test('the rater analysis runs as a job and stores its consensus', async () => {
  const job = await runJob('raters', { clusters: 'auto' });
  assert.equal(job.status, 'done', job.error ?? '');
  const summary = job.summary as { raters: number; ratings: number; alpha: Record<string, number | null> };
  assert.equal(summary.raters, 4);
  assert.ok(summary.ratings > 0);
  assert.ok(summary.alpha.interval !== null);
  assert.ok((await call<AnalysisInfo[]>('listAnalyses', { kind: 'consensus' })).length === 1);
});

test('pseudo-labels run as a job over the kNN graph of an embedding run, with the held-out check', async () => {
  const job = await runJob('pseudo-labels', { method: 'propagation', embedding: MODEL, k: 5, holdout: 0.25 });
  assert.equal(job.status, 'done', job.error ?? '');
  const summary = job.summary as { analysisId: number; labelled: number; holdout: { accuracy: number | null } | null };
  assert.ok(summary.labelled > 0);
  assert.ok(summary.holdout !== null, 'the held-out check ran');
  const stored = await call<AnalysisInfo[]>('listAnalyses', { kind: 'pseudo-labels' });
  assert.deepEqual(stored.map((a) => a.id), [summary.analysisId]);
  await assert.rejects(call('startJob', { kind: 'pseudo-labels', params: { method: 'propagation' } }), (e: Error) => e instanceof ApiInputError && /params\.embedding: label propagation needs an embedding run/.test(e.message));
  await assert.rejects(call('startJob', { kind: 'pseudo-labels', params: { method: 'threshold' } }), (e: Error) => e instanceof ApiInputError && /params\.model/.test(e.message));
  await assert.rejects(call('startJob', { kind: 'pseudo-labels', params: { method: 'propagation', embedding: MODEL, alpha: 1 } }), (e: Error) => e instanceof ApiInputError && /params\.alpha/.test(e.message));
});

test('bad analysis job parameters are refused before a job is queued', async () => {
  await assert.rejects(call('startJob', { kind: 'project', params: { embedding: 'nope', method: 'umap' } }), (e: Error) => e instanceof ApiInputError && /params\.embedding: No embedding run "nope"/.test(e.message));
  await assert.rejects(call('startJob', { kind: 'project', params: { embedding: MODEL, method: 'tsne' } }), (e: Error) => e instanceof ApiInputError && /params\.method/.test(e.message));
  await assert.rejects(call('startJob', { kind: 'outliers', params: { embedding: MODEL, k: 0 } }), (e: Error) => e instanceof ApiInputError && /params\.k/.test(e.message));
  await assert.rejects(call('startJob', { kind: 'raters', params: { clusters: 'many' } }), (e: Error) => e instanceof ApiInputError && /params\.clusters/.test(e.message));
  // A job that fails inside (k larger than the run allows) fails as a job, with the reason.
  const tooMany = await runJob('outliers', { embedding: MODEL, k: 500 });
  assert.equal(tooMany.status, 'failed');
  assert.match(tooMany.error ?? '', /--k 500 needs more than 500 images/);
});
