// The probe and rater-models jobs and `probeReports` (issue 6, "Probes across backbones"): parameters refused before
// a job is queued, a probe job in its worker storing the whole report (exactly what probeLabels computes), the
// report read back with its parameters, replaced by the same recipe, its per-backbone predictions marked when a
// later probe replaced them, per-rater models with their most disputed images, cancellation, and stored reports
// this version cannot read.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ApiInputError, callApi, createMiruService, type MiruService } from '../../../core/api/miruService.js';
import type { AnalysisInfo, JobInfo, MiruEvent } from '../../../core/api/apiTypes.js';
import type { ProbeReports } from '../../../core/api/types/probeReport.js';
import { embedLibrary } from '../../../core/models/embedLibrary.js';
import { addModel } from '../../../core/models/modelRegistry.js';
import { probeLabels } from '../../../core/analysis/probeLabels.js';
import { readAnalysisValues, saveAnalysis } from '../../../core/analysis/analysisStore.js';
import { repoRoot } from '../../helpers/paths.js';
import { MODEL, runJob as runFixtureJob, scoredLibrary, waitForJob } from './apiFixture.js';

const VIT = 'miru-vit-s';
let service: MiruService;
const events: MiruEvent[] = [];
const call = <T>(method: string, input: unknown) => callApi(service, method, input) as Promise<T>;
const reports = () => call<ProbeReports>('probeReports', {});

before(async () => {
  const lib = await scoredLibrary();
  service = createMiruService(lib.dbPath, { ep: 'cpu', queryWorker: false });
  await addModel(service.db, path.join(repoRoot, 'assets', 'models', `${VIT}.onnx`));
  await embedLibrary(service.db, MODEL, { ep: 'cpu' });
  await embedLibrary(service.db, VIT, { ep: 'cpu' });
  // Four images flagged for the cleaning experiment.
  await call('tagImages', { ids: [2, 5, 11, 17], add: ['outlier'] });
  service.subscribe((e) => events.push(e));
});

after(async () => {
  await service.close();
});

// Probe jobs train every head on every fold: give them twice the fixture's default.
const JOB_TIMEOUT_MS = 120_000;
const waitJob = (id: number) => waitForJob(service, id, JOB_TIMEOUT_MS);
const runJob = (kind: string, params: Record<string, unknown>) => runFixtureJob(service, kind, params, JOB_TIMEOUT_MS);

test('probe and rater-models jobs refuse bad parameters before anything is queued', async () => {
  const jobsBefore = (await call<JobInfo[]>('listJobs', {})).length;
  const refused = async (kind: string, params: Record<string, unknown>, pattern: RegExp) =>
    assert.rejects(call('startJob', { kind, params }), (e: Error) => {
      assert.ok(e instanceof ApiInputError, `${e.name}: ${e.message}`);
      assert.match(e.message, pattern);
      return true;
    });
  await refused('probe', {}, /startJob: invalid params\.embeddings: .*(expected array|Required|received undefined)/i);
  await refused('probe', { embeddings: [] }, /params\.embeddings/);
  await refused('probe', { embeddings: ['ghost'] }, /params\.embeddings\[0\]: No embedding run "ghost"\. Known embedding runs: .*miru-convnext-s/);
  await refused('probe', { embeddings: [MODEL, VIT, MODEL] }, /params\.embeddings\[2\]: names embedding run \d+ \(miru-convnext-s\) again, as embeddings\[0\] does/);
  await refused('probe', { embeddings: [MODEL], target: 'everyone' }, /params\.target: must be consensus, rater:NAME or cluster:GROUP/);
  await refused('probe', { embeddings: [MODEL], target: 'rater:nobody' }, /params\.target: Unknown rater "nobody"\. Raters: /);
  await refused('probe', { embeddings: [MODEL], target: 'cluster:g1' }, /params\.target: Unknown rater group "g1": this library has no rater groups yet/);
  await refused('probe', { embeddings: [MODEL], heads: ['svm'] }, /params\.heads\[0\]/);
  await refused('probe', { embeddings: [MODEL], folds: 1 }, /params\.folds/);
  await refused('probe', { embeddings: [MODEL], learningCurve: [5] }, /params\.learningCurve\[0\]/);
  await refused('probe', { embeddings: [MODEL], excludeTags: ['junk'] }, /params\.excludeTags\[0\]: no image is tagged "junk" \(tags: outlier\)/);
  await refused('probe', { embeddings: [MODEL], seed: 3 }, /params\.seed: unknown key/);
  await refused('rater-models', { embedding: 'ghost' }, /params\.embedding: No embedding run "ghost"/);
  await refused('rater-models', { embedding: MODEL, by: 'cluster' }, /params\.by: this library has no rater groups/);
  await refused('rater-models', { embedding: MODEL, minRatings: 3 }, /params\.minRatings/);
  await refused('rater-models', { embedding: MODEL, head: 'knn' }, /params\.head/);
  assert.equal((await call<JobInfo[]>('listJobs', {})).length, jobsBefore, 'no job was queued');
});

