import { InvalidArgumentError, type Command } from 'commander';
import { knnCacheDir, knnProgressEvents } from '../../analysis/knnIndex.js';
import { AUTO_THRESHOLD_FRACTION, defaultEmbeddingRun, findDuplicates, imagePaths } from '../../analysis/neighbors.js';
import { throttleProgress } from '../../jobs/progress.js';
import { cacheDirFor } from '../../library/openLibrary.js';
import { terminalProgress } from '../progressBar.js';
import { openDb, printJson } from '../options.js';

interface DuplicatesOptions {
  db: string;
  threshold?: number;
  embedding?: string;
  json?: boolean;
}

const numberOption = (name: string) => (value: string): number => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number (got ${JSON.stringify(value)}).`);
  return n;
};

export function registerDuplicates(program: Command): void {
  program
    .command('duplicates')
    .description('Byte-identical images (by content hash) and near-duplicates (embeddings within a cosine distance), stored as groups.')
    .requiredOption('--db <path>', 'library database file')
    .option('--threshold <t>', `near-duplicate cosine distance, 0 to 2 (default: ${AUTO_THRESHOLD_FRACTION} × the run's median distance to the nearest neighbour)`, numberOption('--threshold'))
    .option('--embedding <run>', 'embedding run id or model name (default: the latest run with vectors; without any, content hashes only)')
    .option('--json', 'print JSON: {"exact": [[ids]], "near": [{"ids", "maxDistance"}], ...}')
    .action(async (opts: DuplicatesOptions) => {
      const db = openDb(opts.db, 'existing');
      const bar = terminalProgress();
      try {
        const run = defaultEmbeddingRun(db, opts.embedding);
        if (!run && !opts.json) console.error('note: no embedding run in this library, so only byte-identical duplicates are found. Run `miru embed` for near-duplicates.');
        const result = await findDuplicates(db, run?.runId ?? null, {
          threshold: opts.threshold,
          cacheDir: knnCacheDir(cacheDirFor(opts.db)),
          onProgress: knnProgressEvents('duplicates', throttleProgress(bar.listener)),
        });
        bar.stop();
        if (opts.json) {
          printJson({ analysisId: result.analysisId, embedding: result.embedding, threshold: result.threshold, thresholdSource: result.thresholdSource, metric: result.metric, exact: result.exact, near: result.near });
          return;
        }
        const paths = imagePaths(db, result.groups.flat());
        const groups = (n: number) => `${n} group${n === 1 ? '' : 's'}`;
        const show = (ids: number[]) => ids.map((id) => `    ${paths.get(id) ?? ''} (id ${id})`).join('\n');
        console.log(`${groups(result.exact.length)} of byte-identical images:`);
        for (const g of result.exact) console.log(show(g));
        if (result.embedding && result.threshold === null) {
          console.log(`No near-duplicate search: embedding run ${result.embedding.runId} (${result.embedding.model}) has a single vector, so no pair to compare.`);
        } else if (result.embedding) {
          console.log(`${groups(result.near.length)} of near-duplicates within cosine distance ${result.threshold!.toPrecision(3)}${result.thresholdSource === 'auto' ? ' (automatic)' : ''} in embedding run ${result.embedding.runId} (${result.embedding.model}):`);
          for (const g of result.near) console.log(`  largest link ${g.maxDistance.toFixed(4)}\n${show(g.ids)}`);
        }
        console.log(`Stored ${groups(result.groups.length)} as analysis ${result.analysisId}.`);
      } finally {
        bar.stop();
        db.close();
      }
    });
}
