/**
 * Analysis jobs the UI can start (issue 6): a map (projection), outlier scores, duplicate groups, the rater
 * analysis, probes across backbones and per-rater models (the last two in probesApi.ts), and label issues with odd
 * images (`miru issues`). Each checks its parameters before the job is queued (a bad embedding run or rater count
 * is an input error, not a failed job) and stores its result as an analysis; the service then tells the UI
 * 'analyses' changed.
 */
import type { LibraryDb } from '../library/openLibrary.js';
import { resolveEmbeddingRun } from '../analysis/embeddingMatrix.js';
import { projectEmbeddingRun } from '../analysis/projections.js';
import { findDuplicates, outlierScores } from '../analysis/neighbors.js';
import { knnCacheDir, knnProgressEvents } from '../analysis/knnIndex.js';
import { analyzeRaters } from '../analysis/raterAnalysis.js';
import { pseudoLabelLibrary } from '../analysis/pseudoLabels.js';
import { workerTaskJob, type WorkerJobOptions } from '../jobs/workerTask.js';
import { runIssuesJob } from './issuesApi.js';
import type { JobContext, JobOutcome } from '../jobs/jobRunner.js';
import { checkProbeJob, checkRaterModelsJob, probeTaskWork } from './probesApi.js';
import { ApiInputError, parseJobParams, type JobParams } from './apiSchemas.js';

export const ANALYSIS_JOB_KINDS = ['project', 'outliers', 'duplicates', 'raters', 'probe', 'rater-models', 'issues', 'pseudo-labels'] as const;
export type AnalysisJobKind = (typeof ANALYSIS_JOB_KINDS)[number];

export function isAnalysisJobKind(kind: string): kind is AnalysisJobKind {
  return (ANALYSIS_JOB_KINDS as readonly string[]).includes(kind);
}

/** The work of an analysis job, after its parameters were checked. */
export function analysisJobWork(
  db: LibraryDb,
  cacheDir: string,
  kind: AnalysisJobKind,
  params: Record<string, unknown>,
  options: WorkerJobOptions = {},
): (ctx: JobContext) => Promise<JobOutcome> {
  const embedding = (ref: string) => {
    try {
      return resolveEmbeddingRun(db, ref);
    } catch (error) {
      throw new ApiInputError('startJob', 'params.embedding', (error as Error).message);
    }
  };
  const knn = { cacheDir: knnCacheDir(cacheDir) };
  switch (kind) {
    case 'project': {
      const p: JobParams['project'] = parseJobParams('project', params);
      const run = embedding(p.embedding);
      return async (ctx) => {
        const result = await projectEmbeddingRun(db, run.runId, { method: p.method, neighbors: p.neighbors, minDist: p.minDist, seed: p.seed, knn, onProgress: ctx.onProgress });
        return { summary: { analysisId: result.analysisId, run: result.runId, method: result.method, points: result.imageIds.length } };
      };
    }
    case 'outliers': {
      const p: JobParams['outliers'] = parseJobParams('outliers', params);
      const run = embedding(p.embedding);
      return async (ctx) => {
        const result = await outlierScores(db, run.runId, p.k ?? 10, { ...knn, onProgress: knnProgressEvents('outliers', ctx.onProgress) });
        return { summary: { analysisId: result.analysisId, run: result.runId, k: result.k, images: result.images.length, median: result.median } };
      };
    }
    case 'duplicates': {
      const p: JobParams['duplicates'] = parseJobParams('duplicates', params);
      const run = p.embedding === undefined ? null : embedding(p.embedding);
      return async (ctx) => {
        const result = await findDuplicates(db, run?.runId ?? null, { ...knn, threshold: p.threshold, onProgress: knnProgressEvents('duplicates', ctx.onProgress) });
        return { summary: { analysisId: result.analysisId, exactGroups: result.exact.length, nearGroups: result.near.length, threshold: result.threshold } };
      };
    }
    case 'raters': {
      const p: JobParams['raters'] = parseJobParams('raters', params);
      return async (ctx) => {
        ctx.onProgress({ job: 'raters', phase: 'analyse', done: 0, total: 1 });
        const result = await analyzeRaters(db, { clusters: p.clusters, consensus: p.consensus, model: p.model, saveGroups: p.saveGroups });
        ctx.onProgress({ job: 'raters', phase: 'analyse', done: 1, total: 1 });
        return {
          summary: {
            raters: result.raterCount,
            ratings: result.ratings,
            alpha: result.alpha,
            clusters: result.clusters.length,
            spammers: result.spammers.raters.length,
            consensus: result.consensus.analysisId ?? null,
          },
        };
      };
    }
    case 'pseudo-labels': {
      const p: JobParams['pseudo-labels'] = parseJobParams('pseudo-labels', params);
      if (p.method === 'propagation') {
        if (p.embedding === undefined) throw new ApiInputError('startJob', 'params.embedding', 'label propagation needs an embedding run (its kNN graph carries the labels)');
        embedding(p.embedding);
      } else if (p.model === undefined) throw new ApiInputError('startJob', 'params.model', 'thresholded pseudo-labels need a model whose class probabilities are the predictions');
      return async (ctx) => {
        const report = await pseudoLabelLibrary(db, { ...p, cacheDir: knn.cacheDir, onProgress: knnProgressEvents('pseudo-labels', ctx.onProgress) });
        return { summary: { analysisId: report.analysisId, method: report.method, labelled: report.labelled, pseudoLabelled: report.pseudoLabelled, holdout: report.holdout } };
      };
    }
    case 'probe': {
      const p: JobParams['probe'] = parseJobParams('probe', params);
      checkProbeJob(db, p);
      return probeTaskWork(db, { kind: 'probe', params: p }, options);
    }
    case 'rater-models': {
      const p: JobParams['rater-models'] = parseJobParams('rater-models', params);
      checkRaterModelsJob(db, p);
      return probeTaskWork(db, { kind: 'rater-models', params: p }, options);
    }
    case 'issues': {
      const p: JobParams['issues'] = parseJobParams('issues', params);
      const run = embedding(p.embedding);
      // The run as resolved now, so a newer run of the same model appearing meanwhile changes nothing.
      const task = { ...p, embedding: String(run.runId) };
      // k-fold heads on every rated image: seconds to minutes of synchronous work, kept off the host's thread.
      return workerTaskJob(db, new URL('./issuesWorker.js', import.meta.url), 'issues', task, runIssuesJob, options);
    }
  }
}
