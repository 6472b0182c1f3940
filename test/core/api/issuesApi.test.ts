import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ApiInputError, ApiNotFoundError, callApi, createMiruService, type MiruService } from '../../../core/api/miruService.js';
import type { AnalysisDetail, AnalysisInfo, JobInfo } from '../../../core/api/apiTypes.js';
import type { IssueCategory, IssueItem, IssueItemsResult, IssueSummary } from '../../../core/api/types/issues.js';
import { robustHighCut } from '../../../core/api/issuesApi.js';
import { readAnalysisValues, saveAnalysis } from '../../../core/analysis/analysisStore.js';
import { indexLibrary } from '../../../core/library/indexLibrary.js';
import { cacheDirFor } from '../../../core/library/openLibrary.js';
import { embedLibrary } from '../../../core/models/embedLibrary.js';
import { MODEL, runJob as runFixtureJob, scoredLibrary } from './apiFixture.js';

let service: MiruService;
let copyId: number;
let originalId: number;
const call = <T>(method: string, input: unknown) => callApi(service, method, input) as Promise<T>;

before(async () => {
  const lib = await scoredLibrary();
  // One byte-identical copy, so the duplicates job has an exact group to find.
  const original = readdirSync(lib.images).sort()[0]!;
  copyFileSync(path.join(lib.images, original), path.join(lib.images, `copy-of-${original}`));
  service = createMiruService(lib.dbPath, { ep: 'cpu', queryWorker: false });
  await indexLibrary(service.db, [lib.images], { cacheDir: cacheDirFor(lib.dbPath) });
  await embedLibrary(service.db, MODEL, { ep: 'cpu' });
  const byPath = service.db.prepare<[string], number>('SELECT id FROM images WHERE rel_path = ?').pluck();
  originalId = byPath.get(original)!;
  copyId = byPath.get(`copy-of-${original}`)!;
  assert.ok(originalId && copyId);
});

after(async () => {
  await service.close();
});

const runJob = (kind: string, params: Record<string, unknown>) => runFixtureJob(service, kind, params);

async function category(key: string): Promise<IssueCategory> {
  const summary = await call<IssueSummary>('issueSummary', {});
  const found = summary.categories.find((c) => c.key === key);
  assert.ok(found, `category ${key} in ${summary.categories.map((c) => c.key).join(', ')}`);
  return found;
}

/** Every item of a category, walked a page at a time. */
async function allItems(input: Record<string, unknown>, pageSize = 5): Promise<IssueItem[]> {
  const out: IssueItem[] = [];
  for (let offset = 0; ; offset += pageSize) {
    const page = await call<IssueItemsResult>('issueItems', { ...input, limit: pageSize, offset });
    out.push(...page.items);
    if (page.items.length < pageSize) {
      assert.equal(out.length, page.total, 'the pages add up to the total');
      return out;
    }
  }
}

test('before anything is computed, every category is listed with the job that computes it', async () => {
  const summary = await call<IssueSummary>('issueSummary', {});
  assert.deepEqual(
    summary.categories.map((c) => c.key),
    ['label-issues', 'outliers', 'near-duplicates', 'dark', 'light', 'blurry', 'low_information', 'odd_aspect_ratio', 'odd_size', 'grayscale', 'rater-disagreement'],
  );
  for (const c of summary.categories) {
    assert.equal(c.analysisId, null);
    assert.equal(c.flagged, null);
    assert.ok(c.description.length > 20 && c.command.startsWith('miru '));
  }
  assert.deepEqual(Object.fromEntries(summary.categories.map((c) => [c.key, c.job])), {
    'label-issues': 'issues',
    outliers: 'outliers',
    'near-duplicates': 'duplicates',
    dark: 'issues',
    light: 'issues',
    blurry: 'issues',
    low_information: 'issues',
    odd_aspect_ratio: 'issues',
    odd_size: 'issues',
    grayscale: 'issues',
    'rater-disagreement': 'rater-models',
  });
  await assert.rejects(call('issueItems', { category: 'outliers' }), (e: Error) => e instanceof ApiNotFoundError && /nothing is stored for outliers yet\. Run the outliers job/.test(e.message));
});

