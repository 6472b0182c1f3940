/**
 * The Backbones view's jobs and API (section "probe jobs"): a library of N image rows (default 2,000;
 * MIRU_BENCH_PROBE_JOB_N for another size) rated by 5 simulated raters on a 1-5 scale, with two stored embedding
 * runs that carry the raters' latent taste at different strengths (256-d strong, 128-d weak). Rows:
 * - a probe job (both runs; ridge and kNN; 5 folds; a 4-point learning curve) in its worker thread against the
 *   same job on the host's main thread: the longest stall of the main thread's event loop while the job runs
 *   (what the UI waits for: every API call queues behind a stall), and the job's wall time (what the worker costs);
 * - probeReports with R stored reports against reading the same 'probe-report' rows with listAnalyses (the bare
 *   read and JSON parse the answer cannot avoid).
 */
import path from 'node:path';
import { callApi, createMiruService, type MiruService } from '../../core/api/miruService.js';
import type { JobInfo } from '../../core/api/apiTypes.js';
import type { ProbeReports } from '../../core/api/types/probeReport.js';
import { probeTaskWork } from '../../core/api/probesApi.js';
import { getAnalysis, listAnalyses, saveAnalysis } from '../../core/analysis/analysisStore.js';
import { openLibrary } from '../../core/library/openLibrary.js';
import { SeededRandom } from '../../core/synth/random.js';
import { storeEmbeddings } from '../../test/helpers/analysisData.js';
import { tempDir } from '../../test/helpers/paths.js';
import { median, now } from '../benchUtil.js';
import type { BenchRow } from './benchRow.js';

const N = Number(process.env.MIRU_BENCH_PROBE_JOB_N ?? 2000);
const RATERS = 5;
const REPORTS = 20;
const PROBE = { embeddings: ['strong', 'weak'], heads: ['ridge', 'knn'] as ('ridge' | 'knn')[], folds: 5, learningCurve: [100, 200, 400, 800] };

function log(text: string): void {
  process.stderr.write(`[probe jobs] ${text}\n`);
}

const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** Image rows, ratings from a latent taste, and two embeddings that carry it with different strength. */
function buildLibrary(): string {
  const dbPath = path.join(tempDir('miru-bench-probejob-'), 'lib.db');
  const db = openLibrary(dbPath);
  const random = new SeededRandom(7);
  const normal = () => {
    const u = Math.max(random.next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random.next());
  };
  const latent = Float64Array.from({ length: N }, () => normal());
  db.transaction(() => {
    db.prepare(`INSERT INTO roots (id, path, added_at) VALUES (1, '/bench', 'now')`).run();
    const image = db.prepare(`INSERT INTO images (id, root_id, rel_path, bytes, mtime_ms, status, indexed_at) VALUES (?, 1, ?, 1, 1, 'ok', 'now')`);
    const rater = db.prepare('INSERT INTO raters (id, name) VALUES (?, ?)');
    const rating = db.prepare('INSERT INTO ratings (image_id, rater_id, value, imported_from) VALUES (?, ?, ?, ?)');
    for (let r = 1; r <= RATERS; r++) rater.run(r, `rater_${r}`);
    for (let i = 0; i < N; i++) {
      image.run(i + 1, `img_${i + 1}.png`);
      for (let r = 1; r <= RATERS; r++) rating.run(i + 1, r, Math.min(5, Math.max(1, Math.round(3 + 1.1 * latent[i]! + 0.7 * normal()))), 'bench');
    }
    db.prepare(`INSERT INTO settings (key, value) VALUES ('rating_scale', '1:5') ON CONFLICT(key) DO UPDATE SET value = excluded.value`).run();
  })();
  const vectors = (dim: number, signal: number) =>
    new Map(Array.from({ length: N }, (_, i) => [i + 1, Array.from({ length: dim }, (_, d) => (d < 8 ? signal * latent[i]! * (1 - d / 10) : 0) + normal())] as [number, number[]]));
  db.transaction(() => {
    storeEmbeddings(db, 'strong', vectors(256, 1.2));
    storeEmbeddings(db, 'weak', vectors(128, 0.4));
  })();
  db.close();
  return dbPath;
}

