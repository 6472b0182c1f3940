import type { Command } from 'commander';
import { exportTable, exportTableToFile, type ExportFormat, type ExportWhat } from '../../library/exportTable.js';
import { openDb } from '../options.js';

export function registerExport(program: Command): void {
  program
    .command('export')
    .description('Export images, ratings or tags as CSV or JSON Lines.')
    .requiredOption('--db <path>', 'library database file')
    .requiredOption('--what <table>', 'images | ratings | tags')
    .option('--format <format>', 'csv | jsonl', 'csv')
    .option('--out <file>', 'write to a file instead of standard output')
    .action(async (opts: { db: string; what: ExportWhat; format: ExportFormat; out?: string }) => {
      const db = openDb(opts.db, 'existing');
      try {
        if (opts.out) {
          const rows = await exportTableToFile(db, opts.what, opts.format, opts.out);
          console.error(`Wrote ${rows} ${opts.what} rows to ${opts.out}.`);
        } else await exportTable(db, opts.what, opts.format, process.stdout);
      } finally {
        db.close();
      }
    });
}
