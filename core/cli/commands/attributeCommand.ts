import type { Command } from 'commander';
import { attributeFeatures, type AttributionResult, type AttributionTarget } from '../../analysis/featureAttribution.js';
import { parseFilter } from '../../library/queryImages.js';
import { collect, openDb, positiveInt, printJson, wholeNumber } from '../options.js';

interface AttributeOptions {
  db: string;
  model?: string;
  ratings?: boolean;
  rater?: string;
  raterGroup?: string;
  minRatings: number;
  features?: string[];
  truth?: string;
  filter?: string[];
  seed: number;
  folds: number;
  repeats: number;
  trees: number;
  depth: number;
  pd: number;
  maxRows: number;
  json?: boolean;
}

function chooseTarget(opts: AttributeOptions): AttributionTarget {
  const wantsRatings = opts.ratings || opts.rater !== undefined || opts.raterGroup !== undefined;
  if (opts.model !== undefined && wantsRatings) throw new Error('Explain either a model (--model N) or ratings (--ratings [--rater R | --rater-group G]), not both.');
  if (opts.model === undefined && !wantsRatings) throw new Error('Say what to explain: --model N (its latest score run) or --ratings [--rater R | --rater-group G].');
  if (opts.rater !== undefined && opts.raterGroup !== undefined) throw new Error('Name either --rater or --rater-group, not both.');
  if (opts.model !== undefined) return { kind: 'model', model: opts.model };
  return { kind: 'ratings', rater: opts.rater, group: opts.raterGroup, minRatings: opts.minRatings };
}

const SPARKS = '▁▂▃▄▅▆▇█';

function sparkline(values: number[]): string {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return values.map((v) => SPARKS[hi > lo ? Math.round(((v - lo) / (hi - lo)) * (SPARKS.length - 1)) : 0]).join('');
}

function num(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e5 || abs < 1e-3)) return value.toExponential(2);
  return value.toFixed(digits);
}

function signed(value: number, digits = 3): string {
  return `${value >= 0 ? '+' : ''}${num(value, digits)}`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) => `  ${cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')}`.trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function formatAttribution(result: AttributionResult): string {
  const out: string[] = [];
  const t = result.target;
  out.push(`Attribution of ${t.label}: ${result.n} images, ${result.features.length} features (seed ${result.seed}).`);
  out.push(`Target: mean ${num(t.mean)}, sd ${num(t.sd)}, range ${num(t.min)} to ${num(t.max)}.`);
  const lin = result.linear;
  out.push('');
  out.push(`Linear model (standardized OLS, features and target z-scored): R^2 ${num(lin.r2)} (adjusted ${num(lin.adjustedR2)}), ${lin.dof} residual dof.`);
  const level = `${Math.round(lin.level * 100)}% CI`;
  out.push(
    table(
      ['feature', 'beta', level, 'per unit', 'r', 'VIF'],
      lin.coefficients.map((c) => [c.feature, signed(c.beta), `[${signed(c.ciLow)}, ${signed(c.ciHigh)}]`, signed(c.perUnit), signed(c.correlation, 2), num(c.vif, 2)]),
    ),
  );
  out.push('  beta: target sd per feature sd with the other features fixed; per unit: target units per feature unit; r: correlation alone.');
  const nl = result.nonlinear;
  if (nl) {
    out.push('');
    out.push(
      `Boosted trees (${nl.model.trees} trees, depth ${nl.model.maxDepth}, ${nl.folds}-fold cross-fitted on ${nl.rows} images): held-out R^2 ${num(nl.heldOutR2)}.`,
    );
    out.push(`Permutation importance: drop in held-out R^2 when the feature is shuffled, mean over ${nl.repeats} repeats.`);
    out.push(table(['feature', 'importance', 'sd', 'min', 'max'], nl.importance.map((i) => [i.feature, num(i.importance), num(i.sd), num(i.min), num(i.max)])));
  }
  if (result.partialDependence.length) {
    out.push('');
    out.push(`Partial dependence (mean prediction of the boosted model, feature at its 5%..95% quantiles):`);
    out.push(
      table(
        ['feature', 'effect', 'curve', 'x from..to', 'prediction from..to'],
        result.partialDependence.map((c) => {
          const first = c.points[0]!;
          const last = c.points[c.points.length - 1]!;
          return [c.feature, num(c.effect), sparkline(c.points.map((p) => p.y)), `${num(first.x)}..${num(last.x)}`, `${num(first.y)}..${num(last.y)}`];
        }),
      ),
    );
  }
  if (result.notes.length) {
    out.push('');
    for (const note of result.notes) out.push(`Note: ${note}`);
  }
  return out.join('\n');
}

export function registerAttribute(program: Command): void {
  program
    .command('attribute')
    .description('Which interpretable features (image statistics, resolution, any numeric field) explain model scores or human ratings.')
    .requiredOption('--db <path>', 'library database file')
    .option('--model <name>', 'explain the latest score run of this model')
    .option('--ratings', 'explain the mean rating per image (all raters, or --rater / --rater-group)')
    .option('--rater <name>', 'only this rater\'s ratings')
    .option('--rater-group <name>', 'the mean rating of this group\'s raters (see `miru raters groups`)')
    .option('--min-ratings <n>', 'leave out images with fewer ratings from the chosen raters', positiveInt('--min-ratings'), 1)
    .option('--features <list>', 'comma-separated features (repeatable): image fields such as brightness,sharpness,megapixels,width; with --truth, truth (all) or truth.<attribute>', (v: string, prev: string[] = []) => [...prev, ...v.split(',')])
    .option('--truth <file>', 'a synth dataset\'s truth.json (or its folder): its attributes become features truth.<name>, matched by file name')
    .option('--filter <expr>', 'only images matching (repeatable; as in `miru list`)', collect)
    .option('--seed <n>', 'seed of folds, subsamples and shuffles', wholeNumber('--seed'), 1)
    .option('--folds <n>', 'cross-fitting folds of the boosted model', positiveInt('--folds'), 5)
    .option('--repeats <n>', 'shuffles per feature for permutation importance', positiveInt('--repeats'), 5)
    .option('--trees <n>', 'boosting rounds', positiveInt('--trees'), 200)
    .option('--depth <n>', 'depth of each tree', positiveInt('--depth'), 3)
    .option('--pd <n>', 'partial-dependence curves for this many top features', wholeNumber('--pd'), 3)
    .option('--max-rows <n>', 'images the boosted model uses at most (a seeded sample; the linear model uses all)', positiveInt('--max-rows'), 20_000)
    .option('--json', 'print the full result as JSON')
    .action(async (opts: AttributeOptions) => {
      const target = chooseTarget(opts);
      if (opts.folds < 2) throw new Error('--folds must be at least 2.');
      const filters = (opts.filter ?? []).map(parseFilter);
      const db = openDb(opts.db, 'existing');
      try {
        const result = await attributeFeatures(db, {
          target,
          features: opts.features,
          truth: opts.truth,
          filters,
          seed: opts.seed,
          folds: opts.folds,
          repeats: opts.repeats,
          pdFeatures: Math.max(0, opts.pd),
          maxRows: opts.maxRows,
          boosting: { trees: opts.trees, maxDepth: opts.depth },
        });
        if (opts.json) printJson(result);
        else console.log(formatAttribution(result));
      } finally {
        db.close();
      }
    });
}