/** Runs `work` while sampling the event loop every 5 ms; returns its wall time and the longest gap between samples. */
async function measureStalls<T>(work: () => Promise<T>): Promise<{ result: T; wallMs: number; stallMs: number }> {
  let last = now();
  let longest = 0;
  const timer = setInterval(() => {
    const t = now();
    longest = Math.max(longest, t - last - 5);
    last = t;
  }, 5);
  const start = now();
  try {
    const result = await work();
    return { result, wallMs: now() - start, stallMs: Math.max(longest, now() - last - 5) };
  } finally {
    clearInterval(timer);
  }
}

async function probeThroughApi(service: MiruService): Promise<JobInfo> {
  const job = (await callApi(service, 'startJob', { kind: 'probe', params: PROBE })) as JobInfo;
  for (;;) {
    const current = ((await callApi(service, 'listJobs', {})) as JobInfo[]).find((j) => j.id === job.id)!;
    if (current.status !== 'running') return current;
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function runProbeJobBench(): Promise<BenchRow[]> {
  log(`building ${N} images × ${RATERS} raters, two embedding runs`);
  const dbPath = buildLibrary();
  const service = createMiruService(dbPath, { queryWorker: false });
  const rows: BenchRow[] = [];
  try {
    const inWorker = await measureStalls(() => probeThroughApi(service));
    if (inWorker.result.status !== 'done') throw new Error(`the probe job ${inWorker.result.status}: ${inWorker.result.error}`);
    log(`worker: ${round(inWorker.wallMs / 1000)} s, longest stall ${round(inWorker.stallMs)} ms`);
    const onMain = await measureStalls(() =>
      probeTaskWork(service.db, { kind: 'probe', params: PROBE }, { worker: false })({ signal: new AbortController().signal, onProgress: () => undefined, fail: () => undefined }),
    );
    log(`main thread: ${round(onMain.wallMs / 1000)} s, longest stall ${round(onMain.stallMs)} ms`);
    rows.push({
      name: `probe job, ${N} images × 2 backbones: longest main-thread stall (ms)`,
      baseline: round(onMain.stallMs),
      value: round(inWorker.stallMs),
      ratio: round(inWorker.stallMs / onMain.stallMs, 4),
      note: 'baseline: the same job on the host thread (every API call waits that long); value: in its worker thread',
    });
    rows.push({
      name: `probe job, ${N} images × 2 backbones: wall time (s)`,
      baseline: round(onMain.wallMs / 1000, 2),
      value: round(inWorker.wallMs / 1000, 2),
      ratio: round(inWorker.wallMs / onMain.wallMs, 2),
      note: `ridge + kNN, 5 folds, learning curve ${PROBE.learningCurve.join('/')}; the worker adds its start and its own connection`,
    });

    // R stored reports: copies of the real one under other recipes, as a library accumulates them.
    const real = listAnalyses(service.db, { kind: 'probe-report' })[0]!;
    const summary = getAnalysis(service.db, real.id)!.summary;
    for (let i = 1; i < REPORTS; i++) saveAnalysis(service.db, { kind: 'probe-report', sourceRunId: null, params: { ...real.params, copy: i }, summary, values: [] });
    const api: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < 7; i++) {
      let t = now();
      const answer = (await callApi(service, 'probeReports', {})) as ProbeReports;
      api.push(now() - t);
      if (answer.reports.length !== REPORTS) throw new Error(`probeReports answered ${answer.reports.length} reports, not ${REPORTS}`);
      t = now();
      listAnalyses(service.db, { kind: 'probe-report' });
      bare.push(now() - t);
    }
    rows.push({
      name: `probeReports with ${REPORTS} stored reports (ms)`,
      baseline: round(median(bare), 2),
      value: round(median(api), 2),
      ratio: round(median(api) / median(bare), 2),
      note: 'baseline: listAnalyses of the same rows (read + JSON parse); the answer adds thumbnails, stale-prediction checks and the embedding runs',
    });
  } finally {
    await service.close();
  }
  return rows;
}