test('a probe job stores the whole report, which probeReports reads back with its parameters', async () => {
  events.length = 0;
  const params = { embeddings: [MODEL, VIT], heads: ['ridge', 'knn'], folds: 3, learningCurve: [10], excludeTags: ['outlier'] };
  const job = await runJob('probe', params);
  assert.equal(job.status, 'done', job.error ?? '');
  const summary = job.summary as { analysisId: number; target: string; images: number; backbones: number; best: string; spearman: number };
  assert.equal(summary.target, 'consensus');
  assert.equal(summary.backbones, 2);
  assert.ok(events.some((e) => e.type === 'library-changed' && e.what === 'analyses'), 'the UI hears that analyses changed');

  const answer = await reports();
  assert.deepEqual(
    answer.embeddings.map((e) => [e.model, e.vectors]).sort(),
    [
      [MODEL, 24],
      [VIT, 24],
    ],
  );
  assert.equal(answer.reports.length, 1);
  const stored = answer.reports[0]!;
  assert.equal(stored.id, summary.analysisId);
  assert.deepEqual(stored.params, params);

  // Exactly what the core computes for the same request (the folds and subsamples are seeded).
  const expected = probeLabels(service.db, { embeddings: [MODEL, VIT], heads: ['ridge', 'knn'], folds: 3, learningCurve: [10], exclude: { tags: ['outlier'] }, save: false });
  const { backbones, disagreements, ...rest } = stored.report;
  const { backbones: expectedBackbones, disagreements: expectedDisagreements, ...expectedRest } = expected;
  assert.deepEqual(rest, expectedRest);
  assert.deepEqual(
    backbones.map((b) => ({ ...b, heads: b.heads.map(({ analysisId: _, ...h }) => h) })),
    expectedBackbones.map((b) => ({ ...b, heads: b.heads.map(({ analysisId: _, ...h }) => h) })),
  );
  assert.deepEqual(
    disagreements.map(({ relPath: _r, hash: _h, ...d }) => d),
    expectedDisagreements,
  );
  assert.equal(stored.report.cleaning?.excluded, 4);
  assert.equal(stored.report.learningCurve.length, 4, 'one point per backbone x head');
  for (const d of disagreements) {
    assert.equal(d.relPath, path.basename(d.path));
    assert.match(d.hash ?? '', /^[0-9a-f]{16,}$/, 'a thumbnail hash');
  }
  const best = Math.max(...backbones.flatMap((b) => b.heads.map((h) => h.metrics.spearman.mean ?? -Infinity)));
  assert.equal(summary.spearman, best);

  // Per image: the spread of the two backbones' ridge predictions, read from their stored 'probe' analyses.
  const ridge = backbones.map((b) => new Map(readAnalysisValues(service.db, b.heads[0]!.analysisId!).map((v) => [v.imageId, v.value!])));
  const values = readAnalysisValues(service.db, stored.id);
  assert.equal(values.length, 24);
  for (const v of values) {
    const [a, b] = [ridge[0]!.get(v.imageId)!, ridge[1]!.get(v.imageId)!];
    assert.ok(Math.abs(v.value! - Math.abs(a - b)) < 1e-9);
    assert.deepEqual(Array.from(v.extra!), [Math.fround(a), Math.fround(b)]);
  }
  assert.ok(Math.abs(Math.max(...values.map((v) => v.value!)) - disagreements[0]!.spread) < 1e-9, 'the top disagreement has the largest spread');
  const info = (await call<AnalysisInfo[]>('listAnalyses', { kind: 'probe-report' }))[0]!;
  assert.deepEqual(info.params, { embeddings: backbones.map((b) => b.run), target: 'consensus', heads: ['ridge', 'knn'], folds: 3, seed: 1, learningCurve: [10], excludeTags: ['outlier'] });
});

