import { InvalidArgumentError, type Command } from 'commander';
import { projectEmbeddingRun, type ProjectionMethod } from '../../analysis/projections.js';
import { knnCacheDir } from '../../analysis/knnIndex.js';
import { throttleProgress } from '../../jobs/progress.js';
import { cacheDirFor } from '../../library/openLibrary.js';
import { terminalProgress } from '../progressBar.js';
import { openDb, positiveInt, printJson, wholeNumber } from '../options.js';

interface ProjectOptions {
  db: string;
  embedding: string;
  method: string;
  neighbors?: number;
  minDist?: number;
  seed?: number;
  epochs?: number;
  json?: boolean;
}

const nonNegativeNumber = (name: string) => (value: string): number => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${name} must be a number of 0 or more (got ${JSON.stringify(value)}).`);
  return n;
};

export function registerProject(program: Command): void {
  program
    .command('project')
    .description('A 2-D map (UMAP or PCA) of an embedding run, stored for the embedding-map view.')
    .requiredOption('--db <path>', 'library database file')
    .requiredOption('--embedding <run>', 'embedding run id or model name (its latest run)')
    .option('--method <m>', 'umap | pca', 'umap')
    .option('--neighbors <k>', 'UMAP neighbourhood size, the point itself included (default 15)', positiveInt('--neighbors'))
    .option('--min-dist <x>', 'UMAP minimum distance between points in the map (default 0.1)', nonNegativeNumber('--min-dist'))
    .option('--seed <n>', 'UMAP seed: the same seed gives the same map (default 1)', wholeNumber('--seed'))
    .option('--epochs <n>', 'UMAP optimisation epochs (default: 500 for small runs down to 200 above 7500 points)', positiveInt('--epochs'))
    .option('--json', 'print JSON: the run, the recipe and every point')
    .action(async (opts: ProjectOptions) => {
      if (opts.method !== 'umap' && opts.method !== 'pca') throw new Error(`--method ${opts.method}: use umap or pca.`);
      const method: ProjectionMethod = opts.method;
      if (method === 'pca' && (opts.neighbors !== undefined || opts.minDist !== undefined || opts.epochs !== undefined)) {
        throw new Error('--neighbors, --min-dist and --epochs are UMAP settings; leave them out with --method pca.');
      }
      const db = openDb(opts.db, 'existing');
      const bar = terminalProgress();
      try {
        const result = await projectEmbeddingRun(db, opts.embedding, {
          method,
          neighbors: opts.neighbors,
          minDist: opts.minDist,
          seed: opts.seed,
          nEpochs: opts.epochs,
          knn: { cacheDir: knnCacheDir(cacheDirFor(opts.db)) },
          onProgress: throttleProgress(bar.listener),
        });
        bar.stop();
        if (opts.json) {
          printJson({
            analysisId: result.analysisId,
            embedding: { runId: result.runId, model: result.summary.model ?? null },
            method: result.method,
            params: result.params,
            summary: result.summary,
            points: Array.from(result.imageIds, (id, i) => ({ id, x: result.coords[2 * i], y: result.coords[2 * i + 1] })),
          });
          return;
        }
        const ratio = result.summary.explainedVarianceRatio as number[] | undefined;
        const detail = ratio ? `, explained variance ${ratio.map((r) => `${(r * 100).toFixed(1)}%`).join(' + ')}` : `, ${result.summary.nEpochs} epochs`;
        console.log(`${result.method.toUpperCase()} map of embedding run ${result.runId}: ${result.imageIds.length} points${detail}, ${result.summary.elapsedMs} ms. Stored as analysis ${result.analysisId}.`);
      } finally {
        bar.stop();
        db.close();
      }
    });
}
