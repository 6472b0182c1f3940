/**
 * Probes across backbones for the API (issue 6): the 'probe' and 'rater-models' jobs and the `probeReports` method
 * the Backbones view reads. Kept apart from miruService.ts, which binds the method into the one MiruApi object, and
 * from analysisJobs.ts, which dispatches the jobs here.
 *
 * Where a probe's report lives: `miru probe-labels` stores one 'probe' analysis per backbone × head (the
 * out-of-fold predictions), but the comparison itself (metrics with intervals, the learning curve, the
 * disagreements, the cleaning experiment) exists only in its answer. A probe job therefore also stores that whole
 * answer as the summary of one 'probe-report' analysis: summary = { version, request: the job's parameters as
 * given, report: the ProbeLabelsResult }, params = the resolved recipe (so the same probe run again replaces its
 * report), and per image the spread of the backbones' out-of-fold predictions (value) with each backbone's
 * prediction (extra), so a map can be coloured by where the backbones disagree.
 *
 * Both jobs are seconds to minutes of synchronous linear algebra: they run in a worker thread with their own
 * connection (probeWorker.ts), so the host keeps answering the UI meanwhile, and cancelling ends the worker.
 */
import { workerTaskJob, type WorkerJobOptions } from '../jobs/workerTask.js';
import type { LibraryDb } from '../library/openLibrary.js';
import { listAnalyses, readAnalysisValues, saveAnalysis, type AnalysisRecord } from '../analysis/analysisStore.js';
import { listEmbeddingRuns, resolveEmbeddingRun } from '../analysis/embeddingMatrix.js';
import { listRaterGroups } from '../library/raterGroups.js';
import { listTags } from '../library/tags.js';
import { parseProbeTarget, probeLabels, targetRaterIds, type ProbeLabelsResult } from '../analysis/probeLabels.js';
import { raterModels, type RaterModelsResult } from '../analysis/raterModels.js';
import { ordinalScale } from '../analysis/softLabels.js';
import type { JobContext, JobOutcome } from '../jobs/jobRunner.js';
import type { MiruApi } from './apiTypes.js';
import { ApiInputError, type JobParams } from './apiSchemas.js';
import type {
  ProbeImageRef,
  ProbeJobParams,
  ProbeLabelsReport,
  ProbeReports,
  RaterModelDispute,
  RaterModelRow,
  RaterModelsJobParams,
  StoredProbeReport,
  StoredRaterModels,
} from './types/probeReport.js';

// Compile-time proof that the job schemas (apiSchemas.ts JOB_PARAMS) accept exactly the declared job parameters.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const paramsFit: [Same<JobParams['probe'], ProbeJobParams>, Same<JobParams['rater-models'], RaterModelsJobParams>] = [true, true];
void paramsFit;

/** The layout of a 'probe-report' summary; a reader skips (and names) summaries of another version. */
export const PROBE_REPORT_VERSION = 1;

/** Disputed images listed per stored rater-models result. */
const DISPUTED_SHOWN = 16;
/** Reports answered at most (newest first): each is a few KB, and nobody compares more by eye. */
const REPORTS_SHOWN = 50;

export type ProbeTask = { kind: 'probe'; params: ProbeJobParams } | { kind: 'rater-models'; params: RaterModelsJobParams };

// ------------------------------------------------------------------------------------------- parameter checks

function refuse(field: string, error: unknown): never {
  throw new ApiInputError('startJob', field, error instanceof Error ? error.message : String(error));
}

/** What can be checked cheaply before a probe job is queued: the runs, the target, the tags. */
export function checkProbeJob(db: LibraryDb, params: ProbeJobParams): void {
  const seen = new Map<number, number>();
  params.embeddings.forEach((ref, i) => {
    let run;
    try {
      run = resolveEmbeddingRun(db, ref);
    } catch (error) {
      refuse(`params.embeddings[${i}]`, error);
    }
    const earlier = seen.get(run.runId);
    if (earlier !== undefined) refuse(`params.embeddings[${i}]`, `names embedding run ${run.runId} (${run.model}) again, as embeddings[${earlier}] does`);
    seen.set(run.runId, i);
  });
  try {
    targetRaterIds(db, parseProbeTarget(params.target ?? 'consensus'));
  } catch (error) {
    refuse('params.target', error);
  }
  if (params.excludeTags?.length) {
    const known = listTags(db);
    const names = new Set(known.map((t) => t.tag));
    params.excludeTags.forEach((tag, i) => {
      if (!names.has(tag)) {
        refuse(
          `params.excludeTags[${i}]`,
          `no image is tagged ${JSON.stringify(tag)} (${known.length ? `tags: ${known.slice(0, 20).map((t) => t.tag).join(', ')}` : 'this library has no tags yet'})`,
        );
      }
    });
  }
}