test('bad issues-job parameters are refused before a job is queued', async () => {
  const refused = async (params: Record<string, unknown>, field: RegExp) =>
    assert.rejects(call('startJob', { kind: 'issues', params }), (e: Error) => e instanceof ApiInputError && field.test(e.message), JSON.stringify(params));
  await refused({ embedding: 'nope' }, /params\.embedding: No embedding run "nope"/);
  await refused({ embedding: MODEL, folds: 1 }, /params\.folds/);
  await refused({ embedding: MODEL, filterBy: 'loudest' }, /params\.filterBy/);
  await refused({ embedding: MODEL, rankBy: 'vibes' }, /params\.rankBy/);
  await refused({ embedding: MODEL, head: 'mlp' }, /params\.head/);
  await refused({ embedding: MODEL, threshold: 2 }, /params\.threshold: unknown key/);
  assert.equal((await call<JobInfo[]>('listJobs', {})).length, 0, 'nothing was queued');
});

test('the issues job stores label issues and odd images; the summary counts what they flag', async () => {
  const job = await runJob('issues', { embedding: MODEL, folds: 3 });
  assert.equal(job.status, 'done', job.error ?? '');
  const summary = job.summary as { analysisId: number; labelIssues: number; labelled: number; model: string };
  assert.equal(summary.model, MODEL);

  const labels = await category('label-issues');
  assert.equal(labels.analysisId, summary.analysisId);
  const stored = readAnalysisValues(service.db, summary.analysisId);
  assert.equal(labels.flagged, stored.filter((v) => v.extra![0] === 1).length);
  assert.equal(labels.flagged, summary.labelIssues);
  assert.equal(labels.checked, summary.labelled);
  assert.equal(labels.source?.model, MODEL);
  assert.ok(labels.computedAt && Date.parse(labels.computedAt) > 0);

  const images = await call<AnalysisInfo[]>('listAnalyses', { kind: 'image-issues' });
  assert.equal(images.length, 7);
  for (const info of images) {
    const detail = await call<AnalysisDetail>('analysisDetail', { id: info.id });
    const c = await category(String(info.params.issue));
    assert.equal(c.analysisId, info.id);
    assert.equal(c.flagged, detail.summary.flagged, `${c.key} flagged`);
    assert.equal(c.checked, info.count);
    assert.equal(c.source, null, 'odd images come from the pixels, not a run');
  }
});

test('label issues come strongest first, with the consensus and the prediction in the detail', async () => {
  const labels = await category('label-issues');
  const stored = readAnalysisValues(service.db, labels.analysisId!);
  const expected = stored
    .filter((v) => v.extra![0] === 1)
    .sort((a, b) => a.value! - b.value! || a.imageId - b.imageId)
    .map((v) => v.imageId);
  assert.ok(expected.length > 0, 'the synthetic library has flipped ratings to find');
  const items = await allItems({ category: 'label-issues' });
  assert.deepEqual(items.map((i) => i.id), expected);
  const byId = new Map(stored.map((v) => [v.imageId, v]));
  const ratingMean = service.db.prepare<[number], number>('SELECT rating_mean FROM images WHERE id = ?').pluck();
  for (const item of items) {
    const v = byId.get(item.id)!;
    assert.equal(item.flagged, true);
    assert.equal(item.value, v.value);
    assert.ok(Math.abs(item.score - (1 - v.value!)) < 1e-12);
    assert.equal(item.detail.split(' · ')[0], `rated ${v.extra![1]}, model says ${v.extra![2]}`);
    // The given label is the image's consensus: its mean rating rounded to a class of the scale.
    assert.ok(Math.abs(v.extra![1]! - ratingMean.get(item.id)!) <= 0.5, `image ${item.id}: consensus ${v.extra![1]} vs mean ${ratingMean.get(item.id)}`);
    assert.ok(item.hash && item.relPath);
  }

  // A score floor lists flagged and unflagged images alike, still strongest first.
  const floor = 0.5;
  const above = await allItems({ category: 'label-issues', minScore: floor }, 7);
  assert.equal(above.length, stored.filter((v) => 1 - v.value! >= floor).length);
  assert.ok(above.every((i, k) => i.score >= floor && (k === 0 || above[k - 1]!.score >= i.score)));
  assert.equal(above.filter((i) => i.flagged).length, stored.filter((v) => 1 - v.value! >= floor && v.extra![0] === 1).length);

  const page = await call<IssueItemsResult>('issueItems', { category: 'label-issues', limit: 2 });
  assert.equal(page.histogram.reduce((s, n) => s + n, 0), stored.length, 'the histogram covers every checked image');
  assert.equal(page.scale.flagAbove, null, 'confident learning is not a cut on the score');
});