test('the same probe again replaces its report; another recipe adds one, and replaced predictions are marked', async () => {
  const before = await reports();
  const first = before.reports[0]!;
  const again = await runJob('probe', { embeddings: [VIT, MODEL].reverse(), heads: ['ridge', 'knn'], folds: 3, learningCurve: [10], excludeTags: ['outlier'] });
  assert.equal(again.status, 'done', again.error ?? '');
  let now = await reports();
  assert.equal(now.reports.length, 1, 'the same recipe replaced its report');
  assert.notEqual(now.reports[0]!.id, first.id);

  // Without the learning curve and the cleaning: a second report, newest first. Its probes have the same recipe as
  // the first report's (target, head, folds, seed), so they replaced those stored predictions.
  const plain = await runJob('probe', { embeddings: [MODEL, VIT], heads: ['ridge', 'knn'], folds: 3 });
  assert.equal(plain.status, 'done', plain.error ?? '');
  now = await reports();
  assert.deepEqual(
    now.reports.map((r) => r.id),
    [(plain.summary as { analysisId: number }).analysisId, (again.summary as { analysisId: number }).analysisId],
  );
  const [newest, older] = now.reports as [ProbeReports['reports'][number], ProbeReports['reports'][number]];
  assert.equal(newest.report.learningCurve.length, 0);
  assert.equal(newest.report.cleaning, undefined);
  assert.ok(newest.report.backbones.every((b) => b.heads.every((h) => h.analysisId !== null)));
  assert.ok(older.report.backbones.every((b) => b.heads.every((h) => h.analysisId === null)), 'the older report no longer points at replaced predictions');
  assert.equal(now.unreportedProbes, 0);

  // One backbone: a report with nothing to disagree on, and a note saying so.
  const single = await runJob('probe', { embeddings: [VIT], heads: ['ordinal'], folds: 3, target: 'rater:' + (await call<{ name: string }[]>('listRaters', {}))[0]!.name });
  assert.equal(single.status, 'done', single.error ?? '');
  const one = (await reports()).reports[0]!;
  assert.equal(one.report.backbones.length, 1);
  assert.equal(one.report.disagreements.length, 0);
  assert.match(one.report.notes.join(' '), /Name two or more embedding runs/);
  assert.match(one.report.target.key, /^rater:/);
  assert.equal(readAnalysisValues(service.db, one.id).length, 0);
});

test('a probe that fails inside fails as a job with the reason, and stores no report', async () => {
  const count = (await reports()).reports.length;
  await call('tagImages', { ids: Array.from({ length: 24 }, (_, i) => i + 1), add: ['everything'] });
  const job = await runJob('probe', { embeddings: [MODEL], heads: ['ridge'], folds: 3, excludeTags: ['everything'] });
  assert.equal(job.status, 'failed');
  assert.match(job.error ?? '', /Every labelled image is excluded by tag everything: nothing is left to train on/);
  assert.equal((await reports()).reports.length, count);
});

