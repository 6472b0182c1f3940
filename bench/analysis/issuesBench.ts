/**
 * The Issues view's API at scale (section "issues"): a library of N image rows (default 1,000,000; MIRU_BENCH_N
 * for a quick run) with three stored analyses of N values each, as `miru issues` and `miru outliers` leave them:
 * label issues (2 % flagged), outlier distances (a long upper tail) and one odd-image check (3 % flagged).
 * Each row sets an API call against a same-run baseline that reads every stored value into JavaScript and does
 * the work there (what the view would cost without SQL doing the cutting, ordering and paging):
 * - issueSummary the first time (it derives every category's counts, the outlier cut, the histograms), and again
 *   (answered from what it derived, since a stored analysis never changes);
 * - the first page of flagged label issues, and a page 10,000 rows deep under a score floor (count + top-N).
 */
import path from 'node:path';
import { callApi, createMiruService } from '../../core/api/miruService.js';
import type { IssueItemsResult, IssueSummary } from '../../core/api/types/issues.js';
import { readAnalysisValues, saveAnalysis } from '../../core/analysis/analysisStore.js';
import { openLibrary } from '../../core/library/openLibrary.js';
import { tempDir } from '../../test/helpers/paths.js';
import { median, now, rng } from '../benchUtil.js';
import type { BenchRow } from './benchRow.js';

const N = Number(process.env.MIRU_BENCH_N ?? 1_000_000);
const REPEATS = 3;

function log(text: string): void {
  process.stderr.write(`[issues] ${text}\n`);
}

const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

function buildLibrary(): { dbPath: string; ids: { labels: number; outliers: number; blurry: number } } {
  const dbPath = path.join(tempDir('miru-bench-issues-'), 'lib.db');
  const db = openLibrary(dbPath);
  const random = rng(9);
  try {
    db.prepare(`INSERT INTO roots (id, path, added_at) VALUES (1, '/bench', 'now')`).run();
    const image = db.prepare(`INSERT INTO images (id, root_id, rel_path, content_hash, width, height, bytes, mtime_ms, status, indexed_at) VALUES (?, 1, ?, ?, 512, 512, 1, 1, 'ok', 'now')`);
    db.transaction(() => {
      for (let id = 1; id <= N; id++) image.run(id, `img_${id}.png`, `h${id}`);
    })();
    const labels = saveAnalysis(db, {
      kind: 'label-issues',
      sourceRunId: null,
      params: { bench: true },
      summary: {},
      values: (function* () {
        for (let id = 1; id <= N; id++) {
          const issue = random() < 0.02;
          const quality = issue ? random() * 0.2 : 0.2 + random() * 0.8;
          yield { imageId: id, value: quality, extra: Float32Array.of(issue ? 1 : 0, 3, issue ? 5 : 3, random()) };
        }
      })(),
    });
    const outliers = saveAnalysis(db, {
      kind: 'outliers',
      sourceRunId: null,
      params: { bench: true },
      summary: { median: 0.05 },
      values: (function* () {
        // Log-normal distances around 0.05: a long upper tail, as mean kNN distances have.
        for (let id = 1; id <= N; id++) yield { imageId: id, value: 0.05 * Math.exp(0.35 * Math.sqrt(-2 * Math.log(Math.max(random(), 1e-12))) * Math.cos(2 * Math.PI * random())) };
      })(),
    });
    const blurry = saveAnalysis(db, {
      kind: 'image-issues',
      sourceRunId: null,
      params: { issue: 'blurry' },
      summary: { threshold: 0.29 },
      values: (function* () {
        for (let id = 1; id <= N; id++) {
          const score = random() < 0.03 ? random() * 0.29 : 0.29 + random() * 0.71;
          yield { imageId: id, value: score, extra: Float32Array.of(score < 0.29 ? 1 : 0) };
        }
      })(),
    });
    return { dbPath, ids: { labels, outliers, blurry } };
  } finally {
    db.close();
  }
}