test('the issues job runs in a worker thread: the host answers meanwhile, and cancelling stores nothing', async () => {
  const before = await call<AnalysisInfo[]>('listAnalyses', { kind: 'label-issues' });
  const job = await call<JobInfo>('startJob', { kind: 'issues', params: { embedding: MODEL, folds: 4 } });
  // Wait until the work itself has begun (its first progress event), then ask the host something and cancel.
  for (;;) {
    const now = (await call<JobInfo[]>('listJobs', {})).find((j) => j.id === job.id)!;
    assert.equal(now.status, 'running', `the job ended before it could be cancelled: ${JSON.stringify(now)}`);
    if (now.phase === 'issues') break;
    await new Promise((r) => setTimeout(r, 2));
  }
  const info = await call<{ images: number }>('libraryInfo', {});
  assert.ok(info.images > 0);
  await call('cancelJob', { id: job.id });
  const deadline = Date.now() + 10_000;
  let final: JobInfo;
  do {
    final = (await call<JobInfo[]>('listJobs', {})).find((j) => j.id === job.id)!;
    await new Promise((r) => setTimeout(r, 20));
  } while (final.status === 'running' && Date.now() < deadline);
  assert.equal(final.status, 'cancelled', JSON.stringify(final));
  const after = await call<AnalysisInfo[]>('listAnalyses', { kind: 'label-issues' });
  assert.deepEqual(after.map((a) => [a.id, a.createdAt]), before.map((a) => [a.id, a.createdAt]), 'the stored label issues are the ones from before');
});

test('outliers: flagged above a robust z-score of 3.5, ranked by mean distance', async () => {
  const job = await runJob('outliers', { embedding: MODEL, k: 5 });
  assert.equal(job.status, 'done', job.error ?? '');
  const c = await category('outliers');
  const values = readAnalysisValues(service.db, c.analysisId!).map((v) => v.value!);
  // Independently: median, MAD, and the modified z-score 0.6745 (x - median) / MAD.
  const med = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const m = med(values);
  const mad = med(values.map((v) => Math.abs(v - m)));
  assert.ok(mad > 0);
  assert.equal(c.flagged, values.filter((v) => (0.6745 * (v - m)) / mad > 3.5).length);
  const all = await allItems({ category: 'outliers', minScore: 0 }, 10);
  assert.equal(all.length, values.length);
  assert.ok(all.every((item, k) => k === 0 || all[k - 1]!.value! >= item.value!), 'most distant first');

  // A stored result of known values (newest wins): one image far from the rest.
  const ids = service.db.prepare<[], number>(`SELECT id FROM images WHERE status = 'ok' ORDER BY id LIMIT 10`).pluck().all();
  const known = [1, 1.1, 0.9, 1.05, 0.95, 1, 1.02, 0.98, 1, 10];
  saveAnalysis(service.db, { kind: 'outliers', sourceRunId: null, params: { k: 3, test: true }, summary: { median: 1 }, values: ids.map((imageId, i) => ({ imageId, value: known[i]! })) });
  const crafted = await call<IssueItemsResult>('issueItems', { category: 'outliers' });
  assert.equal(crafted.total, 1);
  assert.equal(crafted.items[0]!.id, ids[9]);
  assert.equal(crafted.items[0]!.detail, 'mean distance 10 · 10× the median');
  assert.ok(Math.abs(crafted.items[0]!.score - (1 - Math.exp(-10))) < 1e-12);
  // The cut: median 1, MAD 0.035, so 1 + 3.5 x 0.035 / 0.6745 in distance, 1 - exp(-cut) in score.
  assert.ok(Math.abs(crafted.scale.flagAbove! - (1 - Math.exp(-(1 + (3.5 * 0.035) / 0.6745)))) < 1e-9);
  assert.equal((await category('outliers')).flagged, 1);
});

test('robust cut: the MAD, the mean-deviation fallback, and nothing when every value is equal', () => {
  // median 3, MAD 1: cut 3 + 3.5 / 0.6745.
  assert.ok(Math.abs(robustHighCut(Float64Array.of(1, 2, 3, 4, 5)) - (3 + 3.5 / 0.6745)) < 1e-12);
  // More than half equal: MAD 0, so 1.253314 x the mean absolute deviation (1/6) scales instead.
  assert.ok(Math.abs(robustHighCut(Float64Array.of(1, 1, 1, 1, 1, 2)) - (1 + (3.5 * 1.253314) / 6)) < 1e-12);
  assert.equal(robustHighCut(Float64Array.of(2, 2, 2)), Number.POSITIVE_INFINITY);
  assert.equal(robustHighCut(new Float64Array(0)), Number.POSITIVE_INFINITY);
});

