import type { Command } from 'commander';
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { exportTable, type ExportFormat, type ExportWhat } from '../../library/exportTable.js';
import { exportScores } from '../../models/exportScores.js';
import { openDb } from '../options.js';

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('Export images, ratings or tags as CSV or JSON Lines.')
    .requiredOption('--db <path>', 'library database file')
    .requiredOption('--what <table>', 'images | ratings | tags | scores')
    .option('--model <name>', 'with --what scores: the model whose latest score run to export')
    .option('--format <format>', 'csv | jsonl', 'csv')
    .option('--out <file>', 'write to a file instead of standard output')
    .action(async (opts: { db: string; what: ExportWhat | 'scores'; model?: string; format: ExportFormat; out?: string }) => {
      if (opts.what === 'scores' && !opts.model) throw new Error('--what scores needs --model NAME.');
      const db = openDb(opts.db, 'existing');
      const out = opts.out ? createWriteStream(opts.out) : process.stdout;
      try {
        const rows = opts.what === 'scores' ? await exportScores(db, opts.model!, opts.format, out) : await exportTable(db, opts.what, opts.format, out);
        if (opts.out) {
          (out as WriteStream).end();
          await once(out, 'finish');
          console.error(`Wrote ${rows} ${opts.what} rows to ${opts.out}.`);
        }
      } finally {
        db.close();
      }
    });
}
