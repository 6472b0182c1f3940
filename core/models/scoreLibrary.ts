import type { LibraryDb } from '../library/openLibrary.js';
import { getModel, readVerifiedModel } from './modelRegistry.js';
import { readScore, type ScoredOutput } from './readScores.js';
import { runInferenceJob, type InferenceJobOptions } from './libraryInference.js';
import { openRun, finishRun, failureWriter, prepareRerun } from './runs.js';

export interface ScoreOptions extends InferenceJobOptions {
  force?: boolean;
  /** Try again the images whose earlier attempt in this run failed. */
  retryFailed?: boolean;
}

export interface ScoreSummary {
  run: number;
  scored: number;
  /** Already done by an earlier invocation of this run. */
  skipped: number;
  /** Failures recorded by an earlier invocation and not retried (see retryFailed). */
  failedBefore: number;
  /** Library images that could not be read when indexed: in no run. */
  unreadable: number;
  failed: number;
  ep: string;
  imagesPerSecond: number;
  status: 'complete' | 'partial';
  batchSize: number;
  fallbackReasons: string[];
  failures: { path: string; error: string }[];
}

/**
 * Scores every usable image with a model (`miru score`): one run per model and score output, resumable (a
 * rerun scores only what is missing unless `force`), NaN/infinite outputs and undecodable images recorded as
 * per-image failures, never as scores.
 */
export async function scoreLibrary(db: LibraryDb, modelName: string, options: ScoreOptions = {}): Promise<ScoreSummary> {
  const model = getModel(db, modelName);
  const spec = model.card.outputs.score;
  if (!spec) throw new Error(`The card of "${model.name}" has no outputs.score, so there is nothing to score. Add one with a card: \`miru models add ${model.path} --card card.json\`.`);
  const bytes = await readVerifiedModel(model);
  const params = { output: spec.name, kind: spec.kind, label: spec.label ?? null, activation: spec.activation ?? null, values: spec.values ?? null };
  const runId = openRun(db, model.id, 'score', params);
  const prior = prepareRerun(db, runId, options);

  const insertScore = db.prepare('INSERT OR REPLACE INTO scores (run_id, image_id, score, probs, top_labels) VALUES (?, ?, ?, ?, ?)');
  const writeFailures = failureWriter(db, runId);
  const summary = await runInferenceJob<ScoredOutput>(
    db,
    {
      job: 'score',
      runId,
      card: model.card,
      model: bytes,
      outputs: [spec.name],
      read: (outputs) => readScore(outputs[spec.name]!.data, model.card),
      write: db.transaction((rows: { imageId: number; row: ScoredOutput }[], failures: { imageId: number; error: string }[]) => {
        for (const { imageId, row } of rows) {
          const probs = row.probs ? Buffer.from(row.probs.buffer, row.probs.byteOffset, row.probs.byteLength) : null;
          insertScore.run(runId, imageId, row.score, probs, row.topLabels ? JSON.stringify(row.topLabels) : null);
        }
        writeFailures(failures);
      }),
    },
    options,
  );
  const status = finishRun(db, runId, summary.provider);
  return {
    run: runId,
    scored: summary.processed,
    ...prior,
    failed: summary.failed,
    ep: summary.provider,
    imagesPerSecond: summary.imagesPerSecond,
    status,
    batchSize: summary.batchSize,
    fallbackReasons: summary.fallbackReasons,
    failures: summary.failures,
  };
}