export function checkRaterModelsJob(db: LibraryDb, params: RaterModelsJobParams): void {
  try {
    resolveEmbeddingRun(db, params.embedding);
  } catch (error) {
    refuse('params.embedding', error);
  }
  if (params.by === 'cluster' && listRaterGroups(db).groups.length === 0) {
    refuse('params.by', 'this library has no rater groups: run the raters job with "save groups", or choose by rater');
  }
}

// ------------------------------------------------------------------------------------------------ the work

export interface ProbeJobSummary {
  analysisId: number;
  target: string;
  images: number;
  backbones: number;
  /** The backbone and head with the highest cross-validated Spearman, and that Spearman. */
  best: string | null;
  spearman: number | null;
}

/** The spread of each backbone's first-head out-of-fold predictions per image, from the stored 'probe' analyses. */
function backboneSpread(db: LibraryDb, result: ProbeLabelsResult): { imageId: number; value: number; extra: Float32Array }[] {
  if (result.backbones.length < 2) return [];
  const columns = result.backbones.map((b) => {
    const id = b.heads[0]?.analysisId;
    return id === null || id === undefined ? null : new Map(readAnalysisValues(db, id).map((v) => [v.imageId, v.value]));
  });
  if (columns.some((c) => c === null)) return [];
  const out: { imageId: number; value: number; extra: Float32Array }[] = [];
  for (const [imageId] of columns[0]!) {
    const predictions = columns.map((c) => c!.get(imageId) ?? null);
    if (predictions.some((p) => p === null || !Number.isFinite(p))) continue;
    const values = predictions as number[];
    out.push({ imageId, value: Math.max(...values) - Math.min(...values), extra: Float32Array.from(values) });
  }
  return out;
}

/** Runs the probe (storing its 'probe' analyses) and stores the whole report as a 'probe-report' analysis. */
export function runProbeReport(db: LibraryDb, params: ProbeJobParams): ProbeJobSummary {
  const result = probeLabels(db, {
    embeddings: params.embeddings,
    target: params.target,
    heads: params.heads,
    folds: params.folds,
    learningCurve: params.learningCurve,
    exclude: params.excludeTags?.length ? { tags: params.excludeTags } : undefined,
  });
  const recipe = {
    embeddings: result.backbones.map((b) => b.run),
    target: result.target.key,
    heads: result.heads,
    folds: result.folds,
    seed: result.seed,
    learningCurve: [...new Set(params.learningCurve ?? [])].sort((a, b) => a - b),
    excludeTags: [...new Set(params.excludeTags ?? [])].sort(),
  };
  const analysisId = saveAnalysis(db, {
    kind: 'probe-report',
    sourceRunId: null,
    params: recipe,
    summary: {
      version: PROBE_REPORT_VERSION,
      request: params,
      report: result,
      value: result.backbones.length >= 2 ? `spread (max - min) of the backbones' ${result.heads[0]} out-of-fold predictions` : 'none: one backbone has nothing to disagree with',
      extra: 'each backbone\'s out-of-fold prediction, in the order of report.backbones',
    },
    values: backboneSpread(db, result),
  });
  let best: { label: string; spearman: number } | null = null;
  for (const b of result.backbones) {
    for (const h of b.heads) {
      const s = h.metrics.spearman.mean;
      if (s !== null && (best === null || s > best.spearman)) best = { label: `${b.model} ${h.head}`, spearman: s };
    }
  }
  return { analysisId, target: result.target.key, images: result.images, backbones: result.backbones.length, best: best?.label ?? null, spearman: best?.spearman ?? null };
}

