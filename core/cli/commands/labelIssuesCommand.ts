import type { Command } from 'commander';
import { findLabelIssues, FILTER_BY, RANK_BY, type FilterBy, type RankBy } from '../../analysis/confidentLearning.js';
import { readLabelFiles } from '../../analysis/labelFiles.js';
import { oneOf, printJson, unitFraction, wholeNumber } from '../options.js';

interface LabelIssuesOptions {
  labels: string;
  predProbs: string;
  filterBy: FilterBy;
  rankBy: RankBy;
  fracNoise: number;
  minExamplesPerClass: number;
  top: number;
  json?: boolean;
}

export function registerLabelIssues(program: Command): void {
  program
    .command('label-issues')
    .description('Find likely label errors from given labels and out-of-sample predicted probabilities made elsewhere (confident learning, as cleanlab).')
    .requiredOption('--labels <file>', 'given labels: JSON array of 0-based class indices, or CSV (one column, or a column named label/labels/given_label)')
    .requiredOption('--pred-probs <file>', 'predicted probabilities: JSON array of rows, or CSV with one row per example and one column per class')
    .option('--filter-by <mode>', `which examples count as issues: ${FILTER_BY.join(', ')}`, oneOf('--filter-by', FILTER_BY), 'prune_by_noise_rate')
    .option('--rank-by <method>', `label quality score that orders the issues: ${RANK_BY.join(', ')}`, oneOf('--rank-by', RANK_BY), 'self_confidence')
    .option('--frac-noise <x>', 'report only this fraction of the confident issues (prune_by_* and both)', unitFraction('--frac-noise'), 1)
    .option('--min-examples-per-class <n>', 'never flag a class down below this many examples', wholeNumber('--min-examples-per-class'), 1)
    .option('--top <n>', 'issues listed in the text output', wholeNumber('--top'), 20)
    .option('--json', 'print {"issues": [ranked row indices], "scores": [label quality per row], ...}')
    .action(async (opts: LabelIssuesOptions) => {
      if (opts.minExamplesPerClass < 0) throw new Error('--min-examples-per-class must be 0 or more.');
      const inputs = await readLabelFiles(opts.labels, opts.predProbs);
      const result = findLabelIssues(inputs, {
        filterBy: opts.filterBy,
        rankBy: opts.rankBy,
        fracNoise: opts.fracNoise,
        minExamplesPerClass: opts.minExamplesPerClass,
      });
      if (opts.json) {
        printJson({
          issues: Array.from(result.ranked),
          scores: Array.from(result.quality),
          filterBy: result.filterBy,
          rankedBy: result.rankBy,
          count: result.ranked.length,
          rows: inputs.labels.length,
          classes: inputs.classes,
        });
        return;
      }
      const n = inputs.labels.length;
      console.log(
        `${result.ranked.length} likely label issues among ${n} examples (${(100 * result.ranked.length / n).toFixed(1)}%), ` +
          `${inputs.classes} classes; filter ${result.filterBy}, ranked by ${result.rankBy} (lowest label quality first).`,
      );
      const shown = result.ranked.subarray(0, Math.max(0, opts.top));
      if (shown.length) {
        console.log('  example  given  predicted  quality');
        for (const i of shown) {
          console.log(`  ${String(i).padStart(7)}  ${String(inputs.labels[i]).padStart(5)}  ${String(result.predicted[i]).padStart(9)}  ${result.quality[i]!.toFixed(4)}`);
        }
        if (result.ranked.length > shown.length) console.log(`  ... ${result.ranked.length - shown.length} more (--top N, or --json for all)`);
      }
    });
}
