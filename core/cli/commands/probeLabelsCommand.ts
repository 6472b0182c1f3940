import { InvalidArgumentError, type Command } from 'commander';
import { PROBE_HEADS, type ProbeHeadName } from '../../analysis/probeHeads.js';
import { probeLabels, type ProbeLabelsResult } from '../../analysis/probeLabels.js';
import type { MetricInterval } from '../../analysis/probeMetrics.js';
import { openDb, positiveInt, positiveNumber, positiveOrAuto, printJson, wholeNumber } from '../options.js';

/** Comma-separated values, repeatable: "--heads ridge,knn --heads ordinal". */
function list(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').map((v) => v.trim()).filter(Boolean)];
}

function headsOption(value: string, previous: ProbeHeadName[] = []): ProbeHeadName[] {
  const heads = list(value);
  for (const h of heads) if (!(PROBE_HEADS as readonly string[]).includes(h)) throw new InvalidArgumentError(`--heads: unknown head ${JSON.stringify(h)}; heads are ${PROBE_HEADS.join(', ')}.`);
  return [...previous, ...(heads as ProbeHeadName[])];
}

function countsOption(name: string) {
  return (value: string, previous: number[] = []): number[] => {
    const counts = list(value).map((v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name}: ${JSON.stringify(v)} is not a positive whole number.`);
      return n;
    });
    return [...previous, ...counts];
  };
}

function fractionOption(value: string): number {
  const x = Number(value);
  if (!(x > 0 && x < 1)) throw new InvalidArgumentError(`--exclude-top must be a fraction between 0 and 1, e.g. 0.05 (got ${JSON.stringify(value)}).`);
  return x;
}

const fmt = (x: number | null, digits = 3) => (x === null ? '–' : x.toFixed(digits));
const interval = (m: MetricInterval) => (m.mean === null ? '–' : m.lo === null ? fmt(m.mean) : `${fmt(m.mean)} [${fmt(m.lo)}, ${fmt(m.hi)}]`);

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) => `  ${cells.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')}`.trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

const METRIC_COLUMNS = ['spearman', 'pearson', 'qwk', 'accuracy', 'mae', 'emd'] as const;

export function formatProbeLabels(r: ProbeLabelsResult): string {
  const out: string[] = [];
  out.push(`Probing ${r.target.label} (classes ${r.target.classes.join(',')}) on ${r.images} images, ${r.folds}-fold cross-validation (seed ${r.seed}); mean [95% CI] over folds.`);
  const rows = r.backbones.flatMap((b) => b.heads.map((h) => [`${b.run} ${b.model} (${b.dim})`, h.head, ...METRIC_COLUMNS.map((m) => interval(h.metrics[m]))]));
  out.push(table(['embedding run', 'head', ...METRIC_COLUMNS], rows));
  if (r.learningCurve.length) {
    out.push('');
    out.push('Learning curve (Spearman with the target, training folds subsampled to each label count):');
    const sizes = [...new Set(r.learningCurve.map((p) => p.labels))];
    const keys = [...new Set(r.learningCurve.map((p) => `${p.run}\u0000${p.head}`))];
    out.push(
      table(
        ['embedding run', 'head', ...sizes.map(String)],
        keys.map((key) => {
          const [run, head] = key.split('\u0000');
          const model = r.backbones.find((b) => String(b.run) === run)?.model ?? '';
          return [`${run} ${model}`, head!, ...sizes.map((s) => fmt(r.learningCurve.find((p) => String(p.run) === run && p.head === head && p.labels === s)?.spearman.mean ?? null))];
        }),
      ),
    );
  }
  if (r.cleaning) {
    const c = r.cleaning;
    out.push('');
    out.push(`Cleaning: ${c.excluded} of ${r.images} labelled images excluded (${c.sources.map((s) => `${s.source}: ${s.images}`).join('; ')}). Spearman on the same test folds:`);
    out.push(
      table(
        ['embedding run', 'head', 'trained on', 'all test', 'clean test', 'excluded test'],
        c.results.flatMap((x) =>
          (['trainedOnAll', 'trainedOnClean'] as const).map((which) => [
            `${x.run} ${x.model}`,
            x.head,
            which === 'trainedOnAll' ? 'all' : 'clean',
            interval(x[which].allTest.spearman),
            interval(x[which].cleanTest.spearman),
            interval(x[which].excludedTest.spearman),
          ]),
        ),
      ),
    );
  }
  if (r.disagreements.length) {
    out.push('');
    out.push(`Images the backbones disagree on most (${r.heads[0]} head's out-of-fold predictions; target, then per run):`);
    for (const d of r.disagreements.slice(0, 10)) {
      out.push(`  ${d.path}  target ${fmt(d.target, 2)}  ${Object.entries(d.predictions).map(([run, v]) => `run ${run}: ${fmt(v, 2)}`).join(', ')}`);
    }
  }
  const stored = r.backbones.flatMap((b) => b.heads.map((h) => h.analysisId)).filter((id) => id !== null);
  if (stored.length) out.push(`\nStored the out-of-fold predictions as probe analyses ${stored.join(', ')}.`);
  for (const note of r.notes) out.push(`Note: ${note}`);
  return out.join('\n');
}

interface ProbeLabelsCliOptions {
  db: string;
  embeddings: string[];
  target: string;
  heads?: ProbeHeadName[];
  folds: number;
  seed: number;
  learningCurve?: number[];
  excludeTag?: string[];
  excludeAnalysis?: number[];
  excludeTop?: number;
  alpha: number | 'auto';
  l2: number;
  k: number;
  disagreements: number;
  json?: boolean;
}

export function registerProbeLabels(program: Command): void {
  program
    .command('probe-labels')
    .description('Which embedding predicts the human labels best: ridge, logistic, ordinal and kNN probes with k-fold cross-validation, learning curves and the cleaning experiment.')
    .requiredOption('--db <path>', 'library database file')
    .requiredOption('--embeddings <runs>', 'embedding runs to compare: run ids or model names, comma-separated', list)
    .option('--target <target>', 'consensus (mean rating), rater:NAME (one rater\'s ratings) or cluster:GROUP (mean of a rater group)', 'consensus')
    .option('--heads <list>', `probe heads, comma-separated: ${PROBE_HEADS.join(',')} (default all; the first one ranks the disagreements)`, headsOption)
    .option('--folds <n>', 'cross-validation folds', positiveInt('--folds'), 5)
    .option('--seed <n>', 'seed of the folds and subsamples', wholeNumber('--seed'), 1)
    .option('--learning-curve <counts>', 'label counts to subsample the training folds to, e.g. 50,100,200', countsOption('--learning-curve'))
    .option('--exclude-tag <tags>', 'cleaning experiment: also train without images carrying these tags, e.g. outlier,exclude', list)
    .option('--exclude-analysis <ids>', 'cleaning experiment: also train without images flagged by these stored analyses (0/1 values, or see --exclude-top)', countsOption('--exclude-analysis'))
    .option('--exclude-top <fraction>', 'for --exclude-analysis results holding scores: exclude this fraction of highest-scoring images', fractionOption)
    .option('--alpha <x>', 'ridge penalty on standardised features, or auto (inner 3-fold cross-validation per training fold)', positiveOrAuto('--alpha'), 'auto' as number | 'auto')
    .option('--l2 <x>', 'L2 penalty of the logistic and ordinal heads (scikit-learn\'s 1/C)', positiveNumber('--l2'), 1)
    .option('--k <n>', 'neighbours of the kNN head', positiveInt('--k'), 10)
    .option('--disagreements <n>', 'how many most-disputed images to list', wholeNumber('--disagreements'), 20)
    .option('--json', 'print JSON')
    .action((opts: ProbeLabelsCliOptions) => {
      if (opts.folds < 2) throw new Error('--folds must be at least 2.');
      if (opts.excludeTop !== undefined && !opts.excludeAnalysis?.length) throw new Error('--exclude-top applies to --exclude-analysis; name the analysis too.');
      const db = openDb(opts.db, 'existing');
      try {
        const result = probeLabels(db, {
          embeddings: opts.embeddings,
          target: opts.target,
          heads: opts.heads,
          folds: opts.folds,
          seed: opts.seed,
          learningCurve: opts.learningCurve,
          exclude: { tags: opts.excludeTag, analyses: opts.excludeAnalysis, top: opts.excludeTop },
          alpha: opts.alpha,
          l2: opts.l2,
          k: opts.k,
          disagreements: Math.max(0, opts.disagreements),
        });
        if (opts.json) printJson(result);
        else console.log(formatProbeLabels(result));
      } finally {
        db.close();
      }
    });
}
