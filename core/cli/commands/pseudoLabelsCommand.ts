import type { Command } from 'commander';
import { cacheDirFor } from '../../library/openLibrary.js';
import { knnCacheDir } from '../../analysis/knnIndex.js';
import { PROPAGATION_DEFAULTS, type PropagationAffinity } from '../../analysis/labelPropagation.js';
import { PSEUDO_LABEL_DEFAULTS, pseudoLabelLibrary, type PseudoLabelMethod, type PseudoLabelReport } from '../../analysis/pseudoLabels.js';
import { finiteNumber, openDb, printJson, positiveInt, wholeNumber } from '../options.js';

const HELP = `
Labelled images are the rated ones; each one's class is its mean rating rounded to the nearest class of the
rating scale (halves round up). With --method propagation the labels spread over the cosine k-nearest-neighbour
graph of the embedding run (label spreading, Zhou et al. 2004, solved by conjugate gradient; affinity
max(0, cos)^gamma as in Iscen et al. 2019, or 1 with --affinity connectivity), giving every unrated image a class,
a distribution and a confidence (its largest share). With --method threshold a model's stored class
probabilities are the predictions, and only those whose largest probability reaches --threshold are kept.

First a held-out check: --holdout of the labelled images of each class are hidden, pseudo-labelled the same way
and compared with their real class (accuracy, mean absolute error, quadratic weighted kappa), with the share of
them whose confidence reaches --threshold (coverage). Then every unrated image is pseudo-labelled and the result
is stored (kind pseudo-labels; export it with \`miru export --what pseudo-labels\`).

--json prints {"method", "analysisId", "classes", "scale", "scaleSource", "embeddingRun", "model", "scoreRun",
  "params", "threshold", "labelled", "candidates", "pseudoLabelled", "unreachable", "belowThreshold",
  "perClass": [{"class", "labelled", "pseudoLabelled"}],
  "holdout": {"fraction", "seed", "hidden", "evaluated", "accuracy", "mae", "qwk", "threshold", "coverage",
              "coveredAccuracy"} | null,
  "propagation": {"iterations", "residual"} | null, "notes": [...], "seconds"}`;

interface PseudoLabelCliOptions {
  db: string;
  embedding?: string;
  method: PseudoLabelMethod;
  k: number;
  alpha: number;
  affinity: PropagationAffinity;
  gamma: number;
  balanced?: boolean;
  threshold: number;
  model?: string;
  holdout: number;
  seed: number;
  json?: boolean;
}

export function registerPseudoLabels(program: Command): void {
  program
    .command('pseudo-labels')
    .description('Pseudo-labels for unrated images by label propagation on embeddings or confident model predictions, with a held-out check.')
    .requiredOption('--db <path>', 'library database file')
    .option('--embedding <run>', 'propagation: embedding run id or embedding model name (see `miru embed`)')
    .option('--method <method>', 'propagation | threshold', PSEUDO_LABEL_DEFAULTS.method)
    .option('--k <n>', 'neighbours per image in the kNN graph', positiveInt('--k'), PSEUDO_LABEL_DEFAULTS.k)
    .option('--alpha <a>', 'propagation: weight of the graph against the given labels, in (0, 1)', finiteNumber('--alpha'), PROPAGATION_DEFAULTS.alpha)
    .option('--affinity <kind>', 'propagation: similarity (max(0, cos)^gamma) | connectivity (1 per neighbour)', PROPAGATION_DEFAULTS.affinity)
    .option('--gamma <g>', 'propagation: exponent of the cosine similarity', finiteNumber('--gamma'), PROPAGATION_DEFAULTS.gamma)
    .option('--balanced', 'propagation: weigh each class\'s labels by 1 / its count (Iscen et al.)')
    .option('--threshold <p>', 'least confidence kept (threshold) or counted as covered (propagation), in (0, 1]', finiteNumber('--threshold'), PSEUDO_LABEL_DEFAULTS.threshold)
    .option('--model <name>', 'threshold: the model whose class probabilities are the predictions')
    .option('--holdout <fraction>', 'labelled images hidden per class for the check, in [0, 1); 0 skips it', finiteNumber('--holdout'), PSEUDO_LABEL_DEFAULTS.holdout)
    .option('--seed <n>', 'seed of the held-out sample', wholeNumber('--seed'), PSEUDO_LABEL_DEFAULTS.seed)
    .option('--json', 'print the report as JSON (shape below)')
    .addHelpText('after', HELP)
    .action(async (opts: PseudoLabelCliOptions) => {
      const db = openDb(opts.db, 'existing');
      try {
        const report = await pseudoLabelLibrary(db, {
          method: opts.method,
          embedding: opts.embedding,
          model: opts.model,
          k: opts.k,
          alpha: opts.alpha,
          affinity: opts.affinity,
          gamma: opts.gamma,
          balanced: opts.balanced ?? false,
          threshold: opts.threshold,
          holdout: opts.holdout,
          seed: opts.seed,
          cacheDir: knnCacheDir(cacheDirFor(opts.db)),
        });
        if (opts.json) printJson(report);
        else console.log(formatPseudoLabelReport(report));
      } finally {
        db.close();
      }
    });
}

export function formatPseudoLabelReport(r: PseudoLabelReport): string {
  const pct = (v: number | null) => (v === null ? '-' : `${(100 * v).toFixed(1)}%`);
  const num = (v: number | null) => (v === null ? '-' : v.toFixed(3));
  const source = r.method === 'propagation' ? `embedding run ${r.embeddingRun} (${r.model})` : `${r.model}'s score run ${r.scoreRun}`;
  const lines = [
    `Pseudo-labels by ${r.method} from ${source}, scale ${r.scale}${r.scaleSource === 'observed' ? ' (the range the ratings use; none stored)' : ''}: ` +
      `${r.labelled} labelled images, ${r.pseudoLabelled} of ${r.candidates} unrated images labelled (analysis ${r.analysisId}, ${r.seconds} s).`,
  ];
  if (r.method === 'threshold') lines.push(`${r.belowThreshold} unrated images stayed below the threshold ${r.threshold}.`);
  else {
    if (r.unreachable) lines.push(`${r.unreachable} unrated images are not connected to any rated image in the graph and got no label.`);
    lines.push(`${r.belowThreshold} pseudo-labels have confidence below ${r.threshold}; conjugate gradient took ${r.propagation!.iterations} iterations.`);
  }
  if (r.holdout) {
    const h = r.holdout;
    lines.push(
      `Held-out check (${h.hidden} labels hidden, seed ${h.seed}): accuracy ${pct(h.accuracy)}, MAE ${num(h.mae)}, QWK ${num(h.qwk)}; ` +
        `coverage at ${h.threshold} ${pct(h.coverage)} with accuracy ${pct(h.coveredAccuracy)}.`,
    );
  }
  lines.push(`class  labelled  pseudo-labelled`);
  for (const c of r.perClass) lines.push(`${String(c.class).padStart(5)}  ${String(c.labelled).padStart(8)}  ${String(c.pseudoLabelled).padStart(15)}`);
  for (const note of r.notes) lines.push(`Note: ${note}`);
  return lines.join('\n');
}