export async function issuesBench(): Promise<BenchRow[]> {
  let t = now();
  const { dbPath, ids } = buildLibrary();
  log(`library of ${N.toLocaleString('en-US')} images with 3 analyses built in ${round((now() - t) / 1000)} s`);
  const service = createMiruService(dbPath, { queryWorker: false });
  const rows: BenchRow[] = [];
  try {
    const db = service.db;
    const call = <T>(method: string, input: unknown) => callApi(service, method, input) as Promise<T>;

    // Baseline: every value into JavaScript, the flags counted there.
    t = now();
    const naiveCounts = [ids.labels, ids.blurry, ids.outliers].map((id) => readAnalysisValues(db, id).filter((v) => v.extra && v.extra[0] === 1).length);
    const naiveSummaryMs = now() - t;
    t = now();
    const summary = await call<IssueSummary>('issueSummary', {});
    const coldMs = now() - t;
    const flagged = (key: string) => summary.categories.find((c) => c.key === key)!.flagged;
    if (flagged('label-issues') !== naiveCounts[0] || flagged('blurry') !== naiveCounts[1]) throw new Error('issueSummary counts differ from the baseline');
    const warm: number[] = [];
    for (let i = 0; i < REPEATS; i++) {
      t = now();
      await call('issueSummary', {});
      warm.push(now() - t);
    }
    log(`issueSummary: first ${round(coldMs)} ms, again ${round(median(warm), 2)} ms; baseline ${round(naiveSummaryMs)} ms`);
    rows.push({ name: `issueSummary, first call (${N.toLocaleString('en-US')} images, 3 stored analyses)`, baseline: round(naiveSummaryMs), value: round(coldMs), ratio: round(coldMs / naiveSummaryMs, 3), note: 'ms; baseline: read every value of 3 analyses into JS and count the flags (and no outlier cut)' });
    rows.push({ name: 'issueSummary, again (derived counts kept per analysis)', baseline: round(coldMs), value: round(median(warm), 2), ratio: round(median(warm) / coldMs, 4), note: `ms, median of ${REPEATS}; baseline: the first call` });

    // First page of flagged label issues.
    const naivePage = (minScore: number | null, offset: number) => {
      const values = readAnalysisValues(db, ids.labels).filter((v) => (minScore === null ? v.extra![0] === 1 : 1 - v.value! >= minScore));
      values.sort((a, b) => a.value! - b.value! || a.imageId - b.imageId);
      return values.slice(offset, offset + 100).map((v) => v.imageId);
    };
    const timePage = async (input: Record<string, unknown>, minScore: number | null, offset: number) => {
      const api: number[] = [];
      const base: number[] = [];
      let apiIds: number[] = [];
      let baseIds: number[] = [];
      for (let i = 0; i < REPEATS; i++) {
        t = now();
        apiIds = (await call<IssueItemsResult>('issueItems', { ...input, limit: 100, offset })).items.map((x) => x.id);
        api.push(now() - t);
        t = now();
        baseIds = naivePage(minScore, offset);
        base.push(now() - t);
      }
      if (apiIds.join() !== baseIds.join()) throw new Error(`issueItems ${JSON.stringify(input)} differs from the baseline`);
      return { api: median(api), base: median(base) };
    };
    const first = await timePage({ category: 'label-issues' }, null, 0);
    log(`first page of label issues: ${round(first.api, 2)} ms; baseline ${round(first.base)} ms`);
    rows.push({ name: 'issueItems, first page of flagged label issues', baseline: round(first.base), value: round(first.api, 2), ratio: round(first.api / first.base, 4), note: `ms, median of ${REPEATS}; baseline: read all values, filter, sort, slice in JS` });
    const deep = await timePage({ category: 'label-issues', minScore: 0.5 }, 0.5, 10_000);
    log(`page at 10,000 with a score floor: ${round(deep.api)} ms; baseline ${round(deep.base)} ms`);
    rows.push({ name: 'issueItems, 100 rows at offset 10,000, score ≥ 0.5', baseline: round(deep.base), value: round(deep.api), ratio: round(deep.api / deep.base, 3), note: `ms, median of ${REPEATS}; counts the matches too; baseline as above` });
  } finally {
    await service.close();
  }
  return rows;
}