export interface RaterModelsJobSummary {
  analysisId: number | null;
  run: number;
  model: string;
  models: number;
  skipped: number;
  images: number;
}

export function runRaterModels(db: LibraryDb, params: RaterModelsJobParams): RaterModelsJobSummary {
  const result: RaterModelsResult = raterModels(db, { embedding: params.embedding, by: params.by, minRatings: params.minRatings, head: params.head });
  return { analysisId: result.analysisId, run: result.run, model: result.model, models: result.models.length, skipped: result.skipped.length, images: result.images };
}

export function runProbeTask(db: LibraryDb, task: ProbeTask): ProbeJobSummary | RaterModelsJobSummary {
  return task.kind === 'probe' ? runProbeReport(db, task.params) : runRaterModels(db, task.params);
}

/** The job's work: the task in a worker thread, ended by cancelling; on the calling thread where none can start. */
export function probeTaskWork(db: LibraryDb, task: ProbeTask, options: WorkerJobOptions = {}): (ctx: JobContext) => Promise<JobOutcome> {
  return workerTaskJob(db, new URL('./probeWorker.js', import.meta.url), task.kind, task, runProbeTask, options);
}

// ------------------------------------------------------------------------------------------------ reading back

type ProbeMethods = Pick<MiruApi, 'probeReports'>;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Why a stored report cannot be shown, or null when it has the layout this version writes. */
function reportProblem(summary: Record<string, unknown>): string | null {
  if (summary.version !== PROBE_REPORT_VERSION) return `written in layout version ${JSON.stringify(summary.version ?? null)}; this Miru reads version ${PROBE_REPORT_VERSION} (run the probe again)`;
  const report = summary.report;
  if (!isObject(report) || !Array.isArray(report.backbones) || !Array.isArray(report.learningCurve) || !Array.isArray(report.disagreements) || !isObject(report.target)) {
    return 'its summary has no complete report (backbones, learningCurve, disagreements, target); run the probe again';
  }
  if (!isObject(summary.request) || !Array.isArray(summary.request.embeddings)) return 'its summary lacks the job parameters; run the probe again';
  return null;
}

