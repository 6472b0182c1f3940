import type { Command } from 'commander';
import { importRatings, parseScale } from '../../library/ratingsImport.js';
import { openDb, printJson } from '../options.js';

export function registerRatings(program: Command): void {
  const ratings = program.command('ratings').description('Human ratings');
  ratings
    .command('import')
    .description('Import ratings from CSV or JSON Lines (fields: image, rater, score, optional time).')
    .argument('<file>', '.csv with a header row, or .jsonl with one object per line')
    .requiredOption('--db <path>', 'library database file')
    .option('--scale <min:max>', 'valid score range, e.g. 1:5 (remembered by the library)')
    .option('--json', 'print one JSON summary instead of text')
    .action(async (file: string, opts: { db: string; scale?: string; json?: boolean }) => {
      const scale = opts.scale ? parseScale(opts.scale) : undefined;
      const db = openDb(opts.db, 'existing');
      try {
        const summary = await importRatings(db, file, { scale });
        if (opts.json) {
          printJson(summary);
          return;
        }
        console.log(`Imported ${summary.imported} ratings, replaced ${summary.replaced}, ${summary.unchanged} unchanged, rejected ${summary.rejected.length} rows.`);
        if (summary.replaced) console.log(`  ${summary.replaced} earlier ratings were replaced by a new value from the same rater.`);
        for (const d of summary.duplicatesInFile.slice(0, 10)) console.log(`  line ${d.line}: superseded by line ${d.supersededBy} (same image and rater)`);
        for (const r of summary.rejected.slice(0, 20)) console.log(`  line ${r.line}: ${r.error}`);
        if (summary.rejected.length > 20) console.log(`  ... and ${summary.rejected.length - 20} more (use --json for the full list)`);
      } finally {
        db.close();
      }
    });
}
