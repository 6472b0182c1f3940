import type { Command } from 'commander';
import { createWriteStream, renameSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { checkExportFormat, exportTable, writeRows, type ExportFormat, type ExportWhat } from '../../library/exportTable.js';
import { coverageWarning, exportScores } from '../../models/exportScores.js';
import { ANALYSIS_EXPORTS, analysisExportTable, isAnalysisExport, staleSourceWarnings, type AnalysisExportOptions } from '../../analysis/analysisExport.js';
import { finiteNumber, openDb, positiveInt } from '../options.js';

const TABLES: readonly ExportWhat[] = ['images', 'ratings', 'tags'];
const WHATS = [...TABLES, 'scores', ...ANALYSIS_EXPORTS] as const;

const HELP = `
Tables: images, ratings (re-importable by \`miru ratings import\`), tags, scores (--model NAME: its latest score run).
Analyses, one row per image with id, path, hash and then:
  soft-labels    ratings, expected, p_<class>...: the share of the image's ratings in each class of the rating
                 scale (--smoothing A adds A to every class count), or with --model NAME its class probabilities
                 (--temperature T: softmax(log p / T); --top-k K: the K most likely classes, renormalised).
                 Computed now from the current data and stored (kind soft-labels).
  pseudo-labels  label, confidence, certainty (1 - entropy / log classes), p_<class>...: the newest
                 \`miru pseudo-labels\` result (or --analysis ID); images it could not label have empty fields.
  consensus      consensus (and quality, p_<class>... for CROWDLAB): the newest \`miru raters\` consensus.
  rater-labels   one row per rating: rater, rater_group, label, time.
  issues         label_issue, image_issue, outlier (and their extra columns): the newest stored label-issues,
                 image-issues and outliers analyses, one row per image found in any of them.
Parquet keeps column types (ids INT64, shares FLOAT); it is binary, so name a file with --out.`;

interface ExportCliOptions {
  db: string;
  what: string;
  model?: string;
  smoothing?: number;
  temperature?: number;
  topK?: number;
  analysis?: number;
  format: string;
  out?: string;
}

/** Checks everything that needs no library, so a bad command line creates no file and opens nothing. */
function checkCommandLine(opts: ExportCliOptions): ExportFormat {
  if (!(WHATS as readonly string[]).includes(opts.what)) throw new Error(`--what must be one of ${WHATS.join(', ')} (got ${JSON.stringify(opts.what)}).`);
  const format = checkExportFormat(opts.format);
  if (opts.what === 'scores') {
    if (!opts.model) throw new Error('--what scores needs --model NAME.');
    if (format === 'parquet') throw new Error('--what scores exports csv or jsonl; Parquet is for the other tables and the analyses.');
  }
  if (!isAnalysisExport(opts.what)) {
    const misplaced = (['smoothing', 'temperature', 'topK', 'analysis'] as const).filter((k) => opts[k] !== undefined);
    if (misplaced.length) throw new Error(`${misplaced.map((k) => (k === 'topK' ? '--top-k' : `--${k}`)).join(', ')} only appl${misplaced.length > 1 ? 'y' : 'ies'} to the analysis exports (${ANALYSIS_EXPORTS.join(', ')}).`);
  }
  if (format === 'parquet' && !opts.out && process.stdout.isTTY) throw new Error('Parquet is binary: name a file with --out FILE (or pipe standard output).');
  return format;
}

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('Export images, ratings, tags, scores or analyses (soft labels, pseudo-labels, consensus, per-rater labels, issues) as CSV, JSON Lines or Parquet.')
    .requiredOption('--db <path>', 'library database file')
    .requiredOption('--what <table>', WHATS.join(' | '))
    .option('--model <name>', 'with --what scores: the model whose latest score run to export; with soft-labels: use its class probabilities')
    .option('--smoothing <a>', 'soft-labels from ratings: add a to every class count (1 = Laplace)', finiteNumber('--smoothing'))
    .option('--temperature <t>', 'soft-labels from --model: softmax(log p / t)', finiteNumber('--temperature'))
    .option('--top-k <k>', 'soft-labels from --model: keep the k most likely classes', positiveInt('--top-k'))
    .option('--analysis <id>', 'pseudo-labels, consensus: export this stored analysis instead of the newest', positiveInt('--analysis'))
    .option('--format <format>', 'csv | jsonl | parquet', 'csv')
    .option('--out <file>', 'write to a file instead of standard output')
    .addHelpText('after', HELP)
    .action(async (opts: ExportCliOptions) => {
      const format = checkCommandLine(opts);
      const db = openDb(opts.db, 'existing');
      try {
        // Analysis rows are prepared (and their options and stored inputs checked) before any output is opened.
        const analysisOptions: AnalysisExportOptions = { model: opts.model, smoothing: opts.smoothing, temperature: opts.temperature, topK: opts.topK, analysisId: opts.analysis };
        const table = isAnalysisExport(opts.what) ? analysisExportTable(db, opts.what, analysisOptions) : null;
        if (table) for (const warning of staleSourceWarnings(db, table)) console.error(warning);
        const write = async (out: Writable): Promise<number> => {
          if (table) return writeRows(table.columns, table.rows, format, out);
          if (opts.what !== 'scores') return exportTable(db, opts.what as ExportWhat, format, out);
          const coverage = await exportScores(db, opts.model!, format, out);
          const warning = coverageWarning(coverage, opts.model!);
          if (warning) console.error(warning);
          return coverage.rows;
        };
        if (!opts.out) {
          await write(process.stdout);
          return;
        }
        // Written beside the target and renamed at the end, so a failed export never leaves a truncated file
        // under the name a later step will read.
        const partial = `${opts.out}.${process.pid}.partial`;
        const out = createWriteStream(partial);
        try {
          await once(out, 'open');
        } catch (error) {
          throw new Error(`Cannot write ${opts.out}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'its folder does not exist' : (error as Error).message}.`);
        }
        try {
          const rows = await write(out);
          out.end();
          await once(out, 'finish');
          renameSync(partial, opts.out);
          const from = table?.sources.map((s) => `${s.kind} analysis ${s.id} of ${s.createdAt}`).join(', ');
          console.error(`Wrote ${rows} ${opts.what} rows to ${opts.out}${from ? ` (from ${from})` : ''}.`);
        } catch (error) {
          out.destroy();
          rmSync(partial, { force: true });
          throw error;
        }
      } finally {
        db.close();
      }
    });
}
