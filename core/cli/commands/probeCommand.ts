import type { Command } from 'commander';
import {
  DEFAULT_PROBE_BATCH,
  DEFAULT_PROBE_SAMPLE,
  DEFAULT_PROBE_SEED,
  TRANSFORMS,
  TRANSFORM_NAMES,
  parseStrengthOptions,
  parseTransformList,
  probeSensitivity,
  type ProbeReport,
} from '../../explain/sensitivityProbe.js';
import { parseFilter } from '../../library/queryImages.js';
import type { ProviderChoice } from '../../models/executionProviders.js';
import { throttleProgress } from '../../jobs/progress.js';
import { terminalProgress } from '../progressBar.js';
import { collect, interruptible, openDb, positiveInt, printJson, wholeNumber } from '../options.js';

const HELP = `
Transforms (applied to the decoded original, EXIF orientation applied; L = Rec. 601 luma):
${TRANSFORM_NAMES.map((name) => `  ${name.padEnd(14)} ${TRANSFORMS[name].unit}\n${' '.repeat(17)}default strengths ${TRANSFORMS[name].defaults.join(',')}`).join('\n')}

--strengths NAME=S1,S2,... sets one transform's strengths (repeat for others); a plain S1,S2,... list works
when one transform is probed. Each perturbed image goes through the card's preprocessing and is scored with
the card's score (the expected value for ordinal outputs). Per strength: the mean score, the mean paired change
(perturbed - unperturbed score of the same image), its standard error (sd / sqrt(n)) and n. Identity strengths
are the unperturbed image: change 0.

--json prints {"model", "ep", "fallbackReasons", "score": {"output", "kind"},
  "sample": {"requested", "used", "available", "seed"}, "baseline": {"mean", "stderr", "n"},
  "transforms": [{"name", "unit", "strengths": [{"strength", "identity", "meanScore", "meanChange", "stderr", "n"}]}],
  "failed": [{"path", "transform", "strength", "error"}], "notes": [...], "interrupted", "batchSize", "seconds"}
(transform and strength are null when an image failed before any transform, e.g. it cannot be decoded).`;

interface ProbeCliOptions {
  db: string;
  model: string;
  transforms?: string;
  strengths: string[];
  sample: number;
  seed: number;
  filter: string[];
  ep: ProviderChoice;
  batch: number;
  json?: boolean;
}

export function registerProbe(program: Command): void {
  program
    .command('probe')
    .description('Sensitivity probes: mean score change per strength of controlled perturbations (saturation, blur, patch shuffle, ...).')
    .requiredOption('--db <path>', 'library database file')
    .requiredOption('--model <name>', 'a model added with `miru models add`')
    .option('--transforms <list>', `comma-separated, from ${TRANSFORM_NAMES.join(',')} (default: all)`)
    .option('--strengths <spec>', 'NAME=S1,S2,... (repeatable), or S1,S2,... with one transform', collect, [])
    .option('--sample <k>', 'images in the seeded sample (all when the library has fewer)', positiveInt('--sample'), DEFAULT_PROBE_SAMPLE)
    .option('--seed <n>', 'seed of the sample and the patch shuffles', wholeNumber('--seed'), DEFAULT_PROBE_SEED)
    .option('--filter <expr>', 'only sample images matching this filter (as `miru list`; repeatable)', collect, [])
    .option('--ep <provider>', 'execution provider: auto | cuda | webgpu | dml | coreml | cpu', 'auto')
    .option('--batch <n>', 'tensors per inference batch (halves itself on out-of-memory)', positiveInt('--batch'), DEFAULT_PROBE_BATCH)
    .option('--json', 'print the report as JSON (shape below)')
    .addHelpText('after', HELP)
    .action(async (opts: ProbeCliOptions) => {
      const transforms = opts.transforms === undefined ? undefined : parseTransformList(opts.transforms);
      const strengths = parseStrengthOptions(opts.strengths, transforms ?? TRANSFORM_NAMES);
      const filters = opts.filter.map(parseFilter);
      const db = openDb(opts.db, 'existing');
      const bar = terminalProgress();
      const stop = interruptible();
      try {
        const report = await probeSensitivity(db, opts.model, {
          transforms,
          strengths,
          sample: opts.sample,
          seed: opts.seed,
          filters,
          ep: opts.ep,
          batch: opts.batch,
          onProgress: throttleProgress(bar.listener),
          signal: stop.signal,
        });
        bar.stop();
        if (opts.json) printJson(report);
        else console.log(formatProbeReport(report));
      } finally {
        stop.dispose();
        bar.stop();
        db.close();
      }
    });
}

/** The report as a text table: one row per transform and strength. */
export function formatProbeReport(report: ProbeReport): string {
  const num = (v: number | null, digits = 4) => (v === null ? '-' : v.toFixed(digits));
  const signed = (v: number | null) => (v === null ? '-' : `${v >= 0 ? '+' : ''}${v.toFixed(4)}`);
  const lines = [
    `Probe of ${report.model} on ${report.ep}: ${report.sample.used} images (seed ${report.sample.seed}), ` +
      `unperturbed mean score ${num(report.baseline.mean)} ± ${num(report.baseline.stderr)} (n ${report.baseline.n}), ${report.seconds} s.`,
  ];
  for (const note of report.notes) lines.push(`Note: ${note}`);
  const header = ['transform', 'strength', 'mean score', 'change', '± s.e.', 'n'];
  const rows = report.transforms.flatMap((t) =>
    t.strengths.map((s, i) => [i === 0 ? t.name : '', `${s.strength}${s.identity ? ' (id)' : ''}`, num(s.meanScore), signed(s.meanChange), num(s.stderr), String(s.n)]),
  );
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) => cells.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ');
  lines.push(line(header));
  for (const row of rows) lines.push(line(row));
  if (report.failed.length) {
    lines.push(`${report.failed.length} failed:`);
    for (const f of report.failed.slice(0, 10)) lines.push(`  ${f.path}${f.transform ? ` (${f.transform} ${f.strength})` : ''}: ${f.error}`);
    if (report.failed.length > 10) lines.push(`  ... and ${report.failed.length - 10} more (--json lists all)`);
  }
  if (report.interrupted) lines.push('Interrupted: the results cover the images finished before Ctrl-C.');
  return lines.join('\n');
}
