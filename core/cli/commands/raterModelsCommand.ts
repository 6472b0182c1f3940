import type { Command } from 'commander';
import { raterModels, type RaterModelHead, type RaterModelsResult } from '../../analysis/raterModels.js';
import { oneOf, openDb, positiveInt, positiveOrAuto, printJson, wholeNumber } from '../options.js';

const fmt = (x: number | null, digits = 3) => (x === null ? '–' : x.toFixed(digits));

export function formatRaterModels(r: RaterModelsResult): string {
  const out: string[] = [];
  out.push(`${r.models.length} ${r.by} models (${r.head} head on embedding run ${r.run}, ${r.model}, ${r.dim} values), ${r.folds}-fold cross-validated; predictions for ${r.images} images.`);
  const width = Math.max(4, ...r.models.map((m) => m.name.length));
  out.push(`  ${'name'.padEnd(width)}  ratings  spearman [95% CI]        mae`);
  for (const m of r.models) {
    const ci = m.spearman.lo === null ? '' : ` [${fmt(m.spearman.lo)}, ${fmt(m.spearman.hi)}]`;
    out.push(`  ${m.name.padEnd(width)}  ${String(m.ratings).padStart(7)}  ${`${fmt(m.spearman.mean)}${ci}`.padEnd(24)}  ${fmt(m.mae.mean)}`);
  }
  for (const s of r.skipped) out.push(`  skipped ${s.name}: ${s.reason}`);
  if (r.disagreements.length) {
    out.push('');
    out.push('Images the rater models disagree on most (sd of their predictions; mean):');
    for (const d of r.disagreements.slice(0, 10)) out.push(`  ${d.path}  sd ${fmt(d.disagreement, 2)}  mean ${fmt(d.mean, 2)}`);
  }
  if (r.analysisId !== null) out.push(`\nStored as rater-models analysis ${r.analysisId} (value: disagreement; extra: each model's prediction).`);
  for (const note of r.notes) out.push(`Note: ${note}`);
  return out.join('\n');
}

export function registerRaterModels(program: Command): void {
  program
    .command('rater-models')
    .description('A probe head per rater (or rater group) on an embedding: cross-validated quality, predictions for the whole library, and where the rater models disagree.')
    .requiredOption('--db <path>', 'library database file')
    .requiredOption('--embedding <run>', 'embedding run id or model name')
    .option('--by <unit>', 'rater or cluster (the rater groups)', oneOf('--by', ['rater', 'cluster'] as const), 'rater' as 'rater' | 'cluster')
    .option('--min-ratings <n>', 'raters (groups) with fewer ratings on embedded images get no model', positiveInt('--min-ratings'), 30)
    .option('--head <head>', 'ridge or ordinal', oneOf('--head', ['ridge', 'ordinal'] as const), 'ridge' as RaterModelHead)
    .option('--folds <n>', 'cross-validation folds', positiveInt('--folds'), 5)
    .option('--seed <n>', 'seed of the folds', wholeNumber('--seed'), 1)
    .option('--alpha <x>', 'ridge penalty, or auto (inner cross-validation)', positiveOrAuto('--alpha'), 'auto' as number | 'auto')
    .option('--disagreements <n>', 'how many most-disputed images to list', wholeNumber('--disagreements'), 20)
    .option('--json', 'print JSON')
    .action((opts: { db: string; embedding: string; by: 'rater' | 'cluster'; minRatings: number; head: RaterModelHead; folds: number; seed: number; alpha: number | 'auto'; disagreements: number; json?: boolean }) => {
      const db = openDb(opts.db, 'existing');
      try {
        const result = raterModels(db, {
          embedding: opts.embedding,
          by: opts.by,
          minRatings: opts.minRatings,
          head: opts.head,
          folds: opts.folds,
          seed: opts.seed,
          alpha: opts.alpha,
          disagreements: Math.max(0, opts.disagreements),
        });
        if (opts.json) printJson(result);
        else console.log(formatRaterModels(result));
      } finally {
        db.close();
      }
    });
}