test('near-duplicates come group by group; an identical file scores 1', async () => {
  const job = await runJob('duplicates', { embedding: MODEL });
  assert.equal(job.status, 'done', job.error ?? '');
  const c = await category('near-duplicates');
  const stored = readAnalysisValues(service.db, c.analysisId!);
  assert.equal(c.flagged, stored.length);
  assert.equal(c.groups, new Set(stored.map((v) => v.value)).size);
  assert.equal(c.checked, service.db.prepare('SELECT count(*) FROM embeddings').pluck().get());
  const items = await allItems({ category: 'near-duplicates' }, 3);
  assert.equal(items.length, stored.length);
  // Grouped: once a group's rows end, it never comes back.
  const seen: number[] = [];
  for (const item of items) if (seen[seen.length - 1] !== item.group!.id) seen.push(item.group!.id);
  assert.equal(seen.length, new Set(seen).size, `groups in order ${seen.join(', ')}`);
  const pair = items.filter((i) => i.id === originalId || i.id === copyId);
  assert.equal(pair.length, 2);
  assert.equal(pair[0]!.group!.id, pair[1]!.group!.id);
  for (const item of pair) {
    assert.equal(item.score, 1);
    assert.match(item.detail, new RegExp(`^group ${item.group!.id} · ${item.group!.size} images · identical file$`));
  }
  assert.ok(items.every((i) => i.score >= 0 && i.score <= 1 && i.flagged));
});

test('rater-model disagreement: the two most apart models are named, the score is the spread over half the scale', async () => {
  const ids = service.db.prepare<[], number>(`SELECT id FROM images WHERE status = 'ok' ORDER BY id`).pluck().all();
  // Most images: the three models nearly agree; one image splits them wide open.
  const predictions = ids.map((_, i) => (i === 4 ? [1.5, 4.5, 3] : [3 + (i % 3) * 0.05, 3.02, 2.98 + (i % 2) * 0.04]));
  const sd = (p: number[]) => {
    const mean = p.reduce((s, x) => s + x, 0) / p.length;
    return Math.sqrt(p.reduce((s, x) => s + (x - mean) ** 2, 0) / p.length);
  };
  saveAnalysis(service.db, {
    kind: 'rater-models',
    sourceRunId: null,
    params: { by: 'rater', test: true },
    summary: { models: [{ name: 'ana' }, { name: 'ben' }, { name: 'cy' }] },
    values: ids.map((imageId, i) => ({ imageId, value: sd(predictions[i]!), extra: Float32Array.from(predictions[i]!) })),
  });
  const c = await category('rater-disagreement');
  assert.equal(c.flagged, 1);
  const page = await call<IssueItemsResult>('issueItems', { category: 'rater-disagreement' });
  assert.deepEqual(page.items.map((i) => i.id), [ids[4]]);
  const { lo, hi } = service.db.prepare<[], { lo: number; hi: number }>('SELECT min(value) AS lo, max(value) AS hi FROM ratings').get()!;
  assert.ok(Math.abs(page.items[0]!.score - sd([1.5, 4.5, 3]) / ((hi - lo) / 2)) < 1e-6);
  assert.equal(page.items[0]!.detail, `ana 1.50 vs ben 4.50 · SD ${sd([1.5, 4.5, 3]).toFixed(2)}`);
});

test('tags travel with the items', async () => {
  const first = (await call<IssueItemsResult>('issueItems', { category: 'label-issues', limit: 1 })).items[0]!;
  await call('tagImages', { ids: [first.id], add: ['outlier', 'exclude'] });
  const again = (await call<IssueItemsResult>('issueItems', { category: 'label-issues', limit: 1 })).items[0]!;
  assert.deepEqual(again.tags, ['exclude', 'outlier']);
});

test('bad issueItems input is refused with the field named', async () => {
  const refused = async (input: unknown, pattern: RegExp) => assert.rejects(call('issueItems', input), (e: Error) => e instanceof ApiInputError && pattern.test(e.message), JSON.stringify(input));
  await refused({ category: 'ugly' }, /issueItems: invalid category/);
  await refused({}, /invalid category/);
  await refused({ category: 'outliers', limit: 0 }, /invalid limit/);
  await refused({ category: 'outliers', limit: 1001 }, /invalid limit/);
  await refused({ category: 'outliers', offset: -1 }, /invalid offset/);
  await refused({ category: 'outliers', offset: 1.5 }, /invalid offset/);
  await refused({ category: 'outliers', minScore: 1.5 }, /invalid minScore/);
  await refused({ category: 'outliers', sort: 'score' }, /invalid sort: unknown key/);
  await assert.rejects(call('issueSummary', { category: 'outliers' }), /issueSummary: invalid category: unknown key/);
  // Past the end is an empty page, not an error.
  const past = await call<IssueItemsResult>('issueItems', { category: 'label-issues', offset: 100_000 });
  assert.deepEqual(past.items, []);
  assert.ok(past.total > 0);
});
