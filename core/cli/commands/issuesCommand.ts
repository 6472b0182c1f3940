import type { Command } from 'commander';
import { FILTER_BY, RANK_BY, type FilterBy, type RankBy } from '../../analysis/confidentLearning.js';
import { findLibraryIssues } from '../../analysis/libraryIssues.js';
import { oneOf, openDb, positiveInt, positiveNumber, printJson, unitFraction, wholeNumber } from '../options.js';

interface IssuesOptions {
  db: string;
  embedding: string;
  head: 'logistic' | 'ordinal';
  folds: number;
  seed: number;
  l2?: number;
  filterBy: FilterBy;
  rankBy: RankBy;
  fracNoise: number;
  minRatings: number;
  imageIssues: boolean;
  top: number;
  json?: boolean;
}

export function registerIssues(program: Command): void {
  program
    .command('issues')
    .description(
      'Data-quality issues of a library: likely label errors (consensus rating vs out-of-fold predictions of a head on an embedding run, confident learning as cleanlab) and odd images (dark, light, blurry, low information, odd aspect ratio or size, grayscale). Stored as analyses.',
    )
    .requiredOption('--db <path>', 'library database file')
    .requiredOption('--embedding <run>', 'embedding run id or model name (its latest run)')
    .option('--head <kind>', 'head trained on the embeddings: logistic (multinomial) or ordinal', oneOf('--head', ['logistic', 'ordinal'] as const), 'logistic')
    .option('--folds <k>', 'cross-validation folds for the out-of-fold probabilities', positiveInt('--folds'), 5)
    .option('--seed <n>', 'seed of the folds', wholeNumber('--seed'), 1)
    .option('--l2 <x>', 'L2 penalty of the head (default 1)', positiveNumber('--l2'))
    .option('--filter-by <mode>', `which images count as label issues: ${FILTER_BY.join(', ')}`, oneOf('--filter-by', FILTER_BY), 'prune_by_noise_rate')
    .option('--rank-by <method>', `label quality score: ${RANK_BY.join(', ')}`, oneOf('--rank-by', RANK_BY), 'self_confidence')
    .option('--frac-noise <x>', 'report only this fraction of the confident label issues (prune_by_* and both)', unitFraction('--frac-noise'), 1)
    .option('--min-ratings <n>', 'leave out images with fewer ratings', positiveInt('--min-ratings'), 1)
    .option('--no-image-issues', 'skip the odd-image checks')
    .option('--top <n>', 'issues listed per kind in the text output', wholeNumber('--top'), 10)
    .option('--json', 'print {"labelIssues": [{id, path, given, predicted, quality, residual}], "imageIssues": {type: [{id, score}]}, "counts": {...}, ...}')
    .action(async (opts: IssuesOptions) => {
      if (opts.folds < 2) throw new Error('--folds must be at least 2.');
      const db = openDb(opts.db, 'existing');
      try {
        const result = findLibraryIssues(db, {
          embedding: opts.embedding,
          head: opts.head,
          folds: opts.folds,
          seed: opts.seed,
          l2: opts.l2,
          filterBy: opts.filterBy,
          rankBy: opts.rankBy,
          fracNoise: opts.fracNoise,
          minRatings: opts.minRatings,
          imageIssues: opts.imageIssues,
        });
        if (opts.json) {
          printJson(result);
          return;
        }
        const c = result.counts;
        console.log(
          `Label issues: ${c.labelIssues} of ${c.labelled} rated images (${result.head} head on embedding run ${result.embedding.runId} (${result.embedding.model}), ` +
            `${result.folds}-fold; filter ${result.filterBy}, ranked by ${result.rankedBy}). Stored as analysis ${result.analysisIds.labelIssues}.`,
        );
        if (c.ratedWithoutEmbedding) console.log(`  ${c.ratedWithoutEmbedding} rated images have no embedding in this run and were not checked.`);
        if (c.belowMinRatings) console.log(`  ${c.belowMinRatings} images have fewer than ${opts.minRatings} ratings and were not checked.`);
        if (result.labelIssues.length) {
          console.log('  quality  given  predicted  image');
          for (const e of result.labelIssues.slice(0, opts.top)) {
            console.log(`  ${e.quality.toFixed(3).padStart(7)}  ${String(e.given).padStart(5)}  ${String(e.predicted).padStart(9)}  ${e.path} (id ${e.id})`);
          }
          if (result.labelIssues.length > opts.top) console.log(`  ... ${result.labelIssues.length - opts.top} more (--top N, or --json)`);
        }
        if (c.imageIssues) {
          console.log(`Odd images among ${c.imagesScored} with statistics${c.imagesWithoutStats ? ` (${c.imagesWithoutStats} without)` : ''}:`);
          for (const [type, list] of Object.entries(result.imageIssues)) {
            const top = list.slice(0, opts.top).map((x) => `${x.id} (${x.score.toFixed(2)})`);
            console.log(`  ${type.padEnd(16)} ${String(list.length).padStart(5)}${top.length ? `  ids: ${top.join(', ')}${list.length > top.length ? ', ...' : ''}` : ''}`);
          }
        }
      } finally {
        db.close();
      }
    });
}
