import type { Command } from 'commander';
import { knnCacheDir, knnProgressEvents } from '../../analysis/knnIndex.js';
import { outlierScores } from '../../analysis/neighbors.js';
import { throttleProgress } from '../../jobs/progress.js';
import { cacheDirFor } from '../../library/openLibrary.js';
import { terminalProgress } from '../progressBar.js';
import { openDb, positiveInt, printJson } from '../options.js';

interface OutliersOptions {
  db: string;
  embedding: string;
  k: number;
  top: number;
  json?: boolean;
}

export function registerOutliers(program: Command): void {
  program
    .command('outliers')
    .description("Outlier scores of an embedding run: mean cosine distance to the k nearest neighbours (cleanlab's OOD score), stored per image.")
    .requiredOption('--db <path>', 'library database file')
    .requiredOption('--embedding <run>', 'embedding run id or model name (its latest run)')
    .option('--k <n>', 'neighbours averaged over', positiveInt('--k'), 10)
    .option('--top <n>', 'how many of the most unusual images to print (text output)', positiveInt('--top'), 20)
    .option('--json', 'print JSON: every image, most unusual first, with meanDistance and score (exp(-meanDistance / median), 0..1)')
    .action(async (opts: OutliersOptions) => {
      const db = openDb(opts.db, 'existing');
      const bar = terminalProgress();
      try {
        const result = await outlierScores(db, opts.embedding, opts.k, {
          cacheDir: knnCacheDir(cacheDirFor(opts.db)),
          onProgress: knnProgressEvents('outliers', throttleProgress(bar.listener)),
        });
        bar.stop();
        if (opts.json) {
          printJson({
            analysisId: result.analysisId,
            embedding: { runId: result.runId, model: result.model, metric: result.metric },
            k: result.k,
            median: result.median,
            images: result.images,
          });
          return;
        }
        console.log(`Outlier scores of ${result.images.length} images in embedding run ${result.runId} (${result.model}), k = ${result.k}; median mean distance ${result.median.toFixed(4)}. Stored as analysis ${result.analysisId}.`);
        console.log('  mean dist  score   image');
        for (const img of result.images.slice(0, opts.top)) console.log(`  ${img.meanDistance.toFixed(4).padStart(9)}  ${img.score.toFixed(3)}   ${img.path} (id ${img.id})`);
      } finally {
        bar.stop();
        db.close();
      }
    });
}
