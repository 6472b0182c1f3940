import type { Command } from 'commander';
import { libraryInfo } from '../../library/libraryInfo.js';
import { openDb, printJson } from '../options.js';

export function registerInfo(program: Command): void {
  program
    .command('info')
    .description('Counts of images, errors, missing files, raters, ratings and tags.')
    .requiredOption('--db <path>', 'library database file')
    .option('--json', 'print JSON')
    .action((opts: { db: string; json?: boolean }) => {
      const db = openDb(opts.db, 'existing');
      try {
        const info = libraryInfo(db);
        if (opts.json) {
          printJson(info);
          return;
        }
        console.log(`images   ${info.images} (${info.errors} errors, ${info.missing} missing)`);
        console.log(`ratings  ${info.ratings} by ${info.raters} raters on ${info.ratedImages} images${info.ratingScale ? `, scale ${info.ratingScale}` : ''}`);
        console.log(`tags     ${info.tags} names on ${info.taggings} images`);
        for (const root of info.roots) console.log(`root     ${root}`);
      } finally {
        db.close();
      }
    });
}
