import type { Command } from 'commander';
import { parseFilter, parseListSort, queryImages, MAX_PAGE_SIZE } from '../../library/queryImages.js';
import { collect, openDb, positiveInt, printJson } from '../options.js';

export function registerList(program: Command): void {
  program
    .command('list')
    .description('List images with filters, a sort and keyset paging.')
    .requiredOption('--db <path>', 'library database file')
    .option('--filter <expr>', 'repeatable: brightness>=0.5, ratingMean=3..5, ratingCount>=2, tag=outlier, tag!=exclude, rater=alice, path~cats, status=error', collect, [])
    .option('--sort <field>', 'sort by a numeric field or score:<model>, -field for descending (default id)', 'id')
    .option('--limit <n>', `page size, at most ${MAX_PAGE_SIZE}`, positiveInt('--limit'), 50)
    .option('--after <cursor>', 'the "next" cursor of the previous page')
    .option('--json', 'print {"items": [...], "next": cursor|null}')
    .action((opts: { db: string; filter: string[]; sort: string; limit: number; after?: string; json?: boolean }) => {
      const filters = opts.filter.map(parseFilter);
      const sort = parseListSort(opts.sort);
      const db = openDb(opts.db, 'existing');
      try {
        const page = queryImages(db, { filters, sort, limit: opts.limit, after: opts.after });
        if (opts.json) {
          printJson(page);
          return;
        }
        for (const item of page.items) {
          const rating = item.ratingMean === null ? '   -' : item.ratingMean.toFixed(2);
          console.log(`${String(item.id).padStart(8)}  ${rating} (${item.ratingCount})  ${item.relPath}${item.tags.length ? `  [${item.tags.join(', ')}]` : ''}${item.error ? `  error: ${item.error}` : ''}`);
        }
        if (page.items.length === 0) console.log('No images match.');
        if (page.next) console.log(`next page: --after ${page.next}`);
      } finally {
        db.close();
      }
    });
}