export function probesMethods(db: LibraryDb): ProbeMethods {
  const imageRefs = (ids: number[]): Map<number, ProbeImageRef> => {
    const rows = db
      .prepare<[string], { id: number; rel_path: string; content_hash: string | null }>('SELECT id, rel_path, content_hash FROM images WHERE id IN (SELECT value FROM json_each(?))')
      .all(JSON.stringify(ids));
    return new Map(rows.map((r) => [r.id, { relPath: r.rel_path, hash: r.content_hash }]));
  };
  const missing: ProbeImageRef = { relPath: null, hash: null };

  // Reports and probe ids straight from `analyses`: listAnalyses also counts each analysis' values, a scan of a
  // million rows per report (every report keeps a value per image) that this answer does not need.
  const probeIdsStmt = db.prepare<[], number>(`SELECT id FROM analyses WHERE kind = 'probe'`).pluck();
  const reportRows = db.prepare<[number], { id: number; summary: string; created_at: string }>(
    `SELECT id, summary, created_at FROM analyses WHERE kind = 'probe-report' ORDER BY created_at DESC, id DESC LIMIT ?`,
  );

  function storedReport(row: { id: number; created_at: string }, summary: Record<string, unknown>, exists: (id: number) => boolean): StoredProbeReport {
    const report = summary.report as ProbeLabelsReport;
    const refs = imageRefs(report.disagreements.map((d) => d.id));
    return {
      id: row.id,
      createdAt: row.created_at,
      params: summary.request as ProbeJobParams,
      report: {
        ...report,
        // A later probe of the same recipe replaced these predictions: say so rather than point at nothing.
        backbones: report.backbones.map((b) => ({ ...b, heads: b.heads.map((h) => ({ ...h, analysisId: h.analysisId !== null && exists(h.analysisId) ? h.analysisId : null })) })),
        disagreements: report.disagreements.map((d) => ({ ...d, ...(refs.get(d.id) ?? missing) })),
      },
    };
  }

  function storedRaterModels(record: AnalysisRecord, classes: number[] | null): StoredRaterModels | string {
    const models = record.summary.models;
    if (!Array.isArray(models) || !models.every((m) => isObject(m) && typeof m.name === 'string')) return 'its summary lists no rater models; run the rater-models job again';
    const rows: RaterModelRow[] = models.map((m: Record<string, unknown>) => ({
      name: m.name as string,
      raters: typeof m.raters === 'number' ? m.raters : 1,
      ratings: typeof m.ratings === 'number' ? m.ratings : 0,
      spearman: typeof m.spearman === 'number' ? m.spearman : null,
    }));
    // The most disputed images straight from SQL: reading every value of a million-image library to keep 16 is waste.
    const top = db
      .prepare<[number, number], { image_id: number; value: number; extra: Buffer | null }>(
        'SELECT image_id, value, extra FROM analysis_values WHERE analysis_id = ? AND value IS NOT NULL ORDER BY value DESC, image_id LIMIT ?',
      )
      .all(record.id, DISPUTED_SHOWN);
    const refs = imageRefs(top.map((t) => t.image_id));
    const disputed: RaterModelDispute[] = top.map((t) => {
      // Copy: a Buffer may be a view into a shared pool at an offset that is not float-aligned.
      const predictions = t.extra ? Array.from(new Float32Array(new Uint8Array(t.extra).buffer)) : [];
      const mean = predictions.length ? predictions.reduce((s, p) => s + p, 0) / predictions.length : Number.NaN;
      return { id: t.image_id, disagreement: t.value, mean, predictions, ...(refs.get(t.image_id) ?? missing) };
    });
    const p = record.params;
    return {
      id: record.id,
      createdAt: record.createdAt,
      run: record.sourceRunId,
      model: typeof record.summary.model === 'string' ? record.summary.model : null,
      params: {
        by: typeof p.by === 'string' ? p.by : undefined,
        head: typeof p.head === 'string' ? p.head : undefined,
        minRatings: typeof p.minRatings === 'number' ? p.minRatings : undefined,
        folds: typeof p.folds === 'number' ? p.folds : undefined,
        seed: typeof p.seed === 'number' ? p.seed : undefined,
      },
      models: rows,
      classes,
      images: record.count,
      disputed,
    };
  }

  return {
    async probeReports(): Promise<ProbeReports> {
      const unreadable: ProbeReports['unreadable'] = [];
      const probeIds = new Set(probeIdsStmt.all());
      const reports: StoredProbeReport[] = [];
      for (const row of reportRows.all(REPORTS_SHOWN)) {
        let summary: Record<string, unknown> | null = null;
        try {
          const parsed: unknown = JSON.parse(row.summary);
          summary = isObject(parsed) ? parsed : null;
        } catch {
          summary = null;
        }
        const problem = summary ? reportProblem(summary) : 'its summary is not a JSON object; run the probe again';
        if (problem || !summary) unreadable.push({ id: row.id, reason: `probe report ${row.id}: ${problem}` });
        else reports.push(storedReport(row, summary, (id) => probeIds.has(id)));
      }
      const reported = new Set(reports.flatMap((r) => r.report.backbones.flatMap((b) => b.heads.map((h) => h.analysisId))));
      const raterModels: StoredRaterModels[] = [];
      const raterModelRecords = listAnalyses(db, { kind: 'rater-models' });
      let classes: number[] | null = null;
      try {
        if (raterModelRecords.length) classes = ordinalScale(db).classes;
      } catch {
        classes = null; // no ratings left: the view places the predictions on their own range
      }
      for (const record of raterModelRecords) {
        const stored = storedRaterModels(record, classes);
        if (typeof stored === 'string') unreadable.push({ id: record.id, reason: `rater models ${record.id}: ${stored}` });
        else raterModels.push(stored);
      }
      return {
        embeddings: listEmbeddingRuns(db).map((r) => ({ run: r.runId, model: r.model, dim: r.dim, vectors: r.count, status: r.status })),
        reports,
        raterModels,
        unreportedProbes: [...probeIds].filter((id) => !reported.has(id)).length,
        unreadable,
      };
    },
  };
}