test('cancelling a probe job ends its worker and stores nothing', async () => {
  const count = (await reports()).reports.length;
  const started = await call<JobInfo>('startJob', { kind: 'probe', params: { embeddings: [MODEL, VIT], folds: 4 } });
  await call('cancelJob', { id: started.id });
  const job = await waitJob(started.id);
  assert.equal(job.status, 'cancelled');
  // Give a worker that was not stopped time to store what it should not.
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await reports()).reports.length, count);
});

test('a rater-models job stores per-rater models that probeReports lists with the most disputed images', async () => {
  const raters = await call<{ name: string; ratings: number }[]>('listRaters', {});
  const job = await runJob('rater-models', { embedding: MODEL, minRatings: 10 });
  assert.equal(job.status, 'done', job.error ?? '');
  const summary = job.summary as { analysisId: number; models: number; skipped: number; images: number };
  const eligible = raters.filter((r) => r.ratings >= 10).map((r) => r.name).sort();
  assert.equal(summary.models, eligible.length);
  assert.equal(summary.skipped, raters.length - eligible.length);

  const stored = (await reports()).raterModels[0]!;
  assert.equal(stored.id, summary.analysisId);
  assert.equal(stored.model, MODEL);
  assert.equal(stored.images, 24);
  assert.deepEqual(stored.params, { by: 'rater', head: 'ridge', minRatings: 10, folds: 5, seed: 1 });
  assert.deepEqual(stored.models.map((m) => m.name).sort(), eligible);
  assert.deepEqual(stored.classes, [1, 2, 3, 4, 5], 'the scale the models predict on');
  assert.ok(stored.models.every((m) => m.ratings >= 10 && m.raters === 1));
  assert.equal(stored.disputed.length, 16);
  for (let i = 1; i < stored.disputed.length; i++) assert.ok(stored.disputed[i - 1]!.disagreement >= stored.disputed[i]!.disagreement, 'most disputed first');
  for (const d of stored.disputed) {
    assert.equal(d.predictions.length, stored.models.length);
    const mean = d.predictions.reduce((s, p) => s + p, 0) / d.predictions.length;
    const sd = Math.sqrt(d.predictions.reduce((s, p) => s + (p - mean) ** 2, 0) / d.predictions.length);
    assert.ok(Math.abs(sd - d.disagreement) < 1e-5, `the disagreement is the spread of the predictions (${sd} vs ${d.disagreement})`);
    assert.ok(Math.abs(mean - d.mean) < 1e-9);
    assert.ok(d.hash && d.relPath);
  }
  // The job fails with the core's reason when too few raters qualify.
  const tooFew = await runJob('rater-models', { embedding: MODEL, minRatings: 10_000 });
  assert.equal(tooFew.status, 'failed');
  assert.match(tooFew.error ?? '', /comparing models needs two/);
});

test('stored results this version cannot read are named, not shown', async () => {
  const bad = saveAnalysis(service.db, { kind: 'probe-report', sourceRunId: null, params: { broken: true }, summary: { version: 0 }, values: [] });
  const incomplete = saveAnalysis(service.db, { kind: 'probe-report', sourceRunId: null, params: { broken: 2 }, summary: { version: 1, report: { backbones: [] } }, values: [] });
  const answer = await reports();
  assert.ok(!answer.reports.some((r) => r.id === bad || r.id === incomplete));
  assert.match(answer.unreadable.find((u) => u.id === bad)?.reason ?? '', /probe report \d+: written in layout version 0; this Miru reads version 1 \(run the probe again\)/);
  assert.match(answer.unreadable.find((u) => u.id === incomplete)?.reason ?? '', /has no complete report/);
  assert.ok(answer.reports.length > 0, 'the readable reports are still there');
});
