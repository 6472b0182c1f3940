import type { Command } from 'commander';
import { knnCacheDir } from '../../analysis/knnIndex.js';
import { defaultEmbeddingRun, similarImages } from '../../analysis/neighbors.js';
import { cacheDirFor } from '../../library/openLibrary.js';
import { openDb, positiveInt, printJson } from '../options.js';

interface SimilarOptions {
  db: string;
  image: string;
  k: number;
  embedding?: string;
  json?: boolean;
}

export function registerSimilar(program: Command): void {
  program
    .command('similar')
    .description('The images nearest to one image in an embedding run (cosine distance).')
    .requiredOption('--db <path>', 'library database file')
    .requiredOption('--image <ref>', 'the image: relative or absolute path, content hash, or id:N')
    .option('--k <n>', 'how many neighbours', positiveInt('--k'), 20)
    .option('--embedding <run>', 'embedding run id or model name (default: the latest run with vectors)')
    .option('--json', 'print JSON: {"image", "embedding", "neighbors": [{"id", "path", "distance"}]}')
    .action(async (opts: SimilarOptions) => {
      const db = openDb(opts.db, 'existing');
      try {
        const run = defaultEmbeddingRun(db, opts.embedding);
        if (!run) throw new Error('The library has no embeddings yet. Make some with `miru embed --db D --model NAME`.');
        const result = await similarImages(db, run.runId, opts.image, opts.k, { cacheDir: knnCacheDir(cacheDirFor(opts.db)) });
        if (opts.json) {
          printJson({ image: result.image, embedding: { runId: result.runId, model: result.model, metric: result.metric }, neighbors: result.neighbors });
          return;
        }
        console.log(`Nearest to ${result.image.path} (id ${result.image.id}) in embedding run ${result.runId} (${result.model}), ${result.metric} distance:`);
        result.neighbors.forEach((nb, i) => console.log(`${String(i + 1).padStart(4)}  ${nb.distance.toFixed(4)}  ${nb.path}  (id ${nb.id})`));
      } finally {
        db.close();
      }
    });
}
